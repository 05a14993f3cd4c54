"""Ferry's blob store: original bytes of files, content-addressed, shared by every worker.

Chosen by URL (`BLOB_STORE_URL`), as SAQ's `Queue.from_url` chooses a queue backend:

- `postgres:` (the default): Ferry's own database, in chunk rows;
- `postgresql://…[?schema=NAME]`: another Postgres database (migrated like Ferry's own);
- `file:///absolute/dir` or `file:relative/dir`: a directory, one file per blob.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from store.migrate import migrate
from store.pool import create_pool
from worker.blobs.base import (
    DEFAULT_CHUNK_BYTES,
    BlobCorrupt,
    BlobError,
    BlobNotFound,
    BlobRef,
    BlobStore,
    FileBlob,
)
from worker.blobs.directory import DirectoryBlobStore
from worker.blobs.postgres import PostgresBlobStore

__all__ = [
    "BlobCorrupt",
    "BlobError",
    "BlobNotFound",
    "BlobRef",
    "BlobStore",
    "DirectoryBlobStore",
    "FileBlob",
    "PostgresBlobStore",
    "blob_store_from_url",
]

_POSTGRES_SCHEMES = {"postgres", "postgresql"}


async def blob_store_from_url(
    url: str, *, db: asyncpg.Pool, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> BlobStore:
    """The blob store `url` names; `db` is Ferry's own pool (used by `postgres:`)."""
    parts = urlsplit(url.strip())
    if parts.scheme in _POSTGRES_SCHEMES:
        if not parts.netloc and not parts.path:
            return PostgresBlobStore(db, chunk_bytes=chunk_bytes)
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", None)
        dsn = urlunsplit(parts._replace(query=urlencode(query)))
        pool = await create_pool(dsn, schema=schema, create_schema=schema is not None)
        try:
            await migrate(pool)
        except BaseException:
            await pool.close()
            raise
        return PostgresBlobStore(pool, chunk_bytes=chunk_bytes, owns_pool=True)
    if parts.scheme == "file":
        path = parts.path if not parts.netloc else f"//{parts.netloc}{parts.path}"
        if not path:
            raise BlobError(f"BLOB_STORE_URL={url!r} names no directory: use file:///absolute/dir")
        return DirectoryBlobStore(Path(path))
    # The URL itself may carry a password: name only its scheme.
    raise BlobError(
        f"BLOB_STORE_URL has scheme {parts.scheme!r}, which is no blob store: use "
        "'postgres:' (Ferry's database, the default), 'postgresql://user@host/db' or "
        "'file:///absolute/dir'"
    )
