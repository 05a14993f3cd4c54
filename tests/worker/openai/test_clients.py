"""The call layer inside a worker: a long rate-limit wait hands the job back, not a slot."""

from __future__ import annotations

from typing import ClassVar

import openai
import pytest
from pydantic import BaseModel

from producers.client import FerryClient
from producers.errors import JobFailed
from schemas.jobs import Job
from schemas.keys import Queue
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from tests.worker.openai.conftest import PROFILE, Answers
from worker.kinds import JobContext, JobHandler
from worker.settings import Settings


class FileCount(BaseModel):
    files: int
    attempt: int


class CountFilesJob(Job):
    kind: ClassVar[str] = "test.count_files"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 10
    max_tries: ClassVar[int] = 3
    result_model: ClassVar[type[BaseModel]] = FileCount

    profile: str


async def count_files(ctx: JobContext, job: CountFilesJob) -> FileCount:
    page = await ctx.openai.call(job.profile, lambda c: c.files.list())
    return FileCount(files=len(page.data), attempt=ctx.attempt)


class CountFilesOnceJob(CountFilesJob):
    kind: ClassVar[str] = "test.count_files_once"
    max_tries: ClassVar[int] = 1


def impatient(openai_settings: Settings) -> Settings:
    """Waits over 0.2 s hand the job back instead of sleeping."""
    return Settings(
        _env_file=None,
        profiles=openai_settings.profiles,
        **(openai_settings.model_dump() | {"openai_max_inline_wait_s": 0.2}),
    )


async def spend_the_bucket(sandbox_project: SandboxProject) -> None:
    """Another service spends the bucket: the next request waits >= 0.5 s."""
    sandbox_project.server.state.set_limits(sandbox_project.project_id, requests_per_minute=60)
    plain = sandbox_project.client()
    while True:
        try:
            await plain.files.list()
        except openai.RateLimitError as refused:
            if int(refused.response.headers["retry-after-ms"]) >= 500:
                return


async def test_a_rate_limited_job_goes_back_to_its_queue_and_then_succeeds(
    ferry: FerryClient, openai_settings: Settings, sandbox_project: SandboxProject
) -> None:
    settings = impatient(openai_settings)
    await spend_the_bucket(sandbox_project)
    answers = Answers(sandbox_project, "GET", "/v1/files")
    async with running_worker(settings, handlers=[JobHandler(CountFilesJob, count_files)]):
        handle = await ferry.enqueue(CountFilesJob(profile=PROFILE))
        result = await handle.result(timeout=10)
    # The first attempt met the 429 and was deferred past the pause; the second got in.
    assert result == FileCount(files=0, attempt=2)
    assert answers.since() == {429: 1, 200: 1}


async def test_a_job_deferred_on_its_last_try_fails_saying_why(
    ferry: FerryClient, openai_settings: Settings, sandbox_project: SandboxProject
) -> None:
    await spend_the_bucket(sandbox_project)
    handlers = [JobHandler(CountFilesOnceJob, count_files)]
    async with running_worker(impatient(openai_settings), handlers=handlers):
        handle = await ferry.enqueue(CountFilesOnceJob(profile=PROFILE))
        with pytest.raises(JobFailed) as failed:
            await handle.result(timeout=10)
    message = str(failed.value)
    assert (
        "gave up after 1 attempts (the last asked to retry later: profile 't': rate budget; "
        in message
    )
    assert "the job retries in" in message
