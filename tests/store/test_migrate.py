from __future__ import annotations

import asyncio
import secrets

import asyncpg

from store.migrate import available, migrate
from store.pool import create_pool
from tests.conftest import DATABASE_URL


async def test_migrations_apply_in_order_once_each(db_schema: str) -> None:
    pool = await create_pool(DATABASE_URL, schema=db_schema)
    try:
        first = await migrate(pool)
        again = await migrate(pool)
        rows = await pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
        tables = await pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", db_schema
        )
    finally:
        await pool.close()
    assert [m.version for m in first] == [m.version for m in available()]
    assert again == []
    assert [r["version"] for r in rows] == [m.version for m in available()]
    assert "jobs" in {t["table_name"] for t in tables}


async def test_two_workers_migrating_at_once_apply_each_migration_once(db_schema: str) -> None:
    pools = [await create_pool(DATABASE_URL, schema=db_schema) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(pool) for pool in pools))
        count = await pools[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for pool in pools:
            await pool.close()
    applied_versions = sorted(m.version for result in results for m in result)
    assert applied_versions == [m.version for m in available()]
    assert count == len(available())


async def test_many_processes_creating_one_schema_at_once_all_start() -> None:
    # Capital letters too: the schema is created quoted and must be searched quoted.
    schema = f"T_Race_{secrets.token_hex(4)}"
    try:
        pools = await asyncio.gather(
            *(create_pool(DATABASE_URL, schema=schema, create_schema=True) for _ in range(6))
        )
        try:
            await asyncio.gather(*(migrate(pool) for pool in pools))
            where = await pools[0].fetchval("SELECT current_schema()")
            tables = await pools[-1].fetchval("SELECT count(*) FROM jobs")
        finally:
            for pool in pools:
                await pool.close()
    finally:
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    assert where == schema
    assert tables == 0
