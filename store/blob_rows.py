"""Blob-store SQL: blobs as chunk rows, and the link from a remote file id to its blob.

The Postgres blob backend (`worker.blobs.postgres`) is the only caller; the bytes travel one
chunk per statement, so no query ever holds a whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

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
