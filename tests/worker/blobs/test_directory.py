from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from worker.blobs import BlobCorrupt, DirectoryBlobStore, FileBlob


async def test_a_blob_is_one_file_named_by_its_hash(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    ref = await store.put_bytes(b"hello")
    assert (tmp_path / "sha256" / ref.sha256[:2] / ref.sha256).read_bytes() == b"hello"
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_failed_put_leaves_no_partial_file(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(10_000)
        raise ConnectionError("download dropped")

    with pytest.raises(ConnectionError):
        await store.put(broken())
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "sha256").exists()


async def test_a_damaged_blob_file_is_reported(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    ref = await store.put_bytes(b"original bytes")
    (tmp_path / "sha256" / ref.sha256[:2] / ref.sha256).write_bytes(b"other bytes!!!")
    with pytest.raises(BlobCorrupt, match=ref.sha256):
        await store.read_bytes(ref.sha256)


async def test_a_file_id_that_is_not_an_id_is_refused(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    ref = await store.put_bytes(b"x")
    with pytest.raises(ValueError, match="not an OpenAI-style id"):
        await store.link_file(FileBlob("../../etc/passwd", "src", ref, "x", "assistants"))
