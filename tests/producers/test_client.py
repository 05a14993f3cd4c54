from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from producers.client import FerryClient
from producers.errors import JobFailed, JobRejected, ResultTimeout
from schemas.keys import Queue
from schemas.results import ErrorKind, JobStatus
from tests.pipeline import ProbeJob, ProbeResult, running_worker
from worker.settings import Settings


async def test_enqueued_job_runs_and_its_result_is_pushed(
    ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        handle = await ferry.enqueue(ProbeJob(message="hello"))
        result = await handle.result(timeout=10)
    assert result == ProbeResult(echo="hello", attempt=1)
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and row.status is JobStatus.succeeded
    assert row.result == {"echo": "hello", "attempt": 1}
    assert row.attempts == 1 and row.finished_at is not None


async def test_waiting_before_the_worker_starts_still_gets_the_push(
    ferry: FerryClient, settings: Settings
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="early"))
    waiting = asyncio.create_task(handle.result(timeout=10))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    async with running_worker(settings):
        result = await waiting
    assert result == ProbeResult(echo="early", attempt=1)


async def test_result_of_a_job_finished_long_ago_comes_from_the_ledger(
    ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        handle = await ferry.enqueue(ProbeJob(message="done"))
        await handle.result(timeout=10)
    # Redis forgot the pushed outcome (a restart, or a day went by); no worker is running.
    await ferry.redis.delete(ferry.keys.outcome(handle.job_id))
    again = ferry.handle(handle.job_id, result_model=ProbeResult)
    assert await again.result(timeout=1) == ProbeResult(echo="done", attempt=1)


async def test_the_same_job_enqueued_twice_runs_once(
    ferry: FerryClient, settings: Settings
) -> None:
    job = ProbeJob(message="once", action="sleep", seconds=0.2)
    first = await ferry.enqueue(job)
    second = await ferry.enqueue(job)
    assert first.job_id == second.job_id
    async with running_worker(settings):
        results = await asyncio.gather(first.result(timeout=10), second.result(timeout=10))
        third = await ferry.enqueue(job)  # after it finished: same handle, no new run
        assert await third.result(timeout=5) == results[0]
        await asyncio.sleep(0.3)
    runs = await ferry.redis.get(f"{settings.redis_key_prefix}:runs:{first.job_id}")
    assert int(runs) == 1


async def test_a_failing_job_raises_a_typed_error(ferry: FerryClient, settings: Settings) -> None:
    async with running_worker(settings):
        failing = await ferry.enqueue(ProbeJob(message="nope", action="fail"))
        crashing = await ferry.enqueue(ProbeJob(message="boom", action="crash"))
        with pytest.raises(JobFailed) as failed:
            await failing.result(timeout=10)
        with pytest.raises(JobFailed) as crashed:
            await crashing.result(timeout=10)
    assert failed.value.error.kind is ErrorKind.failed
    assert failed.value.error.detail == {"code": "probe_failed"}
    assert "asked to fail: nope" in str(failed.value)
    assert crashed.value.error.kind is ErrorKind.internal
    assert "RuntimeError: asked to crash: boom" in crashed.value.error.message
    row = await ferry.ledger_row(failing.job_id)
    assert row is not None and row.status is JobStatus.failed


async def test_a_job_past_its_timeout_fails_with_a_timeout_error(
    ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        handle = await ferry.enqueue(ProbeJob(message="slow", action="sleep", seconds=30))
        with pytest.raises(JobFailed) as info:
            await handle.result(timeout=10)
    assert info.value.error.kind is ErrorKind.timeout
    assert "timeout of 3 s" in info.value.error.message


async def test_a_job_asking_to_retry_runs_again_and_then_succeeds(
    ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        handle = await ferry.enqueue(ProbeJob(message="again", action="retry", count=3))
        result = await handle.result(timeout=10)
    assert result == ProbeResult(echo="again", attempt=3)
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and row.attempts == 3


async def test_waiting_longer_than_the_caller_allows_raises_result_timeout(
    ferry: FerryClient,
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="nobody runs me"))
    with pytest.raises(ResultTimeout):
        await handle.result(timeout=0.2)
    assert await handle.status() is JobStatus.queued


async def test_bad_payload_is_rejected_naming_the_field(
    ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        # What a producer on another schema version, or a buggy one, might send.
        await ferry.redis.enqueue_job(
            ProbeJob.kind,
            {"kind": ProbeJob.kind, "schema_version": 1, "payload": {"message": 42}},
            _job_id=ferry.keys.arq_job_id("bad-type"),
            _queue_name=ferry.keys.queue("chat"),
        )
        with pytest.raises(JobRejected) as info:
            await ferry.handle("bad-type").result(timeout=10)
    assert [f.loc for f in info.value.fields] == ["payload.message"]
    assert "payload.message" in str(info.value)


class DataJob(ProbeJob):
    kind: ClassVar[str] = "test.data"

    data: dict[str, Any] = {}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize(
    ("job", "loc", "words"),
    [
        (ProbeJob(message="zero\x00byte"), "payload.message", "NUL character"),
        (DataJob(message="k", data={"a\x00": 1}), "payload.data.a\x00", "key contains a NUL"),
        (DataJob(message="deep", data=nested(200)), "payload.data" + ".d" * 63, "deeper than 64"),
        (ProbeJob(message="x" * 10_000_000), "payload", "over the limit of 1048576"),
    ],
    ids=["nul", "nul-key", "depth", "10mb"],
)
async def test_a_job_that_cannot_be_stored_is_refused_at_the_client_naming_the_field(
    ferry: FerryClient, job: ProbeJob, loc: str, words: str
) -> None:
    with pytest.raises(JobRejected) as info:
        await ferry.enqueue(job)
    [field] = info.value.fields
    assert field.loc == loc
    assert words in field.message
    assert await ferry.jobs() == []
    assert await ferry.redis.zcard(ferry.keys.queue(job.queue)) == 0


async def test_queueing_chat_jobs_leaves_one_wake_for_an_idle_worker(
    ferry: FerryClient, settings: Settings
) -> None:
    handles = [await ferry.enqueue(ProbeJob(message=f"m{i}")) for i in range(3)]
    # One entry however many jobs: a woken worker reads every job that is due.
    assert await ferry.redis.lrange(ferry.keys.queue_wake(Queue.chat), 0, -1) == [b"1"]
    assert await ferry.redis.exists(ferry.keys.queue_wake(Queue.patch)) == 0
    async with running_worker(settings):
        results = [await handle.result(timeout=10) for handle in handles]
    assert [r.echo for r in results] == ["m0", "m1", "m2"]
