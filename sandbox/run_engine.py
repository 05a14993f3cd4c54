"""The run state machine, computed lazily from timestamps whenever a run is read.

A run (re)starts at `t0` with a step of `d` seconds (the project's `run_step_seconds`, taken
when the run starts or restarts, so later changes do not rewrite history):

    t0 .. t0+d     queued
    t0+d .. t0+2d  in_progress
    t0+2d          the model's turn lands: requires_action (tool calls), completed (the reply
                   message is added to the thread) or failed (last_error)

`cancel` makes a run `cancelling` and, one step later, `cancelled`. Tool outputs restart the
machine at `queued`. A run still active at `expires_at` (10 minutes) is `expired`.
The model's turn is decided when the run (re)starts, so queued outputs are consumed in order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sandbox import file_search, messages, model, run_steps
from sandbox.assistant_tools import function_names
from sandbox.errors import bad_request, missing_parameter
from sandbox.model import Entry, Turn
from sandbox.state import Project

KIND = "run"
ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
EXPIRY_SECONDS = 600


@dataclass
class RunState:
    """What the sandbox keeps about a run besides its public object."""

    t0: float
    step: float
    turn: Turn
    transcript: list[Entry]
    cancel_at: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pending_calls: dict[str, str] = field(default_factory=dict)  # call_id -> function name
    steps: list[dict[str, Any]] = field(default_factory=list)


def start(project: Project, run: dict[str, Any], transcript: list[Entry]) -> dict[str, Any]:
    """Store a new `queued` run and decide the model's first turn."""
    step = model.settings_of(project).run_step_seconds
    state = RunState(
        t0=time.time(), step=step, turn=_decide(project, run, transcript), transcript=transcript
    )
    project.private_of(KIND)[run["id"]] = state
    return project.put(KIND, run)


def _searcher(project: Project, run: dict[str, Any]) -> model.Searcher | None:
    """file_search over the assistant's and the thread's stores, if the run has the tool."""
    tool = next((t for t in run["tools"] if t["type"] == "file_search"), None)
    if tool is None:
        return None
    store_ids: list[str] = []
    for kind, object_id in (("assistant", run["assistant_id"]), ("thread", run["thread_id"])):
        owner = project.table(kind).get(object_id) or {}
        resources = owner.get("tool_resources") or {}
        store_ids += resources.get("file_search", {}).get("vector_store_ids", [])
    limit = tool.get("file_search", {}).get("max_num_results") or file_search.DEFAULT_MAX_RESULTS
    return file_search.searcher(project, store_ids, max_results=limit)


def _decide(project: Project, run: dict[str, Any], transcript: list[Entry]) -> Turn:
    functions = function_names(run["tools"])
    if run.get("tool_choice") == "none":
        functions = set()
    turn = model.respond(
        project,
        instructions=run["instructions"],
        transcript=transcript,
        functions=functions,
        search=_searcher(project, run),
    )
    if turn.tool_calls and run.get("parallel_tool_calls") is False:
        turn = Turn(
            tool_calls=turn.tool_calls[:1],
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
        )
    return turn


def advance(project: Project, run: dict[str, Any], *, at: float | None = None) -> dict[str, Any]:
    """Bring `run` up to date with the clock and return it."""
    state: RunState | None = project.private_of(KIND).get(run["id"])
    if state is None or run["status"] in TERMINAL:
        return run
    at = time.time() if at is None else at
    if run["expires_at"] is not None and at >= run["expires_at"] and run["status"] != "cancelling":
        run.update(status="expired", expires_at=None, required_action=None)
        run_steps.close(state.steps, "expired", int(at))
        return run
    if state.cancel_at is not None:
        if at >= state.cancel_at + state.step:
            run.update(status="cancelled", cancelled_at=int(state.cancel_at + state.step))
            run["expires_at"] = None
            run_steps.close(state.steps, "cancelled", run["cancelled_at"])
        return run
    if run["status"] == "requires_action":
        return run
    if at < state.t0 + state.step:
        run["status"] = "queued"
        return run
    if run["started_at"] is None:
        run["started_at"] = int(state.t0 + state.step)
    if at < state.t0 + 2 * state.step:
        run["status"] = "in_progress"
        return run
    _land(project, run, state, int(state.t0 + 2 * state.step))
    return run


