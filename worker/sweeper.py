"""The sweeper: repairs the ledger against Redis, which may lose everything on a restart.

Outcome first: before it decides anything about a job, the sweeper reads the job's stored
outcome (and arq's stored result, which holds Ferry's outcome when Ferry's code ran); if there
is one, the ledger is repaired from it and nothing else happens. Otherwise:

- a `queued` job that Redis no longer holds (no job body, not in progress) is enqueued again
  under the same id; arq's own verdict on it (`job expired` when its body vanished) is not a
  verdict on the job and is cleared first;
- a `running` job past its timeout plus grace that no worker holds and no queue entry holds
  is enqueued again too: jobs are idempotent by contract, and the runner gives up (with a
  `lost` outcome) once the job has used all its attempts.

Each row is repaired on its own: one that cannot be (an unknown queue) is failed with its
reason and the sweep goes on. An outage ends the sweep early; the next tick carries on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

from schemas import wire
from schemas.keys import RedisKeys
from schemas.results import ErrorKind, JobOutcome
from store import ledger
from store.ledger import LedgerJob
from store.outages import OUTAGES
from worker.ledger_batch import LedgerBatch
from worker.outcomes import failed, push, record

log = structlog.get_logger("ferry.sweeper")

# Rows looked at per Redis round trip.
_CHUNK = 200


async def sweep(
    writes: LedgerBatch,
    redis: ArqRedis,
    keys: RedisKeys,
    *,
    queued_grace_s: float,
    running_grace_s: float,
) -> dict[str, int]:
    """One pass over the unfinished jobs; returns how many were repaired, requeued or failed."""
    counts = {"repaired": 0, "requeued": 0, "failed": 0}
    queued = await ledger.queued_before(writes.pool, older_than_s=queued_grace_s, limit=50_000)
    running = await ledger.running_past_timeout(writes.pool, grace_s=running_grace_s, limit=50_000)
    for rows in (queued, running):
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            for job, seen in zip(chunk, await _look_up(redis, keys, chunk), strict=True):
                try:
                    action = await _repair(writes, redis, keys, job, *seen)
                except OUTAGES:
                    raise
                except Exception as error:
                    log.exception("sweeper could not repair a job; failing it", job_id=job.id)
                    outcome = failed(
                        job.id,
                        job.kind,
                        ErrorKind.internal,
                        f"the sweeper could not re-enqueue this job: {type(error).__name__}: "
                        f"{error}",
                        attempts=job.attempts,
                    )
                    await record(writes, redis, keys, await push(redis, keys, outcome))
                    action = "failed"
                if action:
                    counts[action] += 1
    return counts


async def _look_up(
    redis: ArqRedis, keys: RedisKeys, jobs: Sequence[LedgerJob]
) -> list[tuple[bytes | None, bytes | None, bool]]:
    """Per job: its stored outcome, arq's result, whether arq holds it. Two round trips.

    Most jobs a sweep looks at are simply waiting their turn (arq holds them); only the rest
    need their outcome and arq's result read.
    """
    async with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            arq_id = keys.arq_job_id(job.id)
            pipe.exists(job_key_prefix + arq_id, in_progress_key_prefix + arq_id)
        held = [bool(count) for count in await pipe.execute()]
    loose = [job for job, is_held in zip(jobs, held, strict=True) if not is_held]
    found: dict[str, tuple[bytes | None, bytes | None]] = {}
    if loose:
        async with redis.pipeline(transaction=False) as pipe:
            for job in loose:
                pipe.get(keys.outcome(job.id))
                pipe.get(result_key_prefix + keys.arq_job_id(job.id))
            replies = await pipe.execute()
        found = {job.id: (replies[2 * i], replies[2 * i + 1]) for i, job in enumerate(loose)}
    return [
        (*found.get(job.id, (None, None)), is_held) for job, is_held in zip(jobs, held, strict=True)
    ]


async def _repair(
    writes: LedgerBatch,
    redis: ArqRedis,
    keys: RedisKeys,
    job: LedgerJob,
    stored: bytes | None,
    arq_result: bytes | None,
    held: bool,
) -> str | None:
    outcome = JobOutcome.model_validate_json(stored) if stored is not None else None
    if outcome is None and arq_result is not None:
        outcome = _ferry_outcome(job.id, arq_result)
    if outcome is not None:
        await record(writes, redis, keys, await push(redis, keys, outcome))
        log.warning("sweeper recorded an outcome the ledger missed", job_id=job.id)
        return "repaired"
    if held:
        return None
    arq_id = keys.arq_job_id(job.id)
    queue = keys.queue(job.queue)  # an unknown queue raises: the row is failed with the reason
    # arq refuses a job id whose result it still holds; that result is not Ferry's verdict.
    await redis.delete(result_key_prefix + arq_id)
    await redis.enqueue_job(job.kind, job.payload, _job_id=arq_id, _queue_name=queue)
    await ledger.touch(writes.pool, job.id)
    log.warning(
        "sweeper re-enqueued a job Redis had lost", job_id=job.id, kind=job.kind, was=job.status
    )
    return "requeued"


def _ferry_outcome(job_id: str, raw: bytes) -> JobOutcome | None:
    """Ferry's outcome inside arq's stored result; None when arq failed the job by itself."""
    try:
        data = wire.loads(raw)
    except ValueError:
        return None
    result = data.get("r") if isinstance(data, dict) else None
    if isinstance(result, dict) and result.get("job_id") == job_id and "status" in result:
        return JobOutcome.model_validate(result)
    return None


class Sweeper:
    """Runs `sweep` once per interval per deployment, whichever worker process gets there first."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self._ctx = ctx

    async def run_once(self) -> dict[str, int] | None:
        """Sweep if no other process has swept in this interval; None if one had."""
        settings, keys, redis = self._ctx["settings"], self._ctx["keys"], self._ctx["redis"]
        interval = settings.sweeper_interval_s
        # One key per interval: it outlives the interval, so a late tick cannot sweep it twice,
        # and the next interval's key is a different one, so no tick is ever skipped.
        slot = int(time.time() // interval)
        if not await redis.set(keys.sweeper_tick(slot), b"1", nx=True, ex=interval * 2 + 1):
            return None
        counts = await sweep(
            self._ctx["ledger"],
            redis,
            keys,
            queued_grace_s=interval,
            running_grace_s=settings.sweeper_grace_s,
        )
        if any(counts.values()):
            log.info("sweep", **counts)
        return counts

    async def run_forever(self) -> None:
        """Sweep at the start of every interval until cancelled; outages only skip a tick."""
        interval = self._ctx["settings"].sweeper_interval_s
        while True:
            try:
                await self.run_once()
            except OUTAGES as error:
                log.warning("sweep skipped: a store is unreachable", error=str(error))
            except Exception:
                log.exception("sweep failed")
            await asyncio.sleep(interval - time.time() % interval + 0.01)
