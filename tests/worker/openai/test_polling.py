"""Polls end when the object is done, or at their deadline with a message that says what."""

from __future__ import annotations

import re

import pytest
from openai.types.beta.threads import Run

from sandbox.model import set_timing
from tests.conftest import SandboxProject
from tests.worker.openai.conftest import PROFILE, inject
from worker.openai import polling
from worker.openai.clients import OpenAIClients
from worker.openai.polling import PollDeadline


async def attach_file(clients: OpenAIClients) -> tuple[str, str]:
    """(vector store id, file id) of a text file just attached: ingestion is under way."""
    file = await clients.call(
        PROFILE,
        lambda c: c.files.create(file=("a.md", b"# Returns\n30 days."), purpose="assistants"),
    )
    store = await clients.call(PROFILE, lambda c: c.vector_stores.create(name="kb"))
    await clients.call(
        PROFILE, lambda c: c.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
    )
    return store.id, file.id


async def test_ingestion_is_awaited_until_the_file_is_completed(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    sandbox_project.server.state.set_ingestion_seconds(0.3, sandbox_project.project_id)
    store_id, file_id = await attach_file(clients)
    done = await polling.vector_store_file(clients, PROFILE, store_id, file_id, deadline_s=10)
    assert (done.id, done.status) == (file_id, "completed")


async def test_ingestion_past_the_deadline_fails_naming_what_was_awaited(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    sandbox_project.server.state.set_ingestion_seconds(60, sandbox_project.project_id)
    store_id, file_id = await attach_file(clients)
    with pytest.raises(PollDeadline) as failed:
        await polling.vector_store_file(clients, PROFILE, store_id, file_id, deadline_s=0.5)
    assert re.fullmatch(
        rf"profile {PROFILE!r}: ingestion of {file_id} into {store_id} was still 'in_progress' "
        r"after 0\.\d s, past the poll's deadline of 0\.5 s",
        str(failed.value),
    )
    assert failed.value.detail["openai_error"] == "final"


async def test_a_read_that_hangs_does_not_outlive_the_deadline(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    store_id, file_id = await attach_file(clients)
    inject(sandbox_project, kind="hang", method="GET", path="/v1/vector_stores/*/files/*")
    with pytest.raises(PollDeadline, match=r"was still 'not read yet' after 0\.\d s"):
        await polling.vector_store_file(clients, PROFILE, store_id, file_id, deadline_s=0.5)


async def start_run(project: SandboxProject, step_s: float) -> tuple[str, Run]:
    """(thread id, run) of a run just started, each of its states lasting `step_s`."""
    set_timing(project.project, run_step_seconds=step_s)
    plain = project.client()
    assistant = await plain.beta.assistants.create(model="gpt-4o-mini", instructions="")
    thread = await plain.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    return thread.id, await plain.beta.threads.runs.create(thread.id, assistant_id=assistant.id)


async def test_a_run_is_awaited_until_it_stops_by_itself(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    thread_id, run = await start_run(sandbox_project, step_s=0.1)
    assert run.status == "queued"
    done = await polling.run(clients, PROFILE, thread_id, run.id, deadline_s=10)
    assert (done.id, done.status) == (run.id, "completed")


async def test_a_run_that_outlasts_its_deadline_fails_with_its_last_status(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    thread_id, run = await start_run(sandbox_project, step_s=30)
    with pytest.raises(PollDeadline, match=rf"run {run.id} on {thread_id} was still 'queued'"):
        await polling.run(clients, PROFILE, thread_id, run.id, deadline_s=0.4)


async def test_a_stored_response_is_read_back_once_done(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    made = await clients.call(
        PROFILE,
        lambda c: c.responses.create(model="gpt-4o-mini", input="hello", store=True),
        model="gpt-4o-mini",
    )
    done = await polling.background_response(clients, PROFILE, made.id, deadline_s=5)
    assert (done.id, done.status, done.output_text) == (made.id, "completed", made.output_text)
