from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from schemas.job_events import STREAM_MAXLEN, STREAM_TTL_S, JobEvent, JobEventType
from store.api_tokens import Scope
from tests.api.conftest import RunningApi, api_settings, serving
from tests.api.sse import events, read_all
from tests.pipeline import PROBE_HANDLERS, ProbeJob, ProbeResult, running_worker
from worker.kinds import JobContext, JobHandler
from worker.settings import Settings


@pytest.fixture
async def http(api: RunningApi) -> httpx.AsyncClient:
    client = await api.client(Scope.read, Scope.jobs_write)
    async with client:
        yield client


def refusal(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    return {f["loc"]: f["message"] for f in response.json()["error"]["fields"]}


async def test_a_job_enqueued_over_http_runs_once_and_its_result_is_long_polled(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    body = {"payload": {"message": "hello"}}
    first = await http.post("/jobs/test.probe", json=body)
    second = await http.post("/jobs/test.probe", json=body)
    assert first.status_code == second.status_code == 202
    job_id = first.json()["id"]
    assert job_id == second.json()["id"] == ProbeJob(message="hello").job_id()
    assert first.json()["status"] == "queued" and first.json()["payload"] == {
        "message": "hello",
        "action": "echo",
        "seconds": 0.0,
        "count": 1,
    }
    not_yet = await http.get(f"/jobs/{job_id}/result", params={"wait": 0.2})
    assert not_yet.status_code == 202 and not_yet.json()["status"] == "queued"

    waiting = asyncio.create_task(http.get(f"/jobs/{job_id}/result", params={"wait": 20}))
    async with running_worker(settings):
        done = await waiting
    assert done.status_code == 200
    outcome = done.json()
    assert outcome["status"] == "succeeded" and outcome["job_id"] == job_id
    assert ProbeResult.model_validate(outcome["result"]) == ProbeResult(echo="hello", attempt=1)
    view = (await http.get(f"/jobs/{job_id}")).json()
    assert view["status"] == "succeeded" and view["attempts"] == 1
    assert view["outcome"] == outcome
    listed = (await http.get("/jobs", params={"kind": "test.probe"})).json()["data"]
    assert [job["id"] for job in listed] == [job_id]


async def test_one_request_enqueues_and_awaits_with_wait(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    body = {"payload": {"message": "at once"}}
    job_id = ProbeJob(message="at once").job_id()
    not_yet = await http.post("/jobs/test.probe", params={"wait": 0.2}, json=body)
    assert not_yet.status_code == 202
    assert not_yet.json()["id"] == job_id and not_yet.json()["status"] == "queued"
    async with running_worker(settings):
        done = await http.post("/jobs/test.probe", params={"wait": 20}, json=body)
    assert done.status_code == 200
    outcome = done.json()
    assert outcome["job_id"] == job_id and outcome["status"] == "succeeded"
    assert ProbeResult.model_validate(outcome["result"]) == ProbeResult(echo="at once", attempt=1)
    # The same body again is the same (finished) job: its outcome at once, not a second run.
    again = await http.post("/jobs/test.probe", params={"wait": 20}, json=body, timeout=10)
    assert again.status_code == 200 and again.json() == outcome
    assert (await http.get(f"/jobs/{job_id}/result")).json() == outcome
    view = (await http.get(f"/jobs/{job_id}")).json()
    assert view["attempts"] == 1 and view["outcome"] == outcome
    key = {"Idempotency-Key": "one-call"}
    first = await http.post("/jobs/test.probe", params={"wait": 0.1}, json=body, headers=key)
    assert first.status_code == 200 and first.json() == outcome
    other = {"payload": {"message": "another"}}
    refused = await http.post("/jobs/test.probe", params={"wait": 20}, json=other, headers=key)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    negative = await http.post("/jobs/test.probe", params={"wait": -1}, json=body)
    assert refusal(negative, 422) == {"query.wait": "Input should be greater than or equal to 0"}


async def test_a_failed_job_gives_its_typed_error(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    job_id = (
        await http.post("/jobs/test.probe", json={"payload": {"message": "no", "action": "fail"}})
    ).json()["id"]
    async with running_worker(settings):
        outcome = (await http.get(f"/jobs/{job_id}/result", params={"wait": 20})).json()
    assert outcome["status"] == "failed"
    assert outcome["error"] == {
        "kind": "failed",
        "message": "asked to fail: no",
        "fields": [],
        "detail": {"code": "probe_failed"},
    }


async def test_bad_jobs_are_refused_with_the_clients_field_paths(http: httpx.AsyncClient) -> None:
    assert refusal(await http.post("/jobs/test.probe", json={"payload": {"message": 5}}), 422) == {
        "payload.message": "Input should be a valid string"
    }
    assert refusal(
        await http.post("/jobs/test.probe", json={"payload": {"message": "x", "extra": 1}}), 422
    ) == {"payload.extra": "Extra inputs are not permitted"}
    assert refusal(await http.post("/jobs/test.probe", json={}), 422) == {
        "payload": "Field required"
    }
    assert refusal(
        await http.post(
            "/jobs/test.probe", json={"payload": {"message": "x"}, "schema_version": 9}
        ),
        422,
    ) == {
        "schema_version": "expected 1, got 9; upgrade the producer or the worker so both speak "
        "one version"
    }
    unknown = await http.post("/jobs/chat.run", json={"payload": {}})
    assert refusal(unknown, 404) == {"kind": "this API serves: test.bulk_probe, test.probe"}
    assert (await http.get("/jobs/test.probe-nope")).status_code == 404
    # an unknown job is a 404 at once, not after the wait
    unknown_result = await http.get("/jobs/test.probe-nope/result", params={"wait": 60}, timeout=10)
    assert unknown_result.status_code == 404
    assert (await http.get("/jobs", params={"status": "sleeping"})).status_code == 422


async def test_an_idempotency_key_stands_for_one_request(http: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = await http.post("/jobs/test.probe", json={"payload": {"message": "a"}}, headers=key)
    again = await http.post("/jobs/test.probe", json={"payload": {"message": "a"}}, headers=key)
    other = await http.post("/jobs/test.probe", json={"payload": {"message": "b"}}, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert other.status_code == 409
    assert other.json()["error"]["message"] == (
        f"this Idempotency-Key was used for another request (job {first.json()['id']})"
    )


class StepsJob(ProbeJob):
    kind = "test.steps"


async def run_steps(ctx: JobContext, job: StepsJob) -> ProbeResult:
    """As a job kind reports progress: entries on its event stream, then its result."""
    for step in (1, 2, 3):
        event = JobEvent(type=JobEventType.progress, data={"step": step, "of": 3})
        stream = ctx.keys.job_events(ctx.job_id)
        async with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, {"event": event.model_dump_json()}, maxlen=STREAM_MAXLEN)
            pipe.expire(stream, STREAM_TTL_S)
            await pipe.execute()
    return ProbeResult(echo=job.message, attempt=ctx.attempt)


STEPS_HANDLERS = [*PROBE_HANDLERS, JobHandler(StepsJob, run_steps)]


async def test_events_stream_live_and_resume_after_the_last_event_id(
    db: asyncpg.Pool, settings: Settings
) -> None:
    async with (
        serving(api_settings(settings), db, kinds=[StepsJob]) as api,
        await api.client(Scope.read, Scope.jobs_write) as http,
    ):
        job_id = (await http.post("/jobs/test.steps", json={"payload": {"message": "go"}})).json()[
            "id"
        ]
        connected = asyncio.Event()
        seen = []

        async def follow() -> None:
            async with http.stream("GET", f"/jobs/{job_id}/events") as response:
                async for event in events(response):
                    seen.append(event)
                    connected.set()

        reader = asyncio.create_task(follow())
        await connected.wait()  # the status event: the reader is live before the job runs
        async with running_worker(settings, handlers=STEPS_HANDLERS):
            await asyncio.wait_for(reader, 20)

        assert [(e.event, e.data["data"].get("step")) for e in seen] == [
            ("status", None),
            ("progress", 1),
            ("progress", 2),
            ("progress", 3),
            ("outcome", None),
        ]
        assert seen[0].id is None and seen[0].data["data"] == {"status": "queued"}
        outcome = seen[-1].data["data"]
        assert outcome["status"] == "succeeded" and outcome["result"]["echo"] == "go"

        resumed = await read_all(http, f"/jobs/{job_id}/events", **{"Last-Event-ID": seen[2].id})
        assert [(e.event, e.id) for e in resumed] == [(e.event, e.id) for e in seen[3:]]
        after_end = await read_all(http, f"/jobs/{job_id}/events", **{"Last-Event-ID": seen[-1].id})
        assert after_end == []
        late = await read_all(http, f"/jobs/{job_id}/events")
        assert [e.event for e in late] == [
            "status",
            "progress",
            "progress",
            "progress",
            "outcome",
        ]
        assert late[-1].id == seen[-1].id  # the outcome was appended once
        bad = await http.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": "yesterday"})
        assert refusal(bad, 422) == {
            "Last-Event-ID": "expected an event id this stream sent (like 1700000000000-0)"
        }
