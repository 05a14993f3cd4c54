"""The lean `TurnResponse` reads what the SDK's `Response` reads, from the same answers."""

from __future__ import annotations

from openai.types.responses import Response

from sandbox import model as sandbox_model
from tests.conftest import SandboxProject
from worker.chat.turn_response import TurnResponse

TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


async def _both(project: SandboxProject, output: str | dict) -> tuple[Response, TurnResponse]:
    """A background response with `output` queued, read whole by the SDK and lean by Ferry."""
    sandbox_model.queue_outputs(project.project, [output])
    client = project.client()
    created = await client.post(
        "/responses",
        cast_to=TurnResponse,
        body={"model": "gpt-4o", "input": "hi", "tools": [TOOL], "store": True, "background": True},
        options={"security": {"bearer_auth": True}},
    )
    full = await client.responses.retrieve(created.id)
    lean = await client.get(
        f"/responses/{created.id}",
        cast_to=TurnResponse,
        options={"security": {"bearer_auth": True}},
    )
    assert created.id == lean.id == full.id
    assert created.status == "queued"
    return full, lean


async def test_a_text_answer_reads_the_same(sandbox_project: SandboxProject) -> None:
    full, lean = await _both(sandbox_project, "Two lines\nof reply.")
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
    full, lean = await _both(sandbox_project, {"tool_calls": calls})
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
    full, lean = await _both(sandbox_project, {"error": "the model broke"})
    assert lean.status == full.status == "failed"
    assert full.error is not None and lean.error is not None
    assert (lean.error.code, lean.error.message) == (full.error.code, full.error.message)
    assert lean.error.message
