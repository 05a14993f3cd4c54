"""Run steps (`thread.run.step`): what a run did, one step per model turn."""

from __future__ import annotations

from typing import Any

from sandbox.model import ToolCall, Turn
from sandbox.state import new_id


def _step(run: dict[str, Any], kind: str, details: dict[str, Any], at: int) -> dict[str, Any]:
    return {
        "id": new_id("step_"),
        "object": "thread.run.step",
        "created_at": at,
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "type": kind,
        "status": "in_progress",
        "step_details": {"type": kind, **details},
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def usage_of(turn: Turn) -> dict[str, int]:
    """One turn's tokens as a run step's usage."""
    return {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": turn.output_tokens,
        "total_tokens": turn.total_tokens,
    }


def tool_calls(run: dict[str, Any], calls: tuple[ToolCall, ...], at: int) -> dict[str, Any]:
    """The `in_progress` step of function calls waiting for their outputs."""
    shown = [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments, "output": None},
        }
        for call in calls
    ]
    return _step(run, "tool_calls", {"tool_calls": shown}, at)


def outputs_given(step: dict[str, Any], outputs: dict[str, str], turn: Turn, at: int) -> None:
    """Complete a tool_calls step with the outputs the client submitted."""
    for call in step["step_details"]["tool_calls"]:
        call["function"]["output"] = outputs.get(call["id"])
    step.update(status="completed", completed_at=at, usage=usage_of(turn))


def message_creation(run: dict[str, Any], message_id: str, turn: Turn, at: int) -> dict:
    """The completed step that wrote the run's reply."""
    step = _step(run, "message_creation", {"message_creation": {"message_id": message_id}}, at)
    step.update(status="completed", completed_at=at, usage=usage_of(turn))
    return step


def close(steps: list[dict[str, Any]], status: str, at: int) -> None:
    """End the steps still in progress as the run ended: `cancelled` or `expired`."""
    stamp = {"cancelled": "cancelled_at", "expired": "expired_at"}[status]
    for step in steps:
        if step["status"] == "in_progress":
            step.update(status=status, **{stamp: at})
