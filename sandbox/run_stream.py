"""Streamed runs (`stream: true`): the run state machine driven in real time, told as the
Assistants API's server-sent events (`thread.run.*`, `thread.run.step.*`, `thread.message.*`),
ending with `event: done` / `data: [DONE]`."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from sandbox import messages, run_engine
from sandbox.response_stream import chunks
from sandbox.state import Project


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


async def events(
    project: Project,
    run: dict[str, Any],
    *,
    thread: dict[str, Any] | None = None,
    resumed: bool = False,
) -> AsyncIterator[bytes]:
    """The events of `run` from its (re)start to where it stops: done, failed or waiting.

    `thread` is the thread just made for it (createThreadAndRun); `resumed` is for a run
    restarted by tool outputs, whose tool-calls step completes first.
    """
    state: run_engine.RunState = project.private_of(run_engine.KIND)[run["id"]]
    steps_before = len(state.steps)
    if thread is not None:
        yield _sse("thread.created", thread)
    if resumed and state.steps:
        yield _sse("thread.run.step.completed", copy.deepcopy(state.steps[-1]))
    else:
        yield _sse("thread.run.created", copy.deepcopy(run))
    yield _sse("thread.run.queued", copy.deepcopy(run))
    told = run["status"]
    while run["status"] in ("queued", "in_progress", "cancelling"):
        await _until(_next_change(state, run["status"]))
        run_engine.advance(project, run)
        if told == "queued" and run["status"] in _PAST_IN_PROGRESS:
            # A late wake-up (a busy machine) can carry the run past in_progress in one
            # advance; OpenAI's stream still tells that state, so it is told as it was.
            passing = {**copy.deepcopy(run), "status": "in_progress"}
            passing.update(required_action=None, completed_at=None, failed_at=None, usage=None)
            yield _sse("thread.run.in_progress", passing)
        elif run["status"] in ("in_progress", "cancelling") and run["status"] != told:
            yield _sse(f"thread.run.{run['status']}", copy.deepcopy(run))
        told = run["status"]
    for step in state.steps[steps_before:]:
        async for event in _step_events(project, step):
            yield event
    yield _sse(f"thread.run.{run['status']}", copy.deepcopy(run))
    yield b"event: done\ndata: [DONE]\n\n"


_PAST_IN_PROGRESS = ("requires_action", "completed", "failed", "incomplete")


def _next_change(state: run_engine.RunState, status: str) -> float:
    # A hair past the boundary: the event loop's clock may wake a little early.
    if status == "cancelling" and state.cancel_at is not None:
        boundary = state.cancel_at + state.step
    else:
        boundary = state.t0 + (1 if status == "queued" else 2) * state.step
    return boundary + 0.001


def _tool_call_events(step: dict[str, Any]) -> list[bytes]:
    """A tool_calls step as OpenAI streams it: created empty, then one delta per call naming
    it, then its arguments in pieces (the SDK's on_tool_call_created / _delta / _done)."""
    calls = step["step_details"]["tool_calls"]
    empty = {**step, "step_details": {"type": "tool_calls", "tool_calls": []}}
    out = [_sse("thread.run.step.created", empty), _sse("thread.run.step.in_progress", empty)]

    def delta(call_delta: dict[str, Any]) -> bytes:
        details = {"type": "tool_calls", "tool_calls": [call_delta]}
        body = {"id": step["id"], "object": "thread.run.step.delta"}
        return _sse("thread.run.step.delta", {**body, "delta": {"step_details": details}})

    for index, call in enumerate(calls):
        function = call["function"]
        named = {"name": function["name"], "arguments": "", "output": None}
        out.append(delta({"index": index, "id": call["id"], "type": "function", "function": named}))
        for piece in chunks(function["arguments"]):
            piece_delta = {"index": index, "type": "function", "function": {"arguments": piece}}
            out.append(delta(piece_delta))
    return out


async def _step_events(project: Project, step: dict[str, Any]) -> AsyncIterator[bytes]:
    shown = copy.deepcopy(step)
    if step["type"] == "tool_calls":
        # Still waiting for outputs: the step stays in progress past the end of this stream.
        for event in _tool_call_events(shown):
            yield event
            await asyncio.sleep(0)
        return
    yield _sse("thread.run.step.created", {**shown, "status": "in_progress", "usage": None})
    yield _sse("thread.run.step.in_progress", {**shown, "status": "in_progress", "usage": None})
    message_id = step["step_details"]["message_creation"]["message_id"]
    message = project.table(messages.KIND)[message_id]
    started = {**copy.deepcopy(message), "status": "in_progress", "content": []}
    started["completed_at"] = None
    yield _sse("thread.message.created", started)
    yield _sse("thread.message.in_progress", started)
    for index, part in enumerate(message["content"]):
        if part["type"] != "text":
            continue
        for text in chunks(part["text"]["value"]):
            delta = {"index": index, "type": "text", "text": {"value": text, "annotations": []}}
            yield _sse(
                "thread.message.delta",
                {"id": message_id, "object": "thread.message.delta", "delta": {"content": [delta]}},
            )
            await asyncio.sleep(0)
    yield _sse("thread.message.completed", copy.deepcopy(message))
    yield _sse("thread.run.step.completed", shown)
