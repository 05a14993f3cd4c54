"""Finishing jobs (ledger, then push to waiters) and the sweeper that repairs what Redis lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

from schemas import wire
from schemas.keys import RedisKeys
from schemas.results import ErrorKind, JobError, JobOutcome, JobStatus
from store import ledger

log = structlog.get_logger("ferry.ledger")


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


# How long a pushed outcome stays in Redis for late waiters; the ledger keeps it for good.
OUTCOME_TTL_S = 86_400


async def publish(
    db: asyncpg.Pool,
    redis: ArqRedis,
    keys: RedisKeys,
    outcome: JobOutcome,
    *,
    only_if_unfinished: bool = False,
) -> bool:
    """Push `outcome` to whoever waits on the job and record it in the ledger.

    Waiters come first: the outcome is stored in Redis and published in one round trip, and
    a waiter that subscribed too late finds it in that key. The ledger write follows; if the
    worker dies in between, the ledger still says `running` and arq runs the job again.
    With `only_if_unfinished` (the sweeper) the ledger decides first, and nothing is pushed
    if the job already had an outcome; returns whether this call recorded it.
    """
    if only_if_unfinished:
        if not await ledger.finish(db, outcome, only_if_unfinished=True):
            return False
        await _push(redis, keys, outcome)
        return True
    await _push(redis, keys, outcome)
    await ledger.finish(db, outcome)
    return True


async def _push(redis: ArqRedis, keys: RedisKeys, outcome: JobOutcome) -> None:
    data = outcome.model_dump_json()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.outcome(outcome.job_id), data, ex=OUTCOME_TTL_S)
        pipe.publish(keys.done_channel(outcome.job_id), data)
        await pipe.execute()


async def sweep(
    db: asyncpg.Pool,
    redis: ArqRedis,
    keys: RedisKeys,
    *,
    queued_grace_s: float,
    running_grace_s: float,
) -> dict[str, int]:
    """Repair the ledger against Redis (which may have lost everything on a restart).

    - a `queued` job with no arq job in Redis is enqueued again, under the same id;
    - a `queued` job that arq finished without Ferry's code running (too many tries) gets
      arq's verdict as its outcome;
    - a `running` job past its timeout plus grace, whose worker no longer holds it, is lost.
    """
    counts = {"requeued": 0, "reconciled": 0, "lost": 0}
    for job in await ledger.queued_before(db, older_than_s=queued_grace_s):
        arq_id = keys.arq_job_id(job.id)
        if await redis.exists(job_key_prefix + arq_id, in_progress_key_prefix + arq_id):
            continue
        raw_result = await redis.get(result_key_prefix + arq_id)
        if raw_result is not None:
            outcome = _outcome_from_arq(job.id, job.kind, raw_result, job.attempts)
            if await publish(db, redis, keys, outcome, only_if_unfinished=True):
                counts["reconciled"] += 1
            continue
        await redis.enqueue_job(
            job.kind, job.payload, _job_id=arq_id, _queue_name=keys.queue(job.queue)
        )
        await ledger.touch(db, job.id)
        counts["requeued"] += 1
        log.warning("sweeper re-enqueued a job Redis had lost", job_id=job.id, kind=job.kind)
    for job in await ledger.running_past_timeout(db, grace_s=running_grace_s):
        if await redis.exists(in_progress_key_prefix + keys.arq_job_id(job.id)):
            continue
        outcome = failed(
            job.id,
            job.kind,
            ErrorKind.lost,
            f"the job was running for more than its timeout ({job.timeout_s} s) plus "
            f"{running_grace_s:g} s and no worker holds it: its worker died or Redis lost it",
            attempts=job.attempts,
        )
        if await publish(db, redis, keys, outcome, only_if_unfinished=True):
            counts["lost"] += 1
            log.error("sweeper marked a job lost", job_id=job.id, kind=job.kind)
    return counts


def _outcome_from_arq(job_id: str, kind: str, raw: bytes, attempts: int) -> JobOutcome:
    """arq's stored result: Ferry's own outcome, or an exception arq recorded by itself."""
    data = wire.loads(raw)
    result = data.get("r") if isinstance(data, dict) else None
    if isinstance(result, dict) and result.get("job_id") == job_id and "status" in result:
        return JobOutcome.model_validate(result)
    message = result.get("message") if isinstance(result, dict) else None
    return failed(
        job_id,
        kind,
        ErrorKind.failed,
        f"arq gave up on the job: {message or 'no reason recorded'}",
        attempts=attempts,
    )
