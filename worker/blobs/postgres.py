"""Blobs in Postgres (the default): chunk rows of `chunk_bytes`, one statement per chunk.

A put writes its chunks under a fresh content id and the `blobs` row last, in one
transaction: a worker killed midway leaves nothing behind, and when two workers store the
same bytes at once the second finds the row taken and rolls its copy back. A get reads one
chunk per query without holding a connection between chunks, so a slow reader (an upload to
OpenAI) does not pin a pool slot.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from uuid import uuid4

import asyncpg

from store import blob_rows
from worker.blobs.base import (
    DEFAULT_CHUNK_BYTES,
    BlobCorrupt,
    BlobNotFound,
    BlobRef,
    BlobStore,
    FileBlob,
    Hasher,
    rechunk,
)


class _AlreadyStored(Exception):
    """Raised inside the writing transaction to roll back a duplicate copy."""


class PostgresBlobStore(BlobStore):
    """Blobs as rows of `blobs` + `blob_chunks` in Ferry's database (migration 0006)."""

    def __init__(
        self, pool: asyncpg.Pool, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES, owns_pool: bool = False
    ) -> None:
        if chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be positive, not {chunk_bytes}")
        self._pool, self._chunk_bytes, self._owns_pool = pool, chunk_bytes, owns_pool

    async def put(self, chunks: AsyncIterable[bytes]) -> BlobRef:
        """Write the chunks in one transaction; an existing copy wins and ours rolls back."""
        hasher, content_id, seq = Hasher(), uuid4(), 0
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                async for chunk in rechunk(chunks, self._chunk_bytes):
                    hasher.update(chunk)
                    await blob_rows.insert_chunk(conn, content_id, seq, chunk)
                    seq += 1
                ref = hasher.ref()
                stored = await blob_rows.insert_blob(
                    conn, ref.sha256, ref.size, content_id, self._chunk_bytes, seq
                )
                if not stored:
                    raise _AlreadyStored
        except _AlreadyStored:
            pass
        return ref

    async def stat(self, sha256: str) -> BlobRef | None:
        row = await blob_rows.get_blob(self._pool, sha256)
        return BlobRef(row.sha256, row.size) if row else None

    async def _read(self, sha256: str) -> AsyncIterator[bytes]:
        row = await blob_rows.get_blob(self._pool, sha256)
        if row is None:
            raise BlobNotFound(sha256)
        for seq in range(row.chunks):
            chunk = await blob_rows.get_chunk(self._pool, row.content_id, seq)
            if chunk is None:
                raise BlobCorrupt(sha256, f"a blob missing chunk {seq}")
            yield chunk

    async def _link(self, link: FileBlob) -> None:
        await blob_rows.link_file(
            self._pool, link.file_id, link.profile, link.blob.sha256, link.filename, link.purpose
        )

    async def file_blob(self, file_id: str) -> FileBlob | None:
        row = await blob_rows.file_link(self._pool, file_id)
        if row is None:
            return None
        return FileBlob(
            row.file_id, row.profile, BlobRef(row.sha256, row.size), row.filename, row.purpose
        )

    async def aclose(self) -> None:
        if self._owns_pool:
            await self._pool.close()
