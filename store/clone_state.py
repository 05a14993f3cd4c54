"""The clone's durable state: plans by id, and what each copy made at the destination.

A clone records every remote object the moment it exists, so a job killed at any step and
run again finds it here instead of making it twice:
- plans, stored whole by id (`apply PLAN_ID` runs exactly that document);
- per plan and source assistant: its status and destination id;
- per destination profile: source file → destination file (with the hash of the bytes, so
  a file several assistants use is copied once), source vector store → destination store
  (each chat thread's journal is in `store.clone_threads`).
Two workers copying the same file hold `copy_lock` around check-copy-record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from store.registry import Database, connection


class CloneStateError(ValueError):
    """A clone-state write was refused; nothing was written."""


@dataclass(frozen=True)
class StoredPlan:
    id: UUID
    source: str
    destination: str
    body: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class AssistantCopy:
    plan_id: UUID
    source_id: str
    destination_id: str | None
    status: str
    error: str | None
    updated_at: datetime
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class FileCopy:
    destination: str
    source_file_id: str
    destination_file_id: str
    sha256: str
    size: int
    travel: str
    created_at: datetime


ASSISTANT_STATUSES = ("planned", "created", "updated", "unchanged", "failed")
_PLAN = "id, source, destination, body, created_at"
_ASSISTANT = "plan_id, source_id, destination_id, status, error, updated_at, result"
_FILE = "destination, source_file_id, destination_file_id, sha256, size, travel, created_at"


# --- plans ---------------------------------------------------------------------------------


async def save_plan(
    db: asyncpg.Pool,
    source: str,
    destination: str,
    body: dict[str, Any],
    source_assistant_ids: list[str],
) -> StoredPlan:
    """Store a plan and one `planned` row per source assistant, in one transaction."""
    if source == destination:
        raise CloneStateError(
            f"source and destination are both {source!r}: a clone needs two profiles"
        )
    async with db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO clone_plans (source, destination, body) VALUES ($1, $2, $3) "
            f"RETURNING {_PLAN}",
            source,
            destination,
            body,
        )
        await conn.executemany(
            "INSERT INTO clone_assistants (plan_id, source_id) VALUES ($1, $2)",
            [(row["id"], source_id) for source_id in dict.fromkeys(source_assistant_ids)],
        )
    return StoredPlan(**dict(row))


async def get_plan(db: Database, plan_id: UUID) -> StoredPlan | None:
    """The plan with this id, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(f"SELECT {_PLAN} FROM clone_plans WHERE id = $1", plan_id)
    return StoredPlan(**dict(row)) if row else None


async def list_plans(db: Database, *, limit: int = 20) -> list[StoredPlan]:
    """The most recent plans, newest first."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_PLAN} FROM clone_plans ORDER BY created_at DESC, id LIMIT $1", limit
        )
    return [StoredPlan(**dict(r)) for r in rows]


# --- assistants, per plan ------------------------------------------------------------------


async def record_assistant(
    db: Database,
    plan_id: UUID,
    source_id: str,
    *,
    status: str,
    destination_id: str | None = None,
    error: str | None = None,
    result: dict[str, Any] | None = None,
) -> AssistantCopy:
    """What apply did with one planned assistant (a destination id, once known, is kept)."""
    if status not in ASSISTANT_STATUSES:
        raise CloneStateError(f"status {status!r} is not one of {', '.join(ASSISTANT_STATUSES)}")
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"""
            UPDATE clone_assistants
            SET status = $3, destination_id = coalesce($4, destination_id), error = $5,
                result = coalesce($6, result), updated_at = now()
            WHERE plan_id = $1 AND source_id = $2
            RETURNING {_ASSISTANT}
            """,
            plan_id,
            source_id,
            status,
            destination_id,
            error,
            result,
        )
    if row is None:
        raise CloneStateError(f"plan {plan_id} has no assistant {source_id}")
    return AssistantCopy(**dict(row))


async def plan_assistants(db: Database, plan_id: UUID) -> list[AssistantCopy]:
    """Every assistant of a plan, by source id."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_ASSISTANT} FROM clone_assistants WHERE plan_id = $1 ORDER BY source_id",
            plan_id,
        )
    return [AssistantCopy(**dict(r)) for r in rows]


async def latest_destination(
    db: Database, source: str, destination: str, source_id: str
) -> str | None:
    """The destination id of this source assistant's most recent clone between these two."""
    async with connection(db) as conn:
        return await conn.fetchval(
            """
            SELECT a.destination_id
            FROM clone_assistants a JOIN clone_plans p ON p.id = a.plan_id
            WHERE p.source = $1 AND p.destination = $2 AND a.source_id = $3
              AND a.destination_id IS NOT NULL
            ORDER BY a.updated_at DESC
            LIMIT 1
            """,
            source,
            destination,
            source_id,
        )


# --- files and vector stores, per destination profile --------------------------------------


