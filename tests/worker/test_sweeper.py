from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix

from producers.client import FerryClient
from schemas.keys import Queue
from schemas.results import JobStatus
from tests.pipeline import (
    LongProbeJob,
    ProbeJob,
    ProbeResult,
    died_after_pushing,
    running_worker,
)
from worker.ledger_batch import LedgerBatch
from worker.settings import Settings
from worker.sweeper import Sweeper, sweep


async def forget_everything_redis_knows(ferry: FerryClient) -> None:
    """What a Redis restart without persistence does to the queue."""
    keys = [k async for k in ferry.redis.scan_iter(match=f"arq:*{ferry.keys.prefix}:*")]
    keys += [k async for k in ferry.redis.scan_iter(match=f"{ferry.keys.prefix}:*")]
    if keys:
        await ferry.redis.delete(*keys)


async def sweep_now(ferry: FerryClient, db: asyncpg.Pool) -> dict[str, int]:
    return await sweep(
        LedgerBatch(db), ferry.redis, ferry.keys, queued_grace_s=10, running_grace_s=10, lease_s=10
    )


async def test_a_job_redis_lost_is_enqueued_again_by_the_sweeper_and_completes(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="survivor"))
    await forget_everything_redis_knows(ferry)
    await db.execute("UPDATE jobs SET updated_at = now() - interval '1 minute'")

    assert await sweep_now(ferry, db) == {"repaired": 0, "requeued": 1, "failed": 0}
    async with running_worker(settings):
        assert await handle.result(timeout=10) == ProbeResult(echo="survivor", attempt=1)


async def test_the_sweeper_leaves_jobs_redis_still_holds_alone(
    ferry: FerryClient, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="waiting its turn"))
    await db.execute("UPDATE jobs SET updated_at = now() - interval '1 minute'")
    assert await sweep_now(ferry, db) == {"repaired": 0, "requeued": 0, "failed": 0}
    assert await handle.status() is JobStatus.queued


async def test_the_sweeper_runs_on_a_schedule_inside_the_worker(
    ferry: FerryClient, settings: Settings
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="found again"))
    await forget_everything_redis_knows(ferry)
    # No manual sweep: the worker's sweeper (every second here) must find it.
    async with running_worker(settings):
        assert await handle.result(timeout=10) == ProbeResult(echo="found again", attempt=1)


async def test_a_running_job_no_worker_holds_is_run_again_not_failed(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="orphan"))
    # Its worker started it, then died with Redis: nobody holds it any more.
    await db.execute(
        "UPDATE jobs SET status = 'running', attempts = 1, started_at = now() - interval '1 hour'"
    )
    await forget_everything_redis_knows(ferry)

    assert await sweep_now(ferry, db) == {"repaired": 0, "requeued": 1, "failed": 0}
    async with running_worker(settings):
        assert await handle.result(timeout=10) == ProbeResult(echo="orphan", attempt=2)


async def test_a_running_job_within_its_timeout_is_enqueued_again_once_unheld_a_lease(
    ferry: FerryClient, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(LongProbeJob(message="lease lost"))
    # Started a minute ago (past a 30 s lease + 10 s grace, far within its 1800 s timeout),
    # then Redis lost everything: its worker may be alive and about to take its lease back.
    await db.execute(
        "UPDATE jobs SET status = 'running', attempts = 1, started_at = now() - interval '1 minute'"
    )
    await forget_everything_redis_knows(ferry)
    arq_id = ferry.keys.arq_job_id(handle.job_id)
    unheld = ferry.keys.sweeper_unheld(handle.job_id)

    async def sweep_with_lease() -> dict[str, int]:
        return await sweep(
            LedgerBatch(db), ferry.redis, ferry.keys, queued_grace_s=10, running_grace_s=10,
            lease_s=30,
        )  # fmt: skip

    assert await sweep_with_lease() == {"repaired": 0, "requeued": 0, "failed": 0}
    assert await ferry.redis.exists(unheld) == 1
    # Its worker took the lease back: however long ago it was first found unheld, it stays.
    await ferry.redis.set(unheld, int(time.time() * 1000) - 31_000)
    await ferry.redis.set(in_progress_key_prefix + arq_id, b"run:alive", px=30_000)
    assert await sweep_with_lease() == {"repaired": 0, "requeued": 0, "failed": 0}
    # No worker took it back for a whole lease: enqueued again.
    await ferry.redis.delete(in_progress_key_prefix + arq_id)
    assert await sweep_with_lease() == {"repaired": 0, "requeued": 1, "failed": 0}
    assert await ferry.redis.exists(job_key_prefix + arq_id, unheld) == 1


async def test_a_success_already_pushed_is_recorded_never_contradicted(
    ferry: FerryClient, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="done once"))
    pushed = await died_after_pushing(ferry, db, handle.job_id, "done once", started_s_ago=3600)
    await ferry.redis.delete(f"arq:job:{ferry.keys.arq_job_id(handle.job_id)}")

    assert await sweep_now(ferry, db) == {"repaired": 1, "requeued": 0, "failed": 0}
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and row.outcome() == pushed
    assert await handle.result(timeout=1) == ProbeResult(echo="done once", attempt=1)


async def test_arqs_own_verdict_on_a_lost_body_is_not_the_jobs(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="body lost"))
    arq_id = ferry.keys.arq_job_id(handle.job_id)
    # arq found the queue entry without its body and recorded `job expired` by itself.
    await ferry.redis.delete(f"arq:job:{arq_id}")
    async with running_worker(settings):
        assert await handle.result(timeout=10) == ProbeResult(echo="body lost", attempt=1)


async def test_one_bad_row_is_failed_with_its_reason_and_the_sweep_goes_on(
    ferry: FerryClient, db: asyncpg.Pool
) -> None:
    bad = await ferry.enqueue(ProbeJob(message="from a newer producer"))
    good = await ferry.enqueue(ProbeJob(message="plain"))
    await forget_everything_redis_knows(ferry)
    await db.execute("UPDATE jobs SET queue = 'priority' WHERE id = $1", bad.job_id)
    await db.execute("UPDATE jobs SET updated_at = now() - interval '1 minute'")

    assert await sweep_now(ferry, db) == {"repaired": 0, "requeued": 1, "failed": 1}
    outcome = await bad.outcome(timeout=1)
    assert outcome.error is not None
    assert "'priority' is not a valid Queue" in outcome.error.message
    assert await good.status() is JobStatus.queued
    assert await ferry.redis.zcard(ferry.keys.queue(Queue.chat)) == 1


@pytest.mark.parametrize("processes", [3])
async def test_one_sweep_per_interval_per_deployment(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool, processes: int
) -> None:
    hourly = settings.model_copy(update={"sweeper_interval_s": 3600})
    ctx = {"settings": hourly, "keys": ferry.keys, "redis": ferry.redis, "ledger": LedgerBatch(db)}
    other = {**ctx, "keys": type(ferry.keys)(ferry.keys.prefix + "-other")}
    results = await asyncio.gather(
        *(Sweeper(ctx).run_once() for _ in range(processes)), Sweeper(other).run_once()
    )
    # One of this deployment's processes swept; the other deployment swept its own.
    assert sum(r is not None for r in results[:processes]) == 1
    assert results[-1] is not None
