"""The sweeper: repairs the ledger against Redis, which may lose everything on a restart.

Outcome first: before it decides anything about a job, the sweeper reads the job's stored
outcome (and arq's stored result, which holds Ferry's outcome when Ferry's code ran); if there
is one, the ledger is repaired from it and nothing else happens. Otherwise:

- a `queued` job that Redis no longer holds (no job body, not in progress) is enqueued again
  under the same id; arq's own verdict on it (`job expired` when its body vanished) is not a
  verdict on the job and is cleared first;
- a `running` job that no worker holds (no in-progress key: its worker stopped renewing its
  lease) and no queue entry holds is enqueued again too: jobs are idempotent by contract, and
  the runner gives up (with a `lost` outcome) once the job has used all its attempts. Redis
  losing its data also drops the lease of a job whose worker is alive (the worker takes it
  back at its next heartbeat), so such a job is enqueued again only once it has been found
  unheld for a whole lease, or right away when it is past its own timeout plus grace (no run
  of it can still be going).

Each row is repaired on its own: one that cannot be (an unknown queue) is failed with its
reason and the sweep goes on. An outage ends the sweep early; the next tick carries on.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

from schemas import wire
from schemas.keys import RedisKeys
from schemas.results import ErrorKind, JobOutcome, JobStatus
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
    lease_s: float,
) -> dict[str, int]:
    """One pass over the unfinished jobs; returns how many were repaired, requeued or failed.

    `lease_s` is the workers' job lease (`job_lease_s`); a running job is looked at once it
    has run longer than that plus `running_grace_s`.
    """
    counts = {"repaired": 0, "requeued": 0, "failed": 0}
    queued = await ledger.queued_before(writes.pool, older_than_s=queued_grace_s, limit=50_000)
    running = await ledger.running_since(
        writes.pool, older_than_s=lease_s + running_grace_s, limit=50_000
    )
    orphans = _Orphans(redis, keys, lease_s, running_grace_s, queued_grace_s)
    for rows in (queued, running):
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            for job, seen in zip(chunk, await _look_up(redis, keys, chunk), strict=True):
                try:
                    action = await _repair(writes, redis, keys, job, *seen, orphans=orphans)
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
    *,
    orphans: _Orphans,
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
    if job.status is JobStatus.running and not await orphans.abandoned(job):
        return None
    arq_id = keys.arq_job_id(job.id)
    queue = keys.queue(job.queue)  # an unknown queue raises: the row is failed with the reason
    # arq refuses a job id whose result it still holds; that result is not Ferry's verdict.
    await redis.delete(result_key_prefix + arq_id, keys.sweeper_unheld(job.id))
    await redis.enqueue_job(job.kind, job.payload, _job_id=arq_id, _queue_name=queue)
    await ledger.touch(writes.pool, job.id)
    log.warning(
        "sweeper re-enqueued a job Redis had lost", job_id=job.id, kind=job.kind, was=job.status
    )
    return "requeued"


class _Orphans:
    """Tells a running job whose worker is gone from one whose lease Redis merely lost."""

    def __init__(
        self,
        redis: ArqRedis,
        keys: RedisKeys,
        lease_s: float,
        running_grace_s: float,
        interval_s: float,
    ) -> None:
        self._redis, self._keys = redis, keys
        self._lease_ms, self._grace_s = lease_s * 1000, running_grace_s
        # A first sighting is forgotten after a few sweeps past the lease, so one from an
        # earlier blip cannot make a later one look a lease long.
        self._ttl_s = math.ceil(lease_s + 3 * interval_s) + 1

    async def abandoned(self, job: LedgerJob) -> bool:
        """Whether no run of unheld `job` can be going: past its timeout, or unheld a lease."""
        if job.started_at is not None:
            deadline = job.started_at + timedelta(seconds=job.timeout_s + self._grace_s)
            if deadline < datetime.now(UTC):
                return True
        key, now_ms = self._keys.sweeper_unheld(job.id), int(time.time() * 1000)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, now_ms, nx=True, ex=self._ttl_s)
            pipe.get(key)
            _, first_seen = await pipe.execute()
        return now_ms - int(first_seen) >= self._lease_ms


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
            lease_s=settings.job_lease_s,
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