@asynccontextmanager
async def copy_lock(dsn: str, kind: str, destination: str, source_id: str) -> AsyncIterator[None]:
    """Hold the lock on copying one object to `destination`: check, copy, record, release.

    A session advisory lock on a connection of its own, opened on `dsn` for the lock and
    outside every pool: a worker that dies loses the connection and so the lock, and the
    next one finds whatever the first recorded. Never a pool's connection: a waiter would
    hold it for as long as the copy it waits for, while that copy needs the pool for its
    own queries, so enough waiters (assistants sharing a store, more jobs than the pool has
    connections) starved the pool and every job hung.
    """
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "ferry-lock"})
    keys = (f"ferry-clone:{kind}", f"{destination}/{source_id}")
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1), hashtext($2))", *keys)
        yield
    finally:
        # Ending the session releases the lock (also when cancelled mid-wait).
        try:
            await conn.close()
        except BaseException:
            conn.terminate()
            raise


async def record_file(
    db: Database,
    destination: str,
    source_file_id: str,
    destination_file_id: str,
    *,
    sha256: str,
    size: int,
    travel: str,
) -> FileCopy:
    """Source file → destination file, recorded right after the upload (a re-copy replaces)."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"""
            INSERT INTO clone_files
                (destination, source_file_id, destination_file_id, sha256, size, travel)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (destination, source_file_id) DO UPDATE
            SET destination_file_id = EXCLUDED.destination_file_id, sha256 = EXCLUDED.sha256,
                size = EXCLUDED.size, travel = EXCLUDED.travel, created_at = now()
            RETURNING {_FILE}
            """,
            destination,
            source_file_id,
            destination_file_id,
            sha256,
            size,
            travel,
        )
    return FileCopy(**dict(row))


async def copied_file(db: Database, destination: str, source_file_id: str) -> FileCopy | None:
    """The destination copy of a source file, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_FILE} FROM clone_files WHERE destination = $1 AND source_file_id = $2",
            destination,
            source_file_id,
        )
    return FileCopy(**dict(row)) if row else None


async def file_with_bytes(db: Database, destination: str, sha256: str) -> FileCopy | None:
    """A destination file already holding these bytes (the most recent), or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_FILE} FROM clone_files WHERE destination = $1 AND sha256 = $2 "
            "ORDER BY created_at DESC LIMIT 1",
            destination,
            sha256,
        )
    return FileCopy(**dict(row)) if row else None


async def recorded_file_ids(db: Database, destination: str, file_ids: list[str]) -> set[str]:
    """Those of `file_ids` some copy to `destination` already records."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT destination_file_id FROM clone_files "
            "WHERE destination = $1 AND destination_file_id = ANY($2::text[])",
            destination,
            file_ids,
        )
    return {r["destination_file_id"] for r in rows}


async def forget_file(db: Database, destination: str, source_file_id: str) -> bool:
    """Drop a file copy found gone at the destination; the next run copies it again."""
    async with connection(db) as conn:
        status = await conn.execute(
            "DELETE FROM clone_files WHERE destination = $1 AND source_file_id = $2",
            destination,
            source_file_id,
        )
    return status != "DELETE 0"


async def record_vector_store(
    db: Database, destination: str, source_vector_store_id: str, destination_vector_store_id: str
) -> None:
    """Source vector store → destination store, recorded right after the create."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO clone_vector_stores
                (destination, source_vector_store_id, destination_vector_store_id)
            VALUES ($1, $2, $3)
            ON CONFLICT (destination, source_vector_store_id) DO UPDATE
            SET destination_vector_store_id = EXCLUDED.destination_vector_store_id,
                created_at = now()
            """,
            destination,
            source_vector_store_id,
            destination_vector_store_id,
        )


async def recorded_vector_store_ids(
    db: Database, destination: str, store_ids: list[str]
) -> set[str]:
    """Those of `store_ids` some copy to `destination` already records."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT destination_vector_store_id FROM clone_vector_stores "
            "WHERE destination = $1 AND destination_vector_store_id = ANY($2::text[])",
            destination,
            store_ids,
        )
    return {r["destination_vector_store_id"] for r in rows}


async def copied_vector_store(
    db: Database, destination: str, source_vector_store_id: str
) -> str | None:
    """The destination store of a source vector store, or None."""
    async with connection(db) as conn:
        return await conn.fetchval(
            "SELECT destination_vector_store_id FROM clone_vector_stores "
            "WHERE destination = $1 AND source_vector_store_id = $2",
            destination,
            source_vector_store_id,
        )


@dataclass(frozen=True)
class VectorStoreCopy:
    destination_vector_store_id: str
    created_at: datetime


async def vector_store_copy(
    db: Database, destination: str, source_vector_store_id: str
) -> VectorStoreCopy | None:
    """The destination store of a source vector store and when it was recorded, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            "SELECT destination_vector_store_id, created_at FROM clone_vector_stores "
            "WHERE destination = $1 AND source_vector_store_id = $2",
            destination,
            source_vector_store_id,
        )
    return VectorStoreCopy(**dict(row)) if row else None
