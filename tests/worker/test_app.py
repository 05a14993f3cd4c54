from __future__ import annotations

import asyncio
import os
import signal

import pytest

from producers.client import FerryClient
from schemas.keys import Queue
from schemas.results import JobStatus
from tests.pipeline import PROBE_HANDLERS, BulkProbeJob, ProbeJob, ProbeResult, running_worker
from worker.app import POLL_DELAY_S, run_workers
from worker.settings import Settings


async def start_then_sigterm(ferry: FerryClient, settings: Settings, job: ProbeJob) -> str:
    """Run a worker process loop, start `job` on it, SIGTERM this process, wait for the stop."""
    serving = asyncio.create_task(run_workers([job.queue], settings, PROBE_HANDLERS))
    handle = await ferry.enqueue(job)
    async with asyncio.timeout(10):
        while await handle.status() is not JobStatus.running:  # noqa: ASYNC110 - a Postgres row
            await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, timeout=15)
    return handle.job_id


async def test_sigterm_lets_a_running_job_finish(ferry: FerryClient, settings: Settings) -> None:
    job = ProbeJob(message="finish me", action="sleep", seconds=0.5)
    job_id = await start_then_sigterm(ferry, settings, job)
    row = await ferry.ledger_row(job_id)
    assert row is not None and row.status is JobStatus.succeeded


async def test_sigterm_past_the_grace_hands_the_job_back_for_another_worker(
    ferry: FerryClient, settings: Settings
) -> None:
    impatient = settings.model_copy(update={"worker_shutdown_grace_s": 0})
    job = ProbeJob(message="hand me back", action="sleep", seconds=1.0)
    job_id = await start_then_sigterm(ferry, impatient, job)
    row = await ferry.ledger_row(job_id)
    assert row is not None and row.status is JobStatus.queued
    async with running_worker(settings):
        result = await ferry.handle(job_id, result_model=ProbeResult).result(timeout=10)
    assert result == ProbeResult(echo="hand me back", attempt=2)


async def test_one_process_serves_several_queues_and_chat_never_waits_behind_bulk(
    ferry: FerryClient, settings: Settings
) -> None:
    serving = asyncio.create_task(run_workers([Queue.chat, Queue.clone], settings, PROBE_HANDLERS))
    try:
        bulk = [
            await ferry.enqueue(BulkProbeJob(message=f"bulk {i}", action="sleep", seconds=2))
            for i in range(12)
        ]
        await asyncio.sleep(0.6)  # the clone worker is busy with every slot it has
        chat = await ferry.enqueue(ProbeJob(message="quick"))
        async with asyncio.timeout(1.5):
            assert await chat.result() == ProbeResult(echo="quick", attempt=1)
        assert await bulk[-1].status() is JobStatus.queued
    finally:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(serving, timeout=15)


async def test_a_full_worker_starts_a_job_queued_meanwhile_as_soon_as_a_slot_frees(
    ferry: FerryClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle wait far past the test's patience: only the freed slot can start the second job.
    monkeypatch.setitem(POLL_DELAY_S, Queue.chat, 60)
    one_slot = settings.model_copy(update={"worker_max_jobs": 1})
    async with running_worker(one_slot):
        first = await ferry.enqueue(ProbeJob(message="first", action="sleep", seconds=0.5))
        async with asyncio.timeout(10):
            while await first.status() is not JobStatus.running:  # noqa: ASYNC110 - a Postgres row
                await asyncio.sleep(0.01)
        second = await ferry.enqueue(ProbeJob(message="second"))
        async with asyncio.timeout(5):
            assert await second.result() == ProbeResult(echo="second", attempt=1)
        assert await first.status() is JobStatus.succeeded
