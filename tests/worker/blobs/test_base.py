from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from worker.blobs import BlobNotFound, BlobRef, BlobStore, FileBlob


async def stream(data: bytes, piece: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def test_bytes_come_back_as_stored_under_their_sha256(blob_store: BlobStore) -> None:
    data = os.urandom(300_000)
    ref = await blob_store.put(stream(data, 7_000))
    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), 300_000)
    assert await blob_store.stat(ref.sha256) == ref
    assert await blob_store.read_bytes(ref.sha256) == data


async def test_an_empty_file_is_a_blob_too(blob_store: BlobStore) -> None:
    ref = await blob_store.put_bytes(b"")
    assert ref == BlobRef(hashlib.sha256(b"").hexdigest(), 0)
    assert await blob_store.read_bytes(ref.sha256) == b""


async def test_a_local_file_is_stored_piece_by_piece(blob_store: BlobStore, tmp_path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(b"%PDF-1.4 " * 40_000)
    ref = await blob_store.put_path(path)
    assert ref == BlobRef(hashlib.sha256(path.read_bytes()).hexdigest(), 360_000)
    async with blob_store.spool(ref.sha256) as spooled:
        assert spooled.read() == path.read_bytes()


async def test_an_unknown_hash_is_not_found(blob_store: BlobStore) -> None:
    missing = "0" * 64
    assert await blob_store.stat(missing) is None
    with pytest.raises(BlobNotFound, match=missing):
        await blob_store.read_bytes(missing)


async def test_the_same_bytes_stored_at_once_by_many_writers_give_one_blob(
    blob_store: BlobStore,
) -> None:
    data = os.urandom(200_000)
    refs = await asyncio.gather(*(blob_store.put(stream(data, 50_000)) for _ in range(4)))
    assert set(refs) == {BlobRef(hashlib.sha256(data).hexdigest(), 200_000)}
    assert await blob_store.read_bytes(refs[0].sha256) == data


async def test_a_file_id_links_to_the_blob_holding_its_bytes(blob_store: BlobStore) -> None:
    ref = await blob_store.put_bytes(b"price list")
    link = FileBlob("file-abc123", "src", ref, "prices.csv", "assistants")
    assert await blob_store.file_blob("file-abc123") is None
    await blob_store.link_file(link)
    assert await blob_store.file_blob("file-abc123") == link
    # A file re-linked (e.g. the bytes re-uploaded under the same id) points at the new blob.
    newer = FileBlob("file-abc123", "src", await blob_store.put_bytes(b"v2"), "p.csv", "assistants")
    await blob_store.link_file(newer)
    assert await blob_store.file_blob("file-abc123") == newer


async def test_a_link_to_bytes_never_stored_is_refused(blob_store: BlobStore) -> None:
    ghost = FileBlob("file-x", "src", BlobRef("f" * 64, 3), "x.txt", "assistants")
    with pytest.raises(BlobNotFound):
        await blob_store.link_file(ghost)
    assert await blob_store.file_blob("file-x") is None


async def test_a_stream_that_fails_midway_stores_nothing(blob_store: BlobStore) -> None:
    data = os.urandom(200_000)

    async def broken() -> AsyncIterator[bytes]:
        yield data[:100_000]
        raise ConnectionError("download dropped")

    with pytest.raises(ConnectionError):
        await blob_store.put(broken())
    assert await blob_store.stat(hashlib.sha256(data[:100_000]).hexdigest()) is None
