"""Knowledge through a wrapping caller, as the OpenAI call layer will wrap it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import openai
import pytest
from openai import AsyncOpenAI

from tests.conftest import SandboxProject
from worker.backends.files import DownloadRefused
from worker.backends.knowledge import Knowledge
from worker.blobs import PostgresBlobStore

T = TypeVar("T")


class CallFailed(Exception):
    """Shaped like the call layer's error kinds: its own message, the HTTP status kept."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class WrappingCaller:
    """Counts every request and turns SDK errors into `CallFailed`, as the call layer does."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self.client, self.calls = client, 0

    async def __call__(self, request: Callable[[AsyncOpenAI], Awaitable[T]], /) -> T:
        self.calls += 1
        try:
            return await request(self.client)
        except openai.APIStatusError as error:
            raise CallFailed(f"profile 'src': {error.message}", error.status_code) from error


@pytest.fixture
def caller(sandbox_project: SandboxProject) -> WrappingCaller:
    return WrappingCaller(sandbox_project.client())


async def test_every_request_goes_through_the_caller_and_its_errors_still_read_right(
    caller: WrappingCaller, db: asyncpg.Pool
) -> None:
    knowledge = Knowledge("src", caller, PostgresBlobStore(db))
    uploaded = await knowledge.files.upload_bytes("a.txt", b"abc", purpose="assistants")
    assert await knowledge.files.get("file-missing") is None
    assert await knowledge.vector_stores.get("vs_missing") is None
    with pytest.raises(DownloadRefused) as refused:
        await knowledge.files.download(uploaded)
    assert refused.value.purpose == "assistants"
    assert await knowledge.files.delete(uploaded.id) is True
    assert caller.calls == 5


async def test_a_failure_that_is_not_a_miss_passes_through_unchanged(
    caller: WrappingCaller, db: asyncpg.Pool
) -> None:
    knowledge = Knowledge("src", caller, PostgresBlobStore(db))
    with pytest.raises(CallFailed) as failed:
        await knowledge.vector_stores.create("kb", metadata={"k" * 65: "v"})
    assert failed.value.status == 400
