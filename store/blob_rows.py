"""Blob-store SQL: blobs as chunk rows, and the link from a remote file id to its blob.

The Postgres blob backend (`worker.blobs.postgres`) streams through these; `write_blob` keeps a
producer's upload (`ferry run -f FILE`, at most 10 MB; a clone's export file, at most 64 MiB)
in the same rows, and `read_blob` gives such an upload back whole to the job; `write_file`
keeps a local knowledge file (`ferry assistants apply`, up to 512 MB) read one chunk at a
time. Otherwise the bytes travel one chunk per statement, so no query holds a whole file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from store.registry import Database, connection


@dataclass(frozen=True)
class BlobRow:
    """A stored blob: its hash, size and where its chunks are."""

    sha256: str
    size: int
    content_id: UUID
    chunks: int


@dataclass(frozen=True)
class FileLinkRow:
    """A remote file whose bytes are the blob `sha256`."""

    file_id: str
    profile: str
    sha256: str
    size: int
    filename: str
    purpose: str


async def insert_chunk(conn: asyncpg.Connection, content_id: UUID, seq: int, data: bytes) -> None:
    """One chunk of a blob being written (inside the writer's transaction)."""
    await conn.execute(
        "INSERT INTO blob_chunks (content_id, seq, data) VALUES ($1, $2, $3)", content_id, seq, data
    )


async def insert_blob(
    conn: asyncpg.Connection,
    sha256: str,
    size: int,
    content_id: UUID,
    chunk_bytes: int,
    chunks: int,
) -> bool:
    """Record a written blob; False if those bytes were already stored (the writer rolls back)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO blobs (sha256, size, content_id, chunk_bytes, chunks)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (sha256) DO NOTHING
        RETURNING true
        """,
        sha256,
        size,
        content_id,
        chunk_bytes,
        chunks,
    )
    return bool(inserted)


async def get_blob(db: Database, sha256: str) -> BlobRow | None:
    """The blob with this hash, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            "SELECT sha256, size, content_id, chunks FROM blobs WHERE sha256 = $1", sha256
        )
    return BlobRow(**dict(row)) if row else None


async def get_chunk(db: Database, content_id: UUID, seq: int) -> bytes | None:
    """Chunk `seq` of a blob's content."""
    async with connection(db) as conn:
        return await conn.fetchval(
            "SELECT data FROM blob_chunks WHERE content_id = $1 AND seq = $2", content_id, seq
        )


async def link_file(
    db: Database, file_id: str, profile: str, sha256: str, filename: str, purpose: str
) -> None:
    """Say that remote file `file_id` holds blob `sha256` (a later link replaces it)."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO blob_files (file_id, profile, sha256, filename, purpose)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (file_id) DO UPDATE
            SET profile = EXCLUDED.profile, sha256 = EXCLUDED.sha256,
                filename = EXCLUDED.filename, purpose = EXCLUDED.purpose
            """,
            file_id,
            profile,
            sha256,
            filename,
            purpose,
        )


async def file_link(db: Database, file_id: str) -> FileLinkRow | None:
    """The blob that holds remote file `file_id`'s bytes, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            """
            SELECT f.file_id, f.profile, f.sha256, b.size, f.filename, f.purpose
            FROM blob_files f JOIN blobs b USING (sha256)
            WHERE f.file_id = $1
            """,
            file_id,
        )
    return FileLinkRow(**dict(row)) if row else None


async def read_blob(db: Database, sha256: str) -> bytes | None:
    """A whole blob's bytes (a producer's upload, read back by a job), or None.

    Only for small blobs kept by producers (an export file): large ones are streamed by the
    blob store, one chunk at a time.
    """
    row = await get_blob(db, sha256)
    if row is None:
        return None
    async with connection(db) as conn:
        pieces = await conn.fetch(
            "SELECT data FROM blob_chunks WHERE content_id = $1 ORDER BY seq", row.content_id
        )
    return b"".join(piece["data"] for piece in pieces)


async def write_blob(db: asyncpg.Pool, data: bytes, chunk_bytes: int) -> tuple[str, int]:
    """Keep `data` as a blob (a producer's upload, `postgres:` store); (sha256, size)."""
    sha256 = hashlib.sha256(data).hexdigest()
    if await get_blob(db, sha256) is not None:
        return sha256, len(data)
    content_id = uuid4()
    pieces = [data[i : i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]
    try:
        async with db.acquire() as conn, conn.transaction():
            for seq, piece in enumerate(pieces):
                await insert_chunk(conn, content_id, seq, piece)
            if not await insert_blob(conn, sha256, len(data), content_id, chunk_bytes, len(pieces)):
                raise _StoredMeanwhile  # another writer won: roll our copy back
    except _StoredMeanwhile:
        pass
    return sha256, len(data)


def file_sha256(path: Path, piece_bytes: int = 1024 * 1024) -> tuple[str, int]:
    """A local file's (sha256, size), read piece by piece."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while piece := handle.read(piece_bytes):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


class FileChanged(Exception):
    """A file's bytes changed while it was being stored."""


async def write_file(db: asyncpg.Pool, path: Path, chunk_bytes: int) -> tuple[str, int]:
    """Keep a local file as a blob (`postgres:` store), never whole in memory; (sha256, size).

    Hashed first, so bytes already stored are not read twice; `FileChanged` if the file
    changes between the hash and the copy (nothing is kept then).
    """
    sha256, size = file_sha256(path)
    if await get_blob(db, sha256) is not None:
        return sha256, size
    content_id, digest, seq = uuid4(), hashlib.sha256(), 0
    try:
        async with db.acquire() as conn, conn.transaction():
            with path.open("rb") as handle:
                while piece := handle.read(chunk_bytes):
                    digest.update(piece)
                    await insert_chunk(conn, content_id, seq, piece)
                    seq += 1
            if digest.hexdigest() != sha256:
                raise FileChanged(f"{path} changed while it was being stored: apply again")
            if not await insert_blob(conn, sha256, size, content_id, chunk_bytes, seq):
                raise _StoredMeanwhile
    except _StoredMeanwhile:
        pass
    return sha256, size


class _StoredMeanwhile(Exception):
    pass