def _land(project: Project, run: dict[str, Any], state: RunState, landed_at: int) -> None:
    """Apply the model's turn: the run leaves `in_progress`."""
    turn = state.turn
    state.prompt_tokens += turn.input_tokens
    state.completion_tokens += turn.output_tokens
    if turn.tool_calls:
        state.pending_calls = {c.call_id: c.name for c in turn.tool_calls}
        state.steps.append(run_steps.tool_calls(run, turn.tool_calls, landed_at))
        state.transcript = [
            *state.transcript,
            *(
                Entry("tool_call", c.arguments, call_id=c.call_id, name=c.name)
                for c in turn.tool_calls
            ),
        ]
        calls = [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in turn.tool_calls
        ]
        run.update(
            status="requires_action",
            required_action={
                "type": "submit_tool_outputs",
                "submit_tool_outputs": {"tool_calls": calls},
            },
        )
        return
    usage = {
        "prompt_tokens": state.prompt_tokens,
        "completion_tokens": state.completion_tokens,
        "total_tokens": state.prompt_tokens + state.completion_tokens,
    }
    run.update(required_action=None, expires_at=None, usage=usage)
    if turn.error is not None:
        run.update(
            status="failed",
            failed_at=landed_at,
            last_error={"code": "server_error", "message": turn.error},
        )
        return
    reply = messages.new_message(
        project,
        run["thread_id"],
        {"role": "assistant", "content": turn.text or ""},
        run_id=run["id"],
        assistant_id=run["assistant_id"],
        created_at=landed_at,
    )
    state.steps.append(run_steps.message_creation(run, reply["id"], turn, landed_at))
    run.update(status="completed", completed_at=landed_at)


def of_thread(project: Project, thread_id: str) -> list[dict[str, Any]]:
    """The thread's runs in creation order, each brought up to date."""
    return [
        advance(project, run)
        for run in project.table(KIND).values()
        if run["thread_id"] == thread_id
    ]


def active_run(project: Project, thread_id: str) -> dict[str, Any] | None:
    """The thread's run that is still queued, in progress, waiting for tools or cancelling."""
    return next((r for r in of_thread(project, thread_id) if r["status"] in ACTIVE), None)


def cancel(project: Project, run: dict[str, Any]) -> dict[str, Any]:
    """Ask an active run to stop: `cancelling` now, `cancelled` one step later."""
    advance(project, run)
    if run["status"] not in ACTIVE or run["status"] == "cancelling":
        raise bad_request(f"Cannot cancel run with status '{run['status']}'.")
    state: RunState = project.private_of(KIND)[run["id"]]
    state.cancel_at = time.time()
    run.update(status="cancelling", required_action=None)
    return run


def submit_tool_outputs(
    project: Project, run: dict[str, Any], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Record the outputs of every pending call and restart the run at `queued`."""
    advance(project, run)
    if run["status"] != "requires_action":
        raise bad_request(f'Runs in status "{run["status"]}" do not accept tool outputs.')
    state: RunState = project.private_of(KIND)[run["id"]]
    given: dict[str, str] = {}
    for i, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("tool_call_id"), str):
            raise missing_parameter(f"tool_outputs[{i}].tool_call_id")
        given[output["tool_call_id"]] = str(output.get("output") or "")
    expected = list(state.pending_calls)
    if sorted(given) != sorted(expected):
        raise bad_request(
            f"Expected tool outputs for call_ids {expected}, got {list(given)}",
            param="tool_outputs",
        )
    transcript = [
        *state.transcript,
        *(
            Entry("tool_output", given[call_id], call_id=call_id, name=name)
            for call_id, name in state.pending_calls.items()
        ),
    ]
    state.pending_calls = {}
    if state.steps and state.steps[-1]["type"] == "tool_calls":
        run_steps.outputs_given(state.steps[-1], given, state.turn, int(time.time()))
    state.transcript = transcript
    state.t0 = time.time()
    state.step = model.settings_of(project).run_step_seconds
    state.turn = _decide(project, run, transcript)
    run.update(status="queued", required_action=None)
    return run


def steps_of(project: Project, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's steps in creation order (the run brought up to date first)."""
    advance(project, run)
    state: RunState | None = project.private_of(KIND).get(run["id"])
    return list(state.steps) if state is not None else []
