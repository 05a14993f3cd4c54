from __future__ import annotations

from pathlib import Path

import asyncpg

from worker.doctor import BLOB_PROBE, Check, check_blob_store
from worker.settings import Settings


async def test_the_blob_store_check_writes_and_reads_a_probe(
    db: asyncpg.Pool, settings: Settings
) -> None:
    assert await check_blob_store(settings) == Check(
        "blob store", True, "postgres: wrote and read back a probe blob"
    )
    assert await db.fetchval("SELECT size FROM blobs") == len(BLOB_PROBE)


async def test_the_blob_store_check_reads_a_directory_url(
    settings: Settings, tmp_path: Path
) -> None:
    directory = settings.model_copy(update={"blob_store_url": f"file://{tmp_path}"})
    assert (await check_blob_store(directory)).ok is True
    assert len(list((tmp_path / "sha256").rglob("*"))) == 2  # one folder, one blob


async def test_the_blob_store_check_names_the_setting_or_the_fix(
    db_schema: str, settings: Settings
) -> None:
    bad = settings.model_copy(update={"blob_store_url": "s3://bucket"})
    check = await check_blob_store(bad)
    assert (check.ok, "BLOB_STORE_URL has scheme 's3'" in check.detail) == (False, True)
    # `db_schema` alone: the schema exists but nothing is migrated yet.
    unmigrated = await check_blob_store(settings)
    assert unmigrated == Check(
        "blob store", False, "postgres: its tables are missing; run `ferry db migrate`"
    )
