"""The job ledger: every accepted job, its status, attempts and outcome. All its SQL is here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from schemas.results import JobError, JobOutcome, JobStatus

_COLUMNS = (
    "id, kind, queue, payload, status, attempts, timeout_s, result, error, "
    "created_at, updated_at, started_at, finished_at"
)


@dataclass(frozen=True)
class LedgerJob:
    id: str
    kind: str
    queue: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    timeout_s: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record | dict[str, Any]) -> LedgerJob:
        return cls(**{**dict(row), "status": JobStatus(row["status"])})

    def outcome(self) -> JobOutcome | None:
        """The outcome of a finished job, as the worker pushed it; None while unfinished."""
        if not self.status.finished or self.finished_at is None:
            return None
        return JobOutcome(
            job_id=self.id,
            kind=self.kind,
            status=self.status,
            result=self.result,
            error=JobError.model_validate(self.error) if self.error else None,
            attempts=self.attempts,
            finished_at=self.finished_at,
        )


async def accept(
    conn: asyncpg.Pool | asyncpg.Connection,
    *,
    job_id: str,
    kind: str,
    queue: str,
    payload: dict[str, Any],
    timeout_s: int,
) -> tuple[LedgerJob, bool]:
    """Record a job as queued; return the row and whether this call created it."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO jobs (id, kind, queue, payload, timeout_s) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (id) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        job_id,
        kind,
        queue,
        payload,
        timeout_s,
    )
    if row is not None:
        return LedgerJob.from_row(row), True
    existing = await get(conn, job_id)
    assert existing is not None  # the conflict proves the row exists; jobs are never deleted
    return existing, False


async def get(conn: asyncpg.Pool | asyncpg.Connection, job_id: str) -> LedgerJob | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return LedgerJob.from_row(row) if row else None


async def start_attempt(
    conn: asyncpg.Pool | asyncpg.Connection,
    *,
    job_id: str,
    kind: str,
    queue: str,
    payload: dict[str, Any],
    timeout_s: int,
) -> LedgerJob:
    """Mark a job running and count the attempt; a job put on the queue by hand gets a row.

    A job already finished stays as it is: the caller sees its status and does not run it.
    """
    row = await conn.fetchrow(
        f"""
        INSERT INTO jobs (id, kind, queue, payload, timeout_s, status, attempts, started_at)
        VALUES ($1, $2, $3, $4, $5, 'running', 1, now())
        ON CONFLICT (id) DO UPDATE SET
            status = CASE WHEN jobs.status IN ('succeeded', 'failed', 'cancelled')
                          THEN jobs.status ELSE 'running' END,
            attempts = CASE WHEN jobs.status IN ('succeeded', 'failed', 'cancelled')
                            THEN jobs.attempts ELSE jobs.attempts + 1 END,
            started_at = CASE WHEN jobs.status IN ('succeeded', 'failed', 'cancelled')
                              THEN jobs.started_at ELSE now() END,
            updated_at = now()
        RETURNING {_COLUMNS}
        """,
        job_id,
        kind,
        queue,
        payload,
        timeout_s,
    )
    return LedgerJob.from_row(row)


async def hand_back(conn: asyncpg.Pool | asyncpg.Connection, job_id: str) -> None:
    """A running job goes back to `queued` (its worker is stopping or it will be retried)."""
    await conn.execute(
        "UPDATE jobs SET status = 'queued', updated_at = now() "
        "WHERE id = $1 AND status = 'running'",
        job_id,
    )


async def finish(
    conn: asyncpg.Pool | asyncpg.Connection,
    outcome: JobOutcome,
    *,
    only_if_unfinished: bool = False,
) -> bool:
    """Record a job's outcome; return False if `only_if_unfinished` and it had one already."""
    guard = "AND status IN ('queued', 'running')" if only_if_unfinished else ""
    status = await conn.execute(
        f"""
        UPDATE jobs SET status = $2, result = $3, error = $4, finished_at = $5, updated_at = now()
        WHERE id = $1 {guard}
        """,
        outcome.job_id,
        outcome.status.value,
        outcome.result,
        outcome.error.model_dump(mode="json") if outcome.error else None,
        outcome.finished_at,
    )
    return status != "UPDATE 0"


