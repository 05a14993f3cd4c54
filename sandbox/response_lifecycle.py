"""How a response ends: answered at once, streamed, or run in the background.

- **Foreground** (`background` unset): the answer takes the project's response latency; a
  stream plays its events over that time. A stream the client cuts ends the response: it is
  stored `cancelled` (when `store`), its conversation is not extended, and the lock is freed.
- **Background** (`background: true`, which needs `store: true`): the create call answers
  at once with status `queued`; the response is `in_progress` for the project's response
  latency, then lands. Everything is computed lazily from the clock when the response is read
  (no task runs), so a worker killed mid-turn finds it where the clock says. Its events are
  kept: `GET /v1/responses/{id}?stream=true&starting_after=N` replays those after sequence
  number N, each at the moment it is due. `POST …/cancel` stops it.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sandbox import response_stream
from sandbox.routes import conversations
from sandbox.state import Project

KIND = "response"
TERMINAL = ("completed", "failed", "incomplete", "cancelled")


@dataclass
class ResponseRecord:
    """What the sandbox keeps to continue from a response: its input, in context, and output."""

    context: list[dict[str, Any]]  # every item before this response's input
    input: list[dict[str, Any]]
    # the create call's JSON body as received, for tests of what a client sent
    request: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finisher:
    """Ends one response: store it, extend its conversation, release the conversation."""

    project: Project
    response: dict[str, Any]
    record: ResponseRecord
    conversation_id: str | None
    committed: bool = False

    def release(self) -> None:
        """Free the conversation for its next response."""
        if self.conversation_id is not None:
            conversations.unlock(self.project, self.conversation_id, self.response["id"])

    def commit(self) -> None:
        """Store the response (unless `store: false`) and extend its conversation."""
        self.committed = True
        if self.response["store"]:
            self.project.put(KIND, self.response)
            self.project.private_of(KIND)[self.response["id"]] = self.record
        if self.conversation_id is not None and self.response["status"] != "failed":
            state = self.project.private_of(conversations.KIND).get(self.conversation_id)
            if state is not None:
                for item in [*self.record.input, *self.response["output"]]:
                    state.items[item["id"]] = item

    def cut(self) -> None:
        """The client went away before the end: the response ends `cancelled`."""
        if self.committed:
            return
        self.committed = True
        if self.response["store"]:
            ended = _cancelled(self.response)
            self.project.put(KIND, ended)
            self.project.private_of(KIND)[ended["id"]] = self.record

    async def stream(self, delay: float) -> AsyncIterator[bytes]:
        """The SSE stream; the conversation stays locked until its last event is sent."""
        events = list(response_stream.events(self.response))
        pause = delay / len(events)
        try:
            for event in events:
                if event["type"] == f"response.{self.response['status']}":
                    self.commit()
                yield response_stream.sse(event)
                await asyncio.sleep(pause)
        finally:
            self.cut()
            self.release()


def request_of(project: Project, response_id: str) -> dict[str, Any]:
    """The JSON body a stored response was created with, as received (for tests)."""
    record: ResponseRecord = project.private_of(KIND)[response_id]
    return record.request


def _cancelled(final: dict[str, Any]) -> dict[str, Any]:
    ended = copy.deepcopy(final)
    ended.update(status="cancelled", output=[], completed_at=None, error=None)
    ended["incomplete_details"] = None
    ended.pop("usage", None)
    return ended


@dataclass
class Background:
    """A background response: its final form, its numbered events, and when each is due."""

    finisher: Finisher
    final: dict[str, Any]
    events: list[dict[str, Any]]
    t0: float
    latency: float
    cancelled_at: float | None = None
    settled: bool = field(default=False)

    def due(self, index: int) -> float:
        """When event `index` is sent: the first at once, the last when the response lands."""
        return self.t0 + self.latency * index / max(1, len(self.events) - 1)


def _backgrounds(project: Project) -> dict[str, Background]:
    return project.private_of("background_response")


def start_background(finisher: Finisher, latency: float) -> dict[str, Any]:
    """Store the response `queued` and keep its final form to land later; the public object."""
    final = finisher.response
    t0 = time.time()
    final["completed_at"] = int(t0 + latency) if final["status"] == "completed" else None
    events = list(response_stream.events(final))
    shown = copy.deepcopy(events[0]["response"])
    shown["status"] = "queued"
    finisher.project.put(KIND, shown)
    finisher.project.private_of(KIND)[final["id"]] = finisher.record
    _backgrounds(finisher.project)[final["id"]] = Background(finisher, final, events, t0, latency)
    return copy.deepcopy(shown)


def is_background(project: Project, response_id: str) -> bool:
    return response_id in _backgrounds(project)


def advance(project: Project, response: dict[str, Any], *, at: float | None = None) -> dict:
    """Bring a background response up to date with the clock (others are returned as they are)."""
    job = _backgrounds(project).get(response["id"])
    if job is None or job.settled:
        return response
    at = time.time() if at is None else at
    if at < job.t0 + job.latency:
        response["status"] = "in_progress"
        return response
    job.settled = True
    job.finisher.commit()  # puts the final object in place of the in-progress one
    job.finisher.release()
    return job.final


def forget(project: Project, response_id: str) -> None:
    """Drop a deleted response's background job (an unfinished one stops, freeing its lock)."""
    job = _backgrounds(project).pop(response_id, None)
    if job is not None and not job.settled:
        job.settled = True
        job.cancelled_at = time.time()
        job.finisher.release()


def settle_conversation(project: Project, conversation_id: str) -> None:
    """Land any background response still holding the conversation whose time has come."""
    for job in list(_backgrounds(project).values()):
        if not job.settled and job.finisher.conversation_id == conversation_id:
            stored = project.table(KIND).get(job.final["id"])
            if stored is not None:
                advance(project, stored)


def cancel(project: Project, response: dict[str, Any]) -> dict[str, Any]:
    """Stop a background response still queued or in progress (a finished one stays)."""
    response = advance(project, response)
    job = _backgrounds(project)[response["id"]]
    if job.settled:
        return response
    job.settled = True
    job.cancelled_at = time.time()
    ended = _cancelled(job.final)
    project.put(KIND, ended)
    job.finisher.release()
    return ended


async def replay(project: Project, response_id: str, starting_after: int) -> AsyncIterator[bytes]:
    """The background response's events after `starting_after`, each when it is due."""
    job = _backgrounds(project)[response_id]
    for index, event in enumerate(job.events):
        if event["sequence_number"] <= starting_after:
            continue
        await asyncio.sleep(max(0.0, job.due(index) - time.time()))
        if job.cancelled_at is not None:
            return
        if event["type"] == f"response.{job.final['status']}":
            stored = project.table(KIND).get(response_id)
            if stored is not None:
                advance(project, stored, at=max(time.time(), job.t0 + job.latency))
        yield response_stream.sse(event)
