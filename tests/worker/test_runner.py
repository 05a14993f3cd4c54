from __future__ import annotations

import pytest

from producers.client import FerryClient
from producers.errors import JobRejected
from schemas.keys import Queue
from tests.pipeline import ProbeJob, ProbeResult, running_worker
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
