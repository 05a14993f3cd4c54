from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError

from tests.conftest import DATABASE_URL
from worker.blobs import BlobError, DirectoryBlobStore, PostgresBlobStore, blob_store_from_url
from worker.settings import Settings


async def test_the_default_is_ferrys_own_database(db: asyncpg.Pool, settings: Settings) -> None:
    store = await blob_store_from_url(settings.blob_store_url, db=db)
    assert isinstance(store, PostgresBlobStore)
    ref = await store.put_bytes(b"kept in Ferry's schema")
    assert await db.fetchval("SELECT size FROM blobs WHERE sha256 = $1", ref.sha256) == 22


async def test_a_file_url_is_a_directory(db: asyncpg.Pool, tmp_path: Path) -> None:
    store = await blob_store_from_url(f"file://{tmp_path}/blobs", db=db)
    assert isinstance(store, DirectoryBlobStore)
    assert store.root == tmp_path / "blobs"


async def test_another_database_gets_its_own_migrated_pool(db: asyncpg.Pool) -> None:
    schema = f"t_blobs_{secrets.token_hex(4)}"
    store = await blob_store_from_url(f"{DATABASE_URL}?schema={schema}", db=db)
    try:
        ref = await store.put_bytes(b"elsewhere")
        assert await store.read_bytes(ref.sha256) == b"elsewhere"
        assert await db.fetchval("SELECT count(*) FROM blobs") == 0
    finally:
        await store.aclose()
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


@pytest.mark.parametrize("url", ["s3://bucket/blobs", "mysql://ferry:hunter2@db/blobs", "file:"])
async def test_an_unknown_url_names_the_setting_and_hides_the_password(
    db: asyncpg.Pool, url: str
) -> None:
    with pytest.raises(BlobError, match="BLOB_STORE_URL") as caught:
        await blob_store_from_url(url, db=db)
    assert "hunter2" not in str(caught.value)


def test_the_settings_name_the_store_and_its_chunk_size(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BLOB_STORE_URL", f"file://{tmp_path}")
    monkeypatch.setenv("BLOB_CHUNK_BYTES", "131072")
    settings = Settings(_env_file=None)
    assert (settings.blob_store_url, settings.blob_chunk_bytes) == (f"file://{tmp_path}", 131072)
    monkeypatch.setenv("BLOB_CHUNK_BYTES", "1000")
    with pytest.raises(ValidationError, match="blob_chunk_bytes"):
        Settings(_env_file=None)
