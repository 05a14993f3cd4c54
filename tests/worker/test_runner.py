from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from arq.constants import in_progress_key_prefix

from producers.client import FerryClient
from producers.errors import JobFailed, JobRejected, JobTimedOut
from schemas.keys import Queue
from schemas.results import ErrorKind, JobStatus
from store.ledger import LedgerJob
from tests.pipeline import (
    LongProbeJob,
    ProbeJob,
    ProbeResult,
    died_after_pushing,
    running_worker,
)
from worker.settings import Settings

GOOD = {"message": "hi"}


def envelope(**changes: object) -> dict[str, object]:
    return {"kind": ProbeJob.kind, "schema_version": 1, "payload": dict(GOOD), **changes}


@pytest.mark.parametrize(
    ("function", "job", "loc", "words"),
    [
        (
            ProbeJob.kind,
            envelope(payload={"message": ["not", "text"]}),
            "payload.message",
            "string",
        ),
        (ProbeJob.kind, envelope(payload={}), "payload.message", "Field required"),
        (ProbeJob.kind, envelope(payload={**GOOD, "colour": "red"}), "payload.colour", "Extra"),
        (ProbeJob.kind, envelope(schema_version=99), "schema_version", "expected 1, got 99"),
        (ProbeJob.kind, {"kind": ProbeJob.kind, "payload": GOOD}, "schema_version", "required"),
        (ProbeJob.kind, envelope(kind="test.other"), "kind", "unknown job kind"),
        ("clone.everything", envelope(), "kind", "unknown job kind 'clone.everything'"),
    ],
    ids=[
        "wrong-type",
        "missing-field",
        "extra-field",
        "schema-version",
        "no-version",
        "unknown-kind-in-envelope",
        "unknown-function",
    ],
)
async def test_bad_payloads_fail_naming_the_field_and_the_worker_keeps_running(
    ferry: FerryClient, settings: Settings, function: str, job: object, loc: str, words: str
) -> None:
    async with running_worker(settings):
        await ferry.redis.enqueue_job(
            function,
            job,
            _job_id=ferry.keys.arq_job_id("bad"),
            _queue_name=ferry.keys.queue(Queue.chat),
        )
        with pytest.raises(JobRejected) as info:
            await ferry.handle("bad").result(timeout=10)
        # The same worker goes on with the next job.
        good = await ferry.enqueue(ProbeJob(message="after"))
        assert await good.result(timeout=10) == ProbeResult(echo="after", attempt=1)
    [field] = info.value.fields
    assert field.loc == loc
    assert words in field.message
    row = await ferry.ledger_row("bad")
    assert row is not None and row.status.value == "failed"


async def test_bytes_that_are_not_json_are_rejected_and_the_worker_keeps_running(
    ferry: FerryClient, settings: Settings
) -> None:
    arq_id = ferry.keys.arq_job_id("garbage")
    async with running_worker(settings):
        # A job put on the queue by hand, as pickle would: not JSON at all.
        await ferry.redis.set(f"arq:job:{arq_id}", b"\x80\x04\x95garbage")
        await ferry.redis.zadd(ferry.keys.queue(Queue.chat), {arq_id: 1})
        with pytest.raises(JobRejected) as info:
            await ferry.handle("garbage").result(timeout=10)
        good = await ferry.enqueue(ProbeJob(message="still here"))
        assert await good.result(timeout=10) == ProbeResult(echo="still here", attempt=1)
    assert "not JSON" in str(info.value)


async def run_raw(ferry: FerryClient, job_id: str, body: bytes) -> JobRejected:
    """Put `body` on the chat queue by hand, as a foreign producer might; the rejection."""
    arq_id = ferry.keys.arq_job_id(job_id)
    await ferry.redis.set(f"arq:job:{arq_id}", body)
    await ferry.redis.zadd(ferry.keys.queue(Queue.chat), {arq_id: 1})
    with pytest.raises(JobRejected) as info:
        await ferry.handle(job_id).result(timeout=10)
    return info.value


def arq_job(**changes: object) -> bytes:
    job = {"t": 1, "f": ProbeJob.kind, "a": [envelope()], "k": {}, "et": 1, **changes}
    return json.dumps({k: v for k, v in job.items() if v is not DROP}).encode()


