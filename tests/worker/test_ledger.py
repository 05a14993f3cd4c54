from __future__ import annotations

import asyncio

import asyncpg
import pytest

from producers.client import FerryClient
from producers.errors import JobLost
from schemas.results import ErrorKind, JobStatus
from tests.pipeline import ProbeJob, ProbeResult, running_worker
from worker.ledger import sweep
from worker.settings import Settings


async def forget_everything_redis_knows(ferry: FerryClient) -> None:
    """What a Redis restart without persistence does to the queue."""
    keys = [k async for k in ferry.redis.scan_iter(match=f"arq:*{ferry.keys.prefix}:*")]
    keys += [k async for k in ferry.redis.scan_iter(match=f"{ferry.keys.prefix}:*")]
    if keys:
        await ferry.redis.delete(*keys)


async def test_a_job_redis_lost_is_enqueued_again_by_the_sweeper_and_completes(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="survivor"))
    await forget_everything_redis_knows(ferry)
    await db.execute("UPDATE jobs SET updated_at = now() - interval '1 minute'")

    counts = await sweep(db, ferry.redis, ferry.keys, queued_grace_s=10, running_grace_s=10)

    assert counts == {"requeued": 1, "reconciled": 0, "lost": 0}
    async with running_worker(settings):
        assert await handle.result(timeout=10) == ProbeResult(echo="survivor", attempt=1)


async def test_the_sweeper_leaves_jobs_redis_still_holds_alone(
    ferry: FerryClient, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="waiting its turn"))
    await db.execute("UPDATE jobs SET updated_at = now() - interval '1 minute'")
    counts = await sweep(db, ferry.redis, ferry.keys, queued_grace_s=10, running_grace_s=10)
    assert counts == {"requeued": 0, "reconciled": 0, "lost": 0}
    assert await handle.status() is JobStatus.queued


async def test_the_sweeper_runs_on_a_schedule_inside_the_worker(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="found again"))
    await forget_everything_redis_knows(ferry)
    # No manual sweep: the worker's cron sweeper (every second here) must find it.
    async with running_worker(settings):
        await asyncio.sleep(1.2)  # past the sweeper's grace for queued jobs
        assert await handle.result(timeout=10) == ProbeResult(echo="found again", attempt=1)


async def test_a_job_running_past_its_timeout_with_no_worker_is_failed_as_lost(
    ferry: FerryClient, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="orphan"))
    # Its worker started it, then died with Redis: nobody holds it any more.
    await db.execute(
        "UPDATE jobs SET status = 'running', attempts = 1, started_at = now() - interval '1 hour'"
    )
    await forget_everything_redis_knows(ferry)
    waiting = asyncio.create_task(handle.result(timeout=10))
    await asyncio.sleep(0.05)

    counts = await sweep(db, ferry.redis, ferry.keys, queued_grace_s=10, running_grace_s=60)

    assert counts["lost"] == 1
    with pytest.raises(JobLost) as info:
        await waiting
    assert info.value.error.kind is ErrorKind.lost
    assert "timeout (3 s)" in info.value.error.message
