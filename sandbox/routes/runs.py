"""Runs v2: create (also with a new thread), retrieve, list, update, cancel, submit_tool_outputs,
and the run's steps.

The state machine itself lives in sandbox/run_engine.py. This module is mounted before
threads.py so that `POST /threads/runs` is not taken for an update of thread "runs".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from sandbox import assistant_tools, bodies, messages, model, models, run_engine, run_stream
from sandbox.bodies import invalid_type
from sandbox.errors import bad_request, not_found
from sandbox.pagination import page
from sandbox.routes import threads
from sandbox.state import Project, new_id, now

_RUN_FIELDS = (
    "assistant_id",
    "model",
    "instructions",
    "additional_instructions",
    "additional_messages",
    "tools",
    "metadata",
    "temperature",
    "top_p",
    "stream",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
)
_THREAD_AND_RUN_FIELDS = (*_RUN_FIELDS, "thread", "tool_resources")


def _new_run(project: Project, thread: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Check a run request against `thread`, then start the run."""
    assistant_id = bodies.required(body, "assistant_id")
    assistant = project.table("assistant").get(assistant_id)
    if assistant is None:
        raise not_found("assistant", assistant_id)
    extra = body.get("additional_messages")
    if extra is not None and not isinstance(extra, list):
        raise invalid_type("additional_messages", "an array", extra)
    run_model = body.get("model") or assistant["model"]
    if not isinstance(run_model, str):
        raise invalid_type("model", "a string", run_model)
    models.require_for_serving(project, run_model)
    if (active := run_engine.active_run(project, thread["id"])) is not None:
        raise bad_request(f"Thread {thread['id']} already has an active run {active['id']}.")
    instructions = bodies.optional_str(body, "instructions")
    if instructions is None:
        instructions = assistant["instructions"] or ""
    if more := bodies.optional_str(body, "additional_instructions"):
        instructions = f"{instructions}\n{more}" if instructions else more
    tools = (
        assistant_tools.tools(body["tools"])
        if body.get("tools") is not None
        else assistant["tools"]
    )
    run_metadata = bodies.metadata(body) or {}
    temperature = bodies.optional_number(
        body, "temperature", low=0, high=2, default=assistant["temperature"]
    )
    top_p = bodies.optional_number(body, "top_p", low=0, high=1, default=assistant["top_p"])
    built = [
        messages.build(project, thread["id"], message, param=f"additional_messages[{i}].")
        for i, message in enumerate(extra or [])
    ]
    for message in built:
        messages.store(project, message)
    created_at = now()
    run = {
        "id": new_id("run_"),
        "object": "thread.run",
        "created_at": created_at,
        "thread_id": thread["id"],
        "assistant_id": assistant_id,
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": created_at + run_engine.EXPIRY_SECONDS,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": run_model,
        "instructions": instructions,
        "tools": tools,
        "metadata": run_metadata,
        "usage": None,
        "temperature": temperature,
        "top_p": top_p,
        "max_prompt_tokens": body.get("max_prompt_tokens"),
        "max_completion_tokens": body.get("max_completion_tokens"),
        "truncation_strategy": body.get("truncation_strategy")
        or {"type": "auto", "last_messages": None},
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "response_format": body.get("response_format") or assistant["response_format"],
    }
    transcript = messages.transcript(messages.of_thread(project, thread["id"]))
    return run_engine.start(project, run, transcript)


def _with_poll_hint(project: Project, run: dict[str, Any]) -> JSONResponse:
    # The SDK's pollers wait `openai-poll-after-ms` between reads: one step of the machine.
    step_ms = max(10, int(model.settings_of(project).run_step_seconds * 1000))
    return JSONResponse(run, headers={"openai-poll-after-ms": str(step_ms)})


def _run(request: Request) -> tuple[Project, dict[str, Any]]:
    project, thread = threads.thread_in(request)
    run_id = request.path_params["run_id"]
    run = project.table(run_engine.KIND).get(run_id)
    if run is None or run["thread_id"] != thread["id"]:
        raise not_found("run", run_id)
    return project, run_engine.advance(project, run)


async def create(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}/runs"""
    project, thread = threads.thread_in(request)
    body = await bodies.json_body(request, allowed=_RUN_FIELDS)
    run = _new_run(project, thread, body)
    if body.get("stream"):
        return _streamed(run_stream.events(project, run))
    return _with_poll_hint(project, run)


async def create_thread_and_run(request: Request) -> JSONResponse:
    """POST /v1/threads/runs"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    body = await bodies.json_body(request, allowed=_THREAD_AND_RUN_FIELDS)
    bodies.required(body, "assistant_id")
    if body["assistant_id"] not in project.table("assistant"):
        raise not_found("assistant", body["assistant_id"])
    thread_body = body.get("thread") or {}
    if not isinstance(thread_body, dict):
        raise invalid_type("thread", "an object", thread_body)
    thread = threads.new_thread(project, thread_body, param="thread.")
    run_body = {k: v for k, v in body.items() if k not in ("thread", "tool_resources")}
    run = _new_run(project, thread, run_body)
    if body.get("stream"):
        return _streamed(run_stream.events(project, run, thread=thread))
    return _with_poll_hint(project, run)


async def retrieve(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}/runs/{run_id}"""
    project, run = _run(request)
    return _with_poll_hint(project, run)


async def list_(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}/runs"""
    project, thread = threads.thread_in(request)
    found = run_engine.of_thread(project, thread["id"])
    rank = {r["id"]: i for i, r in enumerate(found)}
    listed = page(found, request.query_params, key=lambda r: (r["created_at"], rank[r["id"]]))
    return JSONResponse(listed)


async def update(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}/runs/{run_id}"""
    _, run = _run(request)
    return await bodies.update_metadata(request, run)


async def cancel(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}/runs/{run_id}/cancel"""
    project, run = _run(request)
    return _with_poll_hint(project, run_engine.cancel(project, run))


async def submit_tool_outputs(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"""
    project, run = _run(request)
    body = await bodies.json_body(request, allowed=("tool_outputs", "stream"))
    outputs = bodies.required(body, "tool_outputs")
    if not isinstance(outputs, list):
        raise invalid_type("tool_outputs", "an array", outputs)
    run = run_engine.submit_tool_outputs(project, run, outputs)
    if body.get("stream"):
        return _streamed(run_stream.events(project, run, resumed=True))
    return _with_poll_hint(project, run)


def _streamed(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


async def list_steps(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}/runs/{run_id}/steps"""
    project, run = _run(request)
    return JSONResponse(page(run_engine.steps_of(project, run), request.query_params))


async def retrieve_step(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}"""
    project, run = _run(request)
    step_id = request.path_params["step_id"]
    for step in run_engine.steps_of(project, run):
        if step["id"] == step_id:
            return JSONResponse(step)
    raise not_found("run step", step_id)


routes = [
    Route("/threads/runs", create_thread_and_run, methods=["POST"]),
    Route("/threads/{thread_id}/runs", create, methods=["POST"]),
    Route("/threads/{thread_id}/runs", list_, methods=["GET"]),
    Route("/threads/{thread_id}/runs/{run_id}", retrieve, methods=["GET"]),
    Route("/threads/{thread_id}/runs/{run_id}", update, methods=["POST"]),
    Route("/threads/{thread_id}/runs/{run_id}/cancel", cancel, methods=["POST"]),
    Route(
        "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
        submit_tool_outputs,
        methods=["POST"],
    ),
    Route("/threads/{thread_id}/runs/{run_id}/steps", list_steps, methods=["GET"]),
    Route("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", retrieve_step, methods=["GET"]),
]
