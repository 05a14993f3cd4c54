"""Polls with a deadline: vector-store ingestion, runs, background responses.

The SDK's own `*_and_poll` helpers wait forever; a job must not. `poll` reads an object
until it reaches a state its caller accepts, backing off between reads, and fails with a
`PollDeadline` (a final `JobFailure` that says what was awaited and the last state seen)
when the deadline passes, even if a read hangs. Every read goes through `OpenAIClients.call`,
so it is paced and retried like any other call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from openai import AsyncOpenAI
from openai.types.beta.threads import Run
from openai.types.responses import Response
from openai.types.vector_stores import VectorStoreFile

from worker.openai.clients import OpenAIClients
from worker.openai.errors import Final

T = TypeVar("T")

VECTOR_STORE_FILE_DONE = frozenset({"completed", "failed", "cancelled"})
# `requires_action` ends a poll too: the caller has tool outputs to submit.
RUN_DONE = frozenset(
    {"completed", "requires_action", "failed", "cancelled", "expired", "incomplete"}
)
RESPONSE_DONE = frozenset({"completed", "failed", "cancelled", "incomplete"})


class PollDeadline(Final):
    """The awaited object was still not done when the poll's deadline passed."""


async def poll(
    read: Callable[[], Awaitable[T]],
    *,
    done: Callable[[T], bool],
    state: Callable[[T], str],
    deadline_s: float,
    what: str,
    profile: str,
    interval_s: float = 0.25,
    max_interval_s: float = 5.0,
) -> T:
    """Read until `done(obj)`; raise `PollDeadline` naming `what` once `deadline_s` passes."""
    last = "not read yet"
    interval = interval_s
    started = time.monotonic()
    scope = asyncio.timeout(deadline_s)
    try:
        async with scope:
            while True:
                current = await read()
                if done(current):
                    return current
                last = state(current)
                await asyncio.sleep(interval)
                interval = min(max_interval_s, interval * 1.5)
    except TimeoutError:
        if not scope.expired():
            raise  # a timeout of the read's own, not the poll's deadline
    elapsed = time.monotonic() - started
    raise PollDeadline(
        f"profile {profile!r}: {what} was still {last!r} after {elapsed:.1f} s, past the "
        f"poll's deadline of {deadline_s:g} s",
        profile=profile,
        request=what,
    )


async def vector_store_file(
    openai: OpenAIClients, profile: str, vector_store_id: str, file_id: str, *, deadline_s: float
) -> VectorStoreFile:
    """The file once ingestion ends (`completed`, `failed` or `cancelled`)."""
    return await _until_status(
        openai,
        profile,
        lambda c: c.vector_stores.files.retrieve(file_id, vector_store_id=vector_store_id),
        VECTOR_STORE_FILE_DONE,
        what=f"ingestion of {file_id} into {vector_store_id}",
        deadline_s=deadline_s,
    )


async def run(
    openai: OpenAIClients, profile: str, thread_id: str, run_id: str, *, deadline_s: float
) -> Run:
    """The run once it stops moving on its own (done, failed, or waiting for tool outputs)."""
    return await _until_status(
        openai,
        profile,
        lambda c: c.beta.threads.runs.retrieve(run_id, thread_id=thread_id),
        RUN_DONE,
        what=f"run {run_id} on {thread_id}",
        deadline_s=deadline_s,
    )


async def background_response(
    openai: OpenAIClients, profile: str, response_id: str, *, deadline_s: float
) -> Response:
    """A `background: true` response once it is no longer queued or in progress."""
    return await _until_status(
        openai,
        profile,
        lambda c: c.responses.retrieve(response_id),
        RESPONSE_DONE,
        what=f"response {response_id}",
        deadline_s=deadline_s,
    )


async def _until_status(
    openai: OpenAIClients,
    profile: str,
    read: Callable[[AsyncOpenAI], Awaitable[T]],
    finished: frozenset[str],
    *,
    what: str,
    deadline_s: float,
) -> T:
    return await poll(
        lambda: openai.call(profile, read),
        done=lambda obj: _status(obj) in finished,
        state=_status,
        deadline_s=deadline_s,
        what=what,
        profile=profile,
    )


def _status(obj: Any) -> str:
    return str(getattr(obj, "status", None) or "unknown")
