"""A test-only job kind and a worker runner, for testing the pipeline itself.

`ProbeJob` does what its payload says (echo, fail, crash, sleep, retry, time out inside), and
counts its runs in Redis, so a test can tell how many times it really ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import asyncpg
from arq import Retry
from pydantic import BaseModel

from producers.client import FerryClient
from schemas.jobs import Job
from schemas.keys import Queue
from schemas.results import JobOutcome, JobStatus
from worker.app import WorkerProcess
from worker.kinds import JobContext, JobFailure, JobHandler
from worker.settings import Settings


class ProbeResult(BaseModel):
    echo: str
    attempt: int


class ProbeJob(Job[ProbeResult]):
    kind: ClassVar[str] = "test.probe"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 3
    max_tries: ClassVar[int] = 3
    result_model: ClassVar[type[BaseModel]] = ProbeResult

    message: str
    action: Literal["echo", "fail", "crash", "sleep", "sleep_first", "retry", "inner_timeout"] = (
        "echo"
    )
    seconds: float = 0.0
    count: int = 1


class BulkProbeJob(ProbeJob):
    kind: ClassVar[str] = "test.bulk_probe"
    queue: ClassVar[Queue] = Queue.clone


class LongProbeJob(ProbeJob):
    """A kind with a clone-sized timeout: its recovery must not wait for it."""

    kind: ClassVar[str] = "test.long_probe"
    timeout_s: ClassVar[int] = 1800


def runs_key(ctx: JobContext) -> str:
    return f"{ctx.keys.prefix}:runs:{ctx.job_id}"


async def run_probe(ctx: JobContext, job: ProbeJob) -> ProbeResult:
    await ctx.redis.incr(runs_key(ctx))
    if job.action == "fail":
        raise JobFailure(f"asked to fail: {job.message}", detail={"code": "probe_failed"})
    if job.action == "crash":
        raise RuntimeError(f"asked to crash: {job.message}")
    if job.action == "sleep" or (job.action == "sleep_first" and ctx.attempt == 1):
        await asyncio.sleep(job.seconds)
    if job.action == "inner_timeout":
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)  # a call of the job's own that timed out
    if job.action == "retry" and ctx.attempt < job.count:
        raise Retry(defer=0.05)
    return ProbeResult(echo=job.message, attempt=ctx.attempt)


PROBE_HANDLERS: list[JobHandler[Any]] = [
    JobHandler(ProbeJob, run_probe),
    JobHandler(BulkProbeJob, run_probe),
    JobHandler(LongProbeJob, run_probe),
]


async def died_after_pushing(
    ferry: FerryClient, db: asyncpg.Pool, job_id: str, echo: str, *, started_s_ago: float = 0
) -> JobOutcome:
    """Leave `job_id` as a worker that pushed its success and died before the ledger write."""
    await db.execute(
        "UPDATE jobs SET status = 'running', attempts = 1, "
        "started_at = now() - make_interval(secs => $2) WHERE id = $1",
        job_id,
        started_s_ago,
    )
    pushed = JobOutcome(
        job_id=job_id,
        kind=ProbeJob.kind,
        status=JobStatus.succeeded,
        result={"echo": echo, "attempt": 1},
        attempts=1,
        finished_at=datetime.now(UTC),
    )
    await ferry.redis.set(ferry.keys.outcome(job_id), pushed.model_dump_json())
    return pushed


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    queue: Queue = Queue.chat,
    handlers: Sequence[JobHandler[Any]] = PROBE_HANDLERS,
) -> AsyncIterator[WorkerProcess]:
    """A worker process's loop for `queue`, in this event loop, until the block ends.

    At the end it stops as on SIGTERM: running jobs get the settings' grace to finish.
    """
    process = WorkerProcess([queue], settings, handlers)
    task = asyncio.create_task(process.run())
    ready = asyncio.create_task(process.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # raises what stopped it
    try:
        yield process
    finally:
        process.stop(signal.SIGTERM)
        await task
