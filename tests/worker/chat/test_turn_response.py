"""The lean `TurnResponse` reads what the SDK's `Response` reads, from the same answers.

Each answer is read three ways: whole by the SDK, lean from a poll, and lean from the final
event of the create's stream (how a chat turn reads it).
"""

from __future__ import annotations

from typing import Any

from openai import AsyncStream
from openai.types.responses import Response

from sandbox import model as sandbox_model
from tests.conftest import SandboxProject
from worker.chat.turn_response import TurnResponse, event_response

TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


async def _read(
    project: SandboxProject, output: str | dict
) -> tuple[Response, TurnResponse, TurnResponse]:
    """A background response with `output` queued: the SDK's whole read, a poll, the stream's."""
    sandbox_model.queue_outputs(project.project, [output])
    client = project.client()
    body = {"model": "gpt-4o", "input": "hi", "tools": [TOOL], "store": True, "background": True}
    stream = await client.post(
        "/responses",
        cast_to=TurnResponse,
        body={**body, "stream": True},
        options={"security": {"bearer_auth": True}},
        stream=True,
        stream_cls=AsyncStream[dict[str, Any]],
    )
    events = [event async for event in stream]
    assert [e["type"] for e in events[:1]] == ["response.created"]
    streamed = event_response(events[-1])
    full = await client.responses.retrieve(streamed.id)
    polled = await client.get(
        f"/responses/{streamed.id}",
        cast_to=TurnResponse,
        options={"security": {"bearer_auth": True}},
    )
    assert event_response(events[0]).id == streamed.id == polled.id == full.id
    assert events[-1]["type"] == f"response.{full.status}"
    return full, polled, streamed


async def test_a_text_answer_reads_the_same(sandbox_project: SandboxProject) -> None:
    full, polled, streamed = await _read(sandbox_project, "Two lines\nof reply.")
    for lean in (polled, streamed):
        _same_text_answer(full, lean)


def _same_text_answer(full: Response, lean: TurnResponse) -> None:
    assert lean.status == full.status == "completed"
    assert lean.output_text == full.output_text == "Two lines\nof reply."
    assert [item.type for item in lean.output] == [item.type for item in full.output]
    assert full.usage is not None and lean.usage is not None
    assert (lean.usage.input_tokens, lean.usage.output_tokens, lean.usage.total_tokens) == (
        full.usage.input_tokens,
        full.usage.output_tokens,
        full.usage.total_tokens,
    )
    assert lean.usage.total_tokens > 0
    assert lean.error is None


async def test_function_calls_read_the_same(sandbox_project: SandboxProject) -> None:
    calls = [{"name": "lookup", "arguments": {"id": 1}}, {"name": "lookup", "arguments": "{}"}]
    full, polled, streamed = await _read(sandbox_project, {"tool_calls": calls})
    for lean in (polled, streamed):
        _same_calls(full, lean)


def _same_calls(full: Response, lean: TurnResponse) -> None:
    want = [
        (item.call_id, item.name, item.arguments)
        for item in full.output
        if item.type == "function_call"
    ]
    got = [(i.call_id, i.name, i.arguments) for i in lean.output if i.type == "function_call"]
    assert got == want
    assert [name for _, name, _ in got] == ["lookup", "lookup"]
    assert [arguments for _, _, arguments in got] == ['{"id": 1}', "{}"]
    assert lean.output_text == full.output_text == ""


async def test_a_failed_response_keeps_its_error(sandbox_project: SandboxProject) -> None:
    full, polled, streamed = await _read(sandbox_project, {"error": "the model broke"})
    for lean in (polled, streamed):
        _same_error(full, lean)


def _same_error(full: Response, lean: TurnResponse) -> None:
    assert lean.status == full.status == "failed"
    assert full.error is not None and lean.error is not None
    assert (lean.error.code, lean.error.message) == (full.error.code, full.error.message)
    assert lean.error.message
