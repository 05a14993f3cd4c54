"""Injected faults: what a client sees when the sandbox is slow, failing, hanging or rude."""

from __future__ import annotations

import time

import openai
import pytest

from sandbox.faults import Fault, FaultTable
from tests.sandbox.openapi import assert_matches


def _mine(sandbox_project, **kwargs) -> Fault:
    """A fault scoped to this test's project, so parallel tests on the server are unaffected."""
    return sandbox_project.server.state.add_fault(
        Fault(project_id=sandbox_project.project_id, **kwargs)
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_error_faults_answer_5xx_in_openais_shape(sandbox_project, status, error) -> None:
    _mine(sandbox_project, kind="error", status=status, path="/v1/files", count=1)
    client = sandbox_project.client()
    with pytest.raises(error) as info:
        await client.files.list()
    assert info.value.status_code == status
    assert_matches("ErrorResponse", info.value.response.json())
    # `count=1`: only the next request was hit
    await client.files.list()


async def test_faults_match_method_and_path_glob(sandbox_project) -> None:
    _mine(sandbox_project, kind="error", method="POST", path="/v1/files*")
    client = sandbox_project.client()
    await client.files.list()  # GET: not matched
    with pytest.raises(openai.InternalServerError):
        await client.files.create(file=("a.txt", b"a"), purpose="assistants")
    assert [f async for f in client.files.list()] == []


async def test_latency_is_added_before_answering(sandbox_project) -> None:
    _mine(sandbox_project, kind="latency", latency_ms=200, jitter_ms=50, path="/v1/files")
    client = sandbox_project.client()
    started = time.perf_counter()
    await client.files.list()
    assert 0.2 <= time.perf_counter() - started < 1.5


async def test_hang_makes_the_client_time_out(sandbox_project) -> None:
    _mine(sandbox_project, kind="hang", path="/v1/files", count=1)
    client = sandbox_project.client(timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        await client.files.list()
    await client.files.list()


async def test_drop_closes_the_connection_without_an_answer(sandbox_project) -> None:
    _mine(sandbox_project, kind="drop", method="POST", path="/v1/files", count=1)
    client = sandbox_project.client()
    with pytest.raises(openai.APIConnectionError):
        await client.files.create(file=("a.txt", b"a"), purpose="assistants")
    # the handler never ran: nothing was created
    assert [f async for f in client.files.list()] == []


async def test_apply_then_drop_creates_but_the_client_never_knows(sandbox_project) -> None:
    _mine(sandbox_project, kind="apply_then_drop", method="POST", path="/v1/files", count=1)
    client = sandbox_project.client()
    with pytest.raises(openai.APIConnectionError):
        await client.files.create(file=("lost.txt", b"lost"), purpose="assistants")
    listed = [f async for f in client.files.list()]
    assert [f.filename for f in listed] == ["lost.txt"]
    # the counters show a request that got no answer (status 0)
    counted = sandbox_project.server.state.counters.requests
    assert counted[("POST", "/v1/files", 0)] >= 1


async def test_apply_then_hang_creates_and_keeps_the_client_waiting(sandbox_project) -> None:
    fault = _mine(sandbox_project, kind="apply_then_hang", method="POST", path="/v1/files", count=1)
    client = sandbox_project.client(timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        await client.files.create(file=("held.txt", b"held"), purpose="assistants")
    assert fault.applied == 1
    listed = [f async for f in client.files.list()]
    assert [f.filename for f in listed] == ["held.txt"]


async def test_cut_stream_breaks_a_stream_after_its_first_events(sandbox_project) -> None:
    _mine(sandbox_project, kind="cut_stream", method="POST", path="/v1/responses", after_events=3)
    client = sandbox_project.client()
    stream = await client.responses.create(
        model="gpt-4o", input="one two three four", background=True, stream=True
    )
    seen = []
    with pytest.raises(openai.APIConnectionError):
        async for event in stream:
            seen.append(event)
    assert [e.sequence_number for e in seen] == [0, 1, 2]
    assert seen[0].type == "response.created"
    # The background response goes on without its reader; its stream resumes after the cut.
    response_id = seen[0].response.id
    rest = await client.responses.retrieve(response_id, stream=True, starting_after=2)
    events = [event async for event in rest]
    assert events[0].sequence_number == 3
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text.endswith("one two three four")


async def test_count_fires_exactly_n_times_then_retires(sandbox_project) -> None:
    fault = _mine(sandbox_project, kind="error", path="/v1/files", count=2)
    client = sandbox_project.client()
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await client.files.list()
    await client.files.list()
    assert fault.fired == 2
    assert fault not in sandbox_project.server.state.faults.faults


async def test_faults_of_another_project_do_not_touch_this_one(sandbox_project) -> None:
    sandbox_project.server.state.add_fault(
        Fault(kind="error", path="/v1/*", project_id="proj_not_this_one")
    )
    try:
        await sandbox_project.client().files.list()
    finally:
        sandbox_project.server.state.faults.faults = [
            f
            for f in sandbox_project.server.state.faults.faults
            if f.project_id != "proj_not_this_one"
        ]


def test_seeded_rates_repeat_exactly() -> None:
    def pattern(seed: int) -> list[bool]:
        table = FaultTable()
        table.add(Fault(kind="error", rate=0.3, seed=seed))
        return [bool(table.pick("GET", "/v1/files", None)) for _ in range(200)]

    assert pattern(7) == pattern(7)
    assert 30 <= sum(pattern(7)) <= 90
    assert pattern(7) != pattern(8)


def test_bad_faults_are_refused() -> None:
    with pytest.raises(ValueError):
        Fault(kind="explode")
    with pytest.raises(ValueError):
        Fault(kind="error", status=418)
    with pytest.raises(ValueError):
        Fault(kind="error", rate=2.0)
