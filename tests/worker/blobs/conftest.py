"""A blob store of each backend, on this test's Postgres schema or temporary directory."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from worker.blobs import BlobStore, DirectoryBlobStore, PostgresBlobStore

# Small chunks, so a test of a few hundred KiB already spans many rows.
CHUNK_BYTES = 64 * 1024


@pytest.fixture(params=["postgres", "directory"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "postgres":
        db: asyncpg.Pool = request.getfixturevalue("db")
        return PostgresBlobStore(db, chunk_bytes=CHUNK_BYTES)
    return DirectoryBlobStore(tmp_path / "blobs")
