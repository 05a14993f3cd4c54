from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator

import asyncpg
import pytest

from worker.blobs import BlobCorrupt, PostgresBlobStore

MIB = 1024 * 1024


async def pieces(count: int, size: int, seed: bytes = b"") -> AsyncIterator[bytes]:
    """`count` pieces of `size` bytes, made on the fly (never all in memory)."""
    for i in range(count):
        yield hashlib.sha256(seed + i.to_bytes(4, "big")).digest() * (size // 32)


async def test_a_blob_is_chunk_rows_and_a_copy_stored_twice_is_kept_once(
    db: asyncpg.Pool,
) -> None:
    store = PostgresBlobStore(db, chunk_bytes=64 * 1024)
    data = os.urandom(200_000)
    first = await store.put_bytes(data)
    again = await store.put_bytes(data)
    assert first == again
    assert await db.fetchval("SELECT count(*) FROM blobs") == 1
    # 200,000 bytes in 65,536-byte chunks: three full ones and the rest.
    sizes = await db.fetch("SELECT length(data) AS n FROM blob_chunks ORDER BY seq")
    assert [r["n"] for r in sizes] == [65_536, 65_536, 65_536, 3_392]


async def test_a_failed_put_leaves_no_chunk_behind(db: asyncpg.Pool) -> None:
    store = PostgresBlobStore(db, chunk_bytes=64 * 1024)

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(150_000)
        raise ConnectionError("download dropped")

    with pytest.raises(ConnectionError):
        await store.put(broken())
    assert await db.fetchval("SELECT count(*) FROM blob_chunks") == 0
    assert await db.fetchval("SELECT count(*) FROM blobs") == 0


async def test_damaged_chunks_are_reported_not_returned_as_good(db: asyncpg.Pool) -> None:
    store = PostgresBlobStore(db, chunk_bytes=64 * 1024)
    ref = await store.put_bytes(os.urandom(100_000))
    await db.execute("UPDATE blob_chunks SET data = 'x'::bytea || data WHERE seq = 1")
    with pytest.raises(BlobCorrupt, match=ref.sha256):
        await store.read_bytes(ref.sha256)


@pytest.mark.slow
async def test_a_large_file_streams_through_in_bounded_memory(db: asyncpg.Pool) -> None:
    """48 MiB in and out with 1 MiB chunks: Python never holds more than a few chunks."""
    store = PostgresBlobStore(db, chunk_bytes=MIB)
    expected = hashlib.sha256()
    async for piece in pieces(192, 256 * 1024):
        expected.update(piece)

    tracemalloc.start()
    try:
        ref = await store.put(pieces(192, 256 * 1024))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read = hashlib.sha256()
        async for chunk in store.get(ref.sha256):
            read.update(chunk)
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.size == 48 * MIB
    assert ref.sha256 == expected.hexdigest() == read.hexdigest()
    assert await db.fetchval("SELECT count(*) FROM blob_chunks") == 48
    assert put_peak < 8 * MIB, put_peak
    assert get_peak < 8 * MIB, get_peak