DROP = object()


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        (arq_job(a=[envelope(), "extra"]), "(job)", "got 2 positional and 0 keyword"),
        (arq_job(k={"colour": "red"}), "(job)", "got 1 positional and 1 keyword"),
        (arq_job(et=DROP, k=DROP), None, None),
        (arq_job(a=[envelope(payload={"message": "a\x00b"})]), "payload.message", "NUL"),
        (
            b'{"t":1,"f":"test.probe","k":{},"et":1,"a":[' + b"[" * 100_000,
            "(job)",
            "nested deeper than 64",
        ),
        (
            arq_job(a=[{"kind": ProbeJob.kind, "deep": json.loads("[" * 200 + "]" * 200)}]),
            "deep" + "[0]" * 64,
            "nested deeper than 64",
        ),
        (arq_job(a=[envelope(payload={"message": "x" * 2_000_000})]), "(job)", "over the limit"),
    ],
    ids=[
        "extra-arg",
        "kwargs",
        "no-et-no-k",
        "nul",
        "depth-bomb",
        "deep",
        "10mb",
    ],
)
async def test_every_entry_on_the_queue_gets_an_outcome_whatever_its_shape(
    ferry: FerryClient, settings: Settings, body: bytes, loc: str | None, words: str | None
) -> None:
    async with running_worker(settings):
        if loc is None:
            # Odd but readable: it runs.
            arq_id = ferry.keys.arq_job_id("odd")
            await ferry.redis.set(f"arq:job:{arq_id}", body)
            await ferry.redis.zadd(ferry.keys.queue(Queue.chat), {arq_id: 1})
            assert await ferry.handle("odd").outcome(timeout=10) is not None
        else:
            error = await run_raw(ferry, "odd", body)
            assert [f.loc for f in error.fields] == [loc]
            assert words in error.fields[0].message
        good = await ferry.enqueue(ProbeJob(message="after"))
        assert await good.result(timeout=10) == ProbeResult(echo="after", attempt=1)


async def test_a_queue_entry_whose_id_is_not_text_is_dropped_and_the_worker_goes_on(
    ferry: FerryClient, settings: Settings
) -> None:
    queue = ferry.keys.queue(Queue.chat)
    async with running_worker(settings):
        await ferry.redis.zadd(queue, {b"\xff\xfe-not-text": 1})
        good = await ferry.enqueue(ProbeJob(message="after"))
        assert await good.result(timeout=10) == ProbeResult(echo="after", attempt=1)
    assert await ferry.redis.zcard(queue) == 0


async def test_the_jobs_own_timeout_is_told_apart_from_a_timeout_inside_it(
    ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        inner = await ferry.enqueue(ProbeJob(message="inner", action="inner_timeout"))
        with pytest.raises(JobFailed) as info:
            await inner.result(timeout=10)
        overrun = await ferry.enqueue(ProbeJob(message="slow", action="sleep", seconds=10))
        with pytest.raises(JobTimedOut):
            await overrun.result(timeout=10)
    assert type(info.value) is JobFailed
    assert info.value.error.kind is ErrorKind.internal
    assert info.value.error.message.startswith("TimeoutError inside the job")


async def test_a_job_whose_outcome_is_stored_is_never_run_again(
    ferry: FerryClient, settings: Settings, db: asyncpg.Pool
) -> None:
    handle = await ferry.enqueue(ProbeJob(message="ran once"))
    after = await ferry.enqueue(ProbeJob(message="next in line"))
    # Its first worker pushed the outcome and died before the ledger write; arq still has it.
    first = await died_after_pushing(ferry, db, handle.job_id, "ran once")
    async with running_worker(settings.model_copy(update={"worker_max_jobs": 1})):
        assert await handle.result(timeout=10) == ProbeResult(echo="ran once", attempt=1)
        # One worker slot, in order: once the next job is done, the first's ledger write is.
        assert await after.result(timeout=10) == ProbeResult(echo="next in line", attempt=1)
    assert await ferry.redis.get(f"{ferry.keys.prefix}:runs:{handle.job_id}") is None
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and row.outcome() == first


# A lease far shorter than the kind's timeout (LongProbeJob: 1800 s).
SHORT_LEASE_S = 1.0
ROOT = Path(__file__).parents[2]


async def until_status(
    ferry: FerryClient, job_id: str, status: JobStatus, attempts: int
) -> LedgerJob:
    """The job's ledger row once it reads `status` after `attempts` attempts."""
    async with asyncio.timeout(20):
        while True:
            row = await ferry.ledger_row(job_id)
            if row is not None and row.status is status and row.attempts == attempts:
                return row
            await asyncio.sleep(0.02)


def probe_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "tests.worker.serve",
        "--redis", settings.redis_url,
        "--db", settings.database_url,
        "--schema", settings.database_schema or "",
        "--prefix", settings.redis_key_prefix,
        "--lease", str(SHORT_LEASE_S),
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=out, env=os.environ)


