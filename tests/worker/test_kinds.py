"""What a job kind gets from `JobContext`: the backend port for a profile, a bound logger."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from producers.client import FerryClient
from sandbox.faults import Fault
from schemas.assistants import parse_spec
from schemas.jobs import Job
from schemas.keys import Queue
from store import registry
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from worker.blobs import PostgresBlobStore
from worker.kinds import JobContext, JobHandler
from worker.settings import Settings


class Made(BaseModel):
    id: str
    name: str


class MakeAssistant(Job[Made]):
    kind: ClassVar[str] = "test.make_assistant"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 10
    result_model: ClassVar[type[BaseModel]] = Made

    profile: str
    name: str


async def make_assistant(ctx: JobContext, job: MakeAssistant) -> Made:
    ctx.log.info("making an assistant", name=job.name)
    made = await ctx.backend(job.profile).create(parse_spec({"name": job.name, "model": "m"}))
    return Made(id=made.id, name=made.spec.name)


async def test_a_kind_reaches_its_profiles_backend_and_logs_who_it_is(
    ferry: FerryClient,
    settings: Settings,
    sandbox_project: SandboxProject,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_DST_API_KEY", sandbox_project.api_key)
    monkeypatch.setenv("OPENAI_DST_BASE_URL", sandbox_project.base_url)
    fresh = settings.model_copy()  # profiles are read once per settings object
    with capture_logs() as logs:
        async with running_worker(fresh, handlers=[JobHandler(MakeAssistant, make_assistant)]):
            handle = await ferry.enqueue(MakeAssistant(profile="dst", name="helper"))
            made = await handle.result(timeout=10)
    entry = await registry.get(ferry.db, "dst", "helper")
    assert entry is not None and made == Made(id=str(entry.id), name="helper")
    [line] = [entry for entry in logs if entry["event"] == "making an assistant"]
    assert (line["job_id"], line["kind"], line["attempt"]) == (handle.job_id, MakeAssistant.kind, 1)


class ListFiles(Job[Made]):
    kind: ClassVar[str] = "test.list_files"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 10
    result_model: ClassVar[type[BaseModel]] = Made

    profile: str


async def upload_and_list(ctx: JobContext, job: ListFiles) -> Made:
    knowledge = ctx.backend(job.profile).knowledge
    uploaded = await knowledge.files.upload_bytes("notes.txt", b"hello", purpose="assistants")
    [listed] = await knowledge.files.list_all()
    return Made(id=listed.id, name=uploaded.filename)


async def test_a_kinds_backend_calls_go_through_the_call_layer_and_keep_bytes_in_the_blob_store(
    ferry: FerryClient,
    settings: Settings,
    sandbox_project: SandboxProject,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_DST_API_KEY", sandbox_project.api_key)
    monkeypatch.setenv("OPENAI_DST_BASE_URL", sandbox_project.base_url)
    state = sandbox_project.server.state
    # Two 503s on the list: the SDK alone (max_retries=0) would fail; the call layer retries.
    fault = state.add_fault(
        Fault(
            kind="error",
            status=503,
            method="GET",
            path="/v1/files",
            count=2,
            project_id=sandbox_project.project_id,
        )
    )
    fresh = settings.model_copy(update={"openai_max_attempts": 4})
    async with running_worker(fresh, handlers=[JobHandler(ListFiles, upload_and_list)]):
        made = await (await ferry.enqueue(ListFiles(profile="dst"))).result(timeout=20)
    assert fault.fired == 2
    assert made.name == "notes.txt"
    stored = await PostgresBlobStore(ferry.db).file_blob(made.id)
    assert stored is not None and stored.blob.size == 5
