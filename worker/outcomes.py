"""Finishing jobs: the first outcome stored is the one that stands, in Redis and the ledger.

A finished job's outcome goes to Redis first (stored under `outcome:<id>` and published on
`done:<id>` in one script, only if no outcome is stored yet), then to the ledger (only if the
ledger has none). So a second run of the job, or the sweeper, can never replace an outcome a
waiter may already hold: it finds the stored one and records that instead. An outage only
delays these writes (they are retried until they land); it never drops or changes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from schemas.results import ErrorKind, JobError, JobOutcome, JobStatus
from store import ledger
from store.outages import until_it_lands
from worker.ledger_batch import LedgerBatch

log = structlog.get_logger("ferry.outcomes")

# How long a pushed outcome stays in Redis for late waiters; the ledger keeps it for good.
OUTCOME_TTL_S = 86_400

# KEYS: outcome key, done channel. ARGV: the outcome, its TTL. Returns the outcome that stands.
_STORE_FIRST = """
local stored = redis.call('GET', KEYS[1])
if stored then return stored end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return ARGV[1]
"""
# The same, replacing whatever is stored: only for an outcome the ledger already holds.
_STORE_ALWAYS = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return ARGV[1]
"""


def failed(
    job_id: str, kind: str, error_kind: ErrorKind, message: str, *, attempts: int = 0, **extra: Any
) -> JobOutcome:
    """A failed outcome of `error_kind`."""
    return JobOutcome(
        job_id=job_id,
        kind=kind,
        status=JobStatus.failed,
        error=JobError(kind=error_kind, message=message, **extra),
        attempts=attempts,
        finished_at=datetime.now(UTC),
    )


async def stored_outcome(redis: Redis, keys: RedisKeys, job_id: str) -> JobOutcome | None:
    """The outcome pushed for `job_id`, if Redis still holds one."""
    raw = await redis.get(keys.outcome(job_id))
    return JobOutcome.model_validate_json(raw) if raw is not None else None


async def push(
    redis: Redis, keys: RedisKeys, outcome: JobOutcome, *, replace: bool = False
) -> JobOutcome:
    """Store and publish `outcome` unless one is stored already; return the one that stands."""
    data = outcome.model_dump_json()
    raw = await redis.eval(  # type: ignore[misc]
        _STORE_ALWAYS if replace else _STORE_FIRST,
        2,
        keys.outcome(outcome.job_id),
        keys.done_channel(outcome.job_id),
        data,
        OUTCOME_TTL_S,
    )
    text = raw.decode() if isinstance(raw, bytes) else raw
    return outcome if text == data else JobOutcome.model_validate_json(text)


async def record(
    writes: LedgerBatch, redis: Redis, keys: RedisKeys, outcome: JobOutcome
) -> JobOutcome:
    """Write a standing outcome to the ledger; if the ledger already has another, that one wins.

    The ledger is durable and Redis may forget: an outcome the ledger holds was pushed once
    already, so it is pushed again (replacing what Redis holds) and returned.
    """
    landed = await until_it_lands("ledger outcome", lambda: writes.finish(outcome))
    if landed:
        return outcome
    row = await until_it_lands("ledger read", lambda: ledger.get(writes.pool, outcome.job_id))
    recorded = row.outcome() if row is not None else None
    if recorded is None or (
        recorded.status is outcome.status and recorded.result == outcome.result
    ):
        return outcome
    log.warning(
        "the ledger holds an earlier outcome; it stands",
        job_id=outcome.job_id,
        ledger=recorded.status.value,
        dropped=outcome.status.value,
    )
    return await until_it_lands("outcome push", lambda: push(redis, keys, recorded, replace=True))


async def publish(
    writes: LedgerBatch, redis: Redis, keys: RedisKeys, outcome: JobOutcome
) -> JobOutcome:
    """Push `outcome` to waiters, then record it; returns the outcome that stands.

    Waiters come first (one round trip): a waiter that subscribed too late finds the stored
    key. If the worker dies before the ledger write, the stored outcome is what a re-run or
    the sweeper finds and records, so the job never runs again and never ends twice.
    """
    standing = await until_it_lands("outcome push", lambda: push(redis, keys, outcome))
    return await record(writes, redis, keys, standing)