@pytest.mark.slow
async def test_a_killed_workers_long_job_runs_again_within_the_lease_not_its_timeout(
    ferry: FerryClient, settings: Settings, tmp_path: Path
) -> None:
    job = LongProbeJob(message="survives", action="sleep_first", seconds=3600)
    doomed = probe_worker(settings, tmp_path / "worker.log")
    try:
        handle = await ferry.enqueue(job)
        await until_status(ferry, handle.job_id, JobStatus.running, attempts=1)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        killed = time.monotonic()
        short = settings.model_copy(update={"job_lease_s": SHORT_LEASE_S})
        async with running_worker(short, Queue.chat):
            assert await handle.result(timeout=30) == ProbeResult(echo="survives", attempt=2)
        recovered_s = time.monotonic() - killed
    finally:
        if doomed.poll() is None:
            doomed.kill()
    # The dead run's lease ends at most a lease after its last heartbeat; the rest is polling.
    assert recovered_s < SHORT_LEASE_S + 3
    assert await ferry.redis.get(f"{ferry.keys.prefix}:runs:{handle.job_id}") == b"2"
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and (row.status, row.attempts) == (JobStatus.succeeded, 2)


async def test_a_live_jobs_heartbeat_keeps_it_from_other_workers_past_the_lease(
    ferry: FerryClient, settings: Settings
) -> None:
    short = settings.model_copy(update={"job_lease_s": SHORT_LEASE_S})
    handle = await ferry.enqueue(LongProbeJob(message="mine", action="sleep", seconds=4))
    async with running_worker(short, Queue.chat):
        await until_status(ferry, handle.job_id, JobStatus.running, attempts=1)
        # A second worker polls the same queue for the four leases the job runs.
        async with running_worker(short, Queue.chat):
            assert await handle.result(timeout=20) == ProbeResult(echo="mine", attempt=1)
    assert await ferry.redis.get(f"{ferry.keys.prefix}:runs:{handle.job_id}") == b"1"
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and (row.status, row.attempts) == (JobStatus.succeeded, 1)


async def test_a_run_whose_job_was_taken_by_another_run_stops_and_publishes_nothing(
    ferry: FerryClient, settings: Settings
) -> None:
    short = settings.model_copy(update={"job_lease_s": SHORT_LEASE_S})
    handle = await ferry.enqueue(LongProbeJob(message="taken", action="sleep_first", seconds=60))
    in_progress = in_progress_key_prefix + ferry.keys.arq_job_id(handle.job_id)
    async with running_worker(short, Queue.chat):
        await until_status(ferry, handle.job_id, JobStatus.running, attempts=1)
        # What a run elsewhere leaves once this one's lease lapsed: its own mark, its lease.
        await ferry.redis.set(in_progress, b"run:elsewhere", px=int(SHORT_LEASE_S * 1000))
        # The first run stops at its next heartbeat and leaves the job queued; once the other
        # run's lease lapses too, the job runs again here (attempt 2) and finishes.
        assert await handle.result(timeout=20) == ProbeResult(echo="taken", attempt=2)
    assert await ferry.redis.get(f"{ferry.keys.prefix}:runs:{handle.job_id}") == b"2"
    row = await ferry.ledger_row(handle.job_id)
    assert row is not None and (row.status, row.attempts) == (JobStatus.succeeded, 2)
