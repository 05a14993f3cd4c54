"""Versioned SQL migrations: applied in order, each once, each in a transaction.

Two workers starting at once both call `migrate`; a transaction-scoped advisory lock makes
the second wait and then find nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# An arbitrary constant: the advisory lock that serialises migrations in one schema.
_LOCK_ID = 0x4645_5252  # "FERR"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Every migration shipped in `store/migrations`, in version order."""
    found: list[Migration] = []
    for entry in resources.files("store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


async def applied(conn: asyncpg.Connection) -> set[int]:
    """Versions recorded in `schema_migrations` (empty before the first migration)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return set()
    return {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}


async def pending(pool: asyncpg.Pool) -> list[Migration]:
    async with pool.acquire() as conn:
        done = await applied(conn)
    return [m for m in available() if m.version not in done]


async def migrate(pool: asyncpg.Pool) -> list[Migration]:
    """Apply every pending migration; return the ones this call applied."""
    done_now: list[Migration] = []
    async with pool.acquire() as conn:
        for migration in available():
            async with conn.transaction():
                # Keyed by schema too, so isolated schemas migrate independently.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", _LOCK_ID
                )
                await conn.execute(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """
                )
                if migration.version in await applied(conn):
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
                done_now.append(migration)
    return done_now