async def list_jobs(
    conn: asyncpg.Pool | asyncpg.Connection,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[LedgerJob]:
    """Newest first, optionally of one status and kind."""
    return await _select(
        conn,
        "($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)",
        "created_at DESC, id",
        status.value if status else None,
        kind,
        limit=limit,
    )


async def queued_before(
    conn: asyncpg.Pool | asyncpg.Connection, *, older_than_s: float, limit: int = 500
) -> list[LedgerJob]:
    """Jobs still `queued` that were last touched more than `older_than_s` seconds ago."""
    return await _select(
        conn,
        "status = 'queued' AND updated_at < now() - make_interval(secs => $1)",
        "updated_at",
        older_than_s,
        limit=limit,
    )


async def running_since(
    conn: asyncpg.Pool | asyncpg.Connection, *, older_than_s: float, limit: int = 500
) -> list[LedgerJob]:
    """Jobs `running` since more than `older_than_s` ago."""
    return await _select(
        conn,
        "status = 'running' AND started_at < now() - make_interval(secs => $1)",
        "started_at",
        older_than_s,
        limit=limit,
    )


async def _select(
    conn: asyncpg.Pool | asyncpg.Connection, where: str, order: str, *args: Any, limit: int
) -> list[LedgerJob]:
    # `where` and `order` are this module's constants; values always travel as parameters.
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY {order} LIMIT ${len(args) + 1}",
        *args,
        limit,
    )
    return [LedgerJob.from_row(row) for row in rows]


async def touch(conn: asyncpg.Pool | asyncpg.Connection, job_id: str) -> None:
    """Note that the sweeper re-enqueued a job, so it waits a full interval before the next look."""
    await conn.execute("UPDATE jobs SET updated_at = now() WHERE id = $1", job_id)


# --- batched forms, for a worker process's many jobs starting and finishing at once ---

_FINISHED = "jobs.status IN ('succeeded', 'failed', 'cancelled')"


async def start_attempts(
    conn: asyncpg.Pool | asyncpg.Connection, payloads: dict[str, dict[str, Any]]
) -> dict[str, LedgerJob]:
    """`start_attempt` for many jobs (id → the payload the caller holds) in one statement.

    Ids with no row are left out. The payload is not read back: the caller has it already.
    """
    rows = await conn.fetch(
        f"""
        UPDATE jobs SET
            status = CASE WHEN {_FINISHED} THEN jobs.status ELSE 'running' END,
            attempts = CASE WHEN {_FINISHED} THEN jobs.attempts ELSE jobs.attempts + 1 END,
            started_at = CASE WHEN {_FINISHED} THEN jobs.started_at ELSE now() END,
            updated_at = now()
        WHERE id = ANY($1::text[])
        RETURNING {_COLUMNS.replace("payload, ", "")}
        """,
        list(payloads),
    )
    return {
        row["id"]: LedgerJob.from_row({**dict(row), "payload": payloads[row["id"]]}) for row in rows
    }


async def finish_many(
    conn: asyncpg.Pool | asyncpg.Connection, outcomes: list[JobOutcome]
) -> set[str]:
    """Record outcomes of unfinished jobs (one per job) in one statement; the ids recorded."""
    rows = await conn.fetch(
        """
        UPDATE jobs SET status = v.status, result = v.result, error = v.error,
                        finished_at = v.finished_at, updated_at = now()
        FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::jsonb[], $5::timestamptz[])
             AS v(id, status, result, error, finished_at)
        WHERE jobs.id = v.id AND jobs.status IN ('queued', 'running')
        RETURNING jobs.id
        """,
        [o.job_id for o in outcomes],
        [o.status.value for o in outcomes],
        [o.result for o in outcomes],
        [o.error.model_dump(mode="json") if o.error else None for o in outcomes],
        [o.finished_at for o in outcomes],
    )
    return {row["id"] for row in rows}
