"""Responses: create (plain input, `previous_response_id` or `conversation`; streamed or not),
retrieve, delete, input items. The scripted model (sandbox/model.py) writes every answer.

A response on a conversation holds the conversation's lock while it is being answered: for
the project's `response_latency_seconds` (sandbox/model.py `set_timing`), or for as long as
its stream is open. A second response meanwhile gets OpenAI's 400 `conversation_locked`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sandbox import (
    assistant_tools,
    bodies,
    file_search,
    function_schemas,
    items,
    model,
    models,
    response_lifecycle,
)
from sandbox.bodies import invalid_type
from sandbox.errors import APIError, bad_request, missing_parameter, not_found
from sandbox.pagination import page
from sandbox.response_lifecycle import Finisher, ResponseRecord
from sandbox.routes import conversations
from sandbox.state import Project, new_id, now

KIND = "response"
MIN_OUTPUT_TOKENS = 16
_FIELDS = (
    "model", "input", "instructions", "tools", "tool_choice", "previous_response_id",
    "conversation", "store", "stream", "stream_options", "metadata", "temperature", "top_p",
    "parallel_tool_calls", "max_output_tokens", "max_tool_calls", "text", "reasoning",
    "truncation", "user", "include", "background", "prompt_cache_key", "safety_identifier",
    "service_tier", "top_logprobs", "prompt",
)  # fmt: skip


def _tools(project: Project, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    shaped = []
    for i, tool in enumerate(value):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(param, "an object", tool)
        if tool.get("type") == "function":
            if not isinstance(tool.get("name"), str):
                raise missing_parameter(f"{param}.name")
            strict = tool.get("strict")
            if strict is None:
                # the spec: strict when the schema is compatible, non-strict otherwise
                strict = function_schemas.is_compatible(tool.get("parameters"))
            elif strict:
                function_schemas.require_strict(
                    tool["name"], tool.get("parameters"), param=f"{param}.parameters"
                )
            shaped.append(
                {
                    "type": "function",
                    "name": tool["name"],
                    "description": tool.get("description"),
                    "parameters": tool.get("parameters"),
                    "strict": bool(strict),
                }
            )
        elif tool.get("type") == "file_search":
            store_ids = tool.get("vector_store_ids")
            if not isinstance(store_ids, list):
                raise missing_parameter(f"{param}.vector_store_ids")
            for store_id in store_ids:
                assistant_tools.require_vector_store(project, store_id, f"{param}.vector_store_ids")
            shaped.append(dict(tool))
        else:
            shaped.append(dict(tool))  # other hosted tools are accepted and never used
    return shaped


def _conversation_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str):
        raise invalid_type("conversation", "a string or an object with an id", value)
    return value


def _context(project: Project, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The items before this response's input, and the conversation it answers on, if any."""
    previous_id = body.get("previous_response_id")
    conversation_id = _conversation_id(body.get("conversation"))
    if previous_id is not None and conversation_id is not None:
        raise bad_request(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="conversation",
            code="mutually_exclusive_parameters",
        )
    if previous_id is not None:
        record: ResponseRecord | None = project.private_of(KIND).get(previous_id)
        if record is None or previous_id not in project.table(KIND):
            raise bad_request(
                f"Previous response with id '{previous_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        previous = project.table(KIND)[previous_id]
        return [*record.context, *record.input, *previous["output"]], None
    if conversation_id is not None:
        state = conversations.state_of(project, conversation_id, param="conversation")
        return list(state.items.values()), conversation_id
    return [], None


def _usage(turn: model.Turn, output_cap: int | None = None) -> dict[str, Any]:
    output_tokens = turn.output_tokens if output_cap is None else output_cap
    return {
        "input_tokens": turn.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": turn.input_tokens + output_tokens,
    }


def _max_output_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type("max_output_tokens", "an integer", value)
    if value < MIN_OUTPUT_TOKENS:
        raise bad_request(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {value} instead.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    return value


def _cut_to(output: list[dict[str, Any]], turn: model.Turn, limit: int | None) -> bool:
    """Cut a text answer longer than `limit` tokens, as the model would stop; True if cut."""
    if limit is None or turn.output_tokens <= limit or not output:
        return False
    reply = output[-1]
    if reply["type"] != "message":
        return False
    part = reply["content"][0]
    part["text"] = part["text"][: limit * 4]  # the model's rough 4 characters a token
    reply["status"] = "incomplete"
    return True


def _answer(project: Project, body: dict[str, Any], tools: list, context: list, new: list):
    """The model's turn over context + input, as output items (and the turn itself)."""
    functions = {t["name"] for t in tools if t["type"] == "function"}
    if body.get("tool_choice") == "none":
        functions = set()
    searches = [t for t in tools if t["type"] == "file_search"]
    search = None
    if searches:
        store_ids = [s for t in searches for s in t["vector_store_ids"]]
        limit = searches[0].get("max_num_results") or file_search.DEFAULT_MAX_RESULTS
        search = file_search.searcher(project, store_ids, max_results=limit)
    turn = model.respond(
        project,
        instructions=body.get("instructions"),
        transcript=items.transcript([*context, *new]),
        functions=functions,
        search=search,
    )
    calls = turn.tool_calls
    if calls and body.get("parallel_tool_calls") is False:
        calls = calls[:1]
    if calls:
        return turn, [items.function_call(call) for call in calls]
    if turn.error is not None:
        return turn, []
    with_results = "file_search_call.results" in (body.get("include") or [])
    searched = [file_search.call_item(s, with_results=with_results) for s in turn.searches]
    return turn, [*searched, items.message("assistant", [items.output_text(turn.text or "")])]


async def create(request: Request) -> Response:
    """POST /v1/responses"""
    project: Project = request.state.project
    body = await bodies.json_body(request, allowed=_FIELDS)
    model_name = bodies.required(body, "model")
    if not isinstance(model_name, str):
        raise invalid_type("model", "a string", model_name)
    models.require_for_serving(project, model_name)
    instructions = bodies.optional_str(body, "instructions")
    metadata = bodies.metadata(body) or {}
    temperature = bodies.optional_number(body, "temperature", low=0, high=2, default=1.0)
    top_p = bodies.optional_number(body, "top_p", low=0, high=1, default=1.0)
    max_output_tokens = _max_output_tokens(body.get("max_output_tokens"))
    tools = _tools(project, body.get("tools"))
    background = bool(body.get("background"))
    if background and body.get("store") is False:
        raise bad_request("Background mode requires `store` to be true.", param="background")
    new = items.input_items(body.get("input") if body.get("input") is not None else [])
    context, conversation_id = _context(project, body)
    items.check_calls_answered(context, new)
    response_id = new_id("resp_")
    if conversation_id is not None:
        response_lifecycle.settle_conversation(project, conversation_id)
    if conversation_id is not None:
        conversations.lock(project, conversation_id, response_id)
    try:
        turn, output = _answer(project, body, tools, context, new)
    except BaseException:
        if conversation_id is not None:
            conversations.unlock(project, conversation_id, response_id)
        raise
    failed = turn.error is not None
    incomplete = _cut_to(output, turn, max_output_tokens)
    response = {
        "id": response_id,
        "object": "response",
        "created_at": now(),
        "status": "failed" if failed else "incomplete" if incomplete else "completed",
        "completed_at": None if failed or incomplete else int(time.time()),
        "error": {"code": "server_error", "message": turn.error} if failed else None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "model": model_name,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "conversation": {"id": conversation_id} if conversation_id else None,
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True) is not False,
        "temperature": temperature,
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": tools,
        "top_p": top_p,
        "truncation": body.get("truncation") or "disabled",
        "usage": _usage(turn, max_output_tokens if incomplete else None),
        "metadata": metadata,
        "background": background,
    }
    if body.get("user") is not None:  # deprecated; the spec's `user` is never null
        response["user"] = body["user"]
    finish = Finisher(project, response, ResponseRecord(context, new, body), conversation_id)
    delay = model.settings_of(project).response_latency_seconds
    if background:
        shown = response_lifecycle.start_background(finish, delay)
        if body.get("stream"):
            return _sse(response_lifecycle.replay(project, response_id, -1))
        return JSONResponse(shown)
    if body.get("stream"):
        return StreamingResponse(finish.stream(delay), media_type="text/event-stream")
    try:
        await asyncio.sleep(delay)
        finish.commit()  # before the release, so the next turn sees this one's items
    finally:
        finish.release()
    if failed:
        raise APIError(500, turn.error or "", type="server_error", code="server_error")
    return JSONResponse(response)


def _stored(project: Project, response_id: str) -> dict[str, Any]:
    response = project.table(KIND).get(response_id)
    if response is None:
        raise not_found("response", response_id)
    return response_lifecycle.advance(project, response)


def _sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


async def retrieve(request: Request) -> Response:
    """GET /v1/responses/{response_id} (`?stream=true&starting_after=N`: replay the events)"""
    project: Project = request.state.project
    response = _stored(project, request.path_params["response_id"])
    if request.query_params.get("stream") not in (None, "false"):
        if not response_lifecycle.is_background(project, response["id"]):
            raise bad_request(
                "This response was not created with background=true, so it cannot be "
                "streamed. Retrieve it without `stream`.",
                param="stream",
            )
        after = request.query_params.get("starting_after", "-1")
        try:
            starting_after = int(after)
        except ValueError:
            raise invalid_type("starting_after", "an integer", after) from None
        return _sse(response_lifecycle.replay(project, response["id"], starting_after))
    return JSONResponse(response)


async def cancel(request: Request) -> JSONResponse:
    """POST /v1/responses/{response_id}/cancel (background responses only)"""
    project: Project = request.state.project
    response = _stored(project, request.path_params["response_id"])
    if not response_lifecycle.is_background(project, response["id"]):
        raise bad_request(
            "Only responses created with background=true can be cancelled.",
            param="response_id",
        )
    return JSONResponse(response_lifecycle.cancel(project, response))


async def delete(request: Request) -> JSONResponse:
    """DELETE /v1/responses/{response_id}"""
    project: Project = request.state.project
    response = _stored(project, request.path_params["response_id"])
    response_lifecycle.forget(project, response["id"])
    project.delete(KIND, response["id"])
    return JSONResponse({"id": response["id"], "object": "response.deleted", "deleted": True})


async def input_items(request: Request) -> JSONResponse:
    """GET /v1/responses/{response_id}/input_items"""
    project: Project = request.state.project
    response = _stored(project, request.path_params["response_id"])
    record: ResponseRecord = project.private_of(KIND)[response["id"]]
    rank = {item["id"]: i for i, item in enumerate(record.input)}
    listed = page(record.input, request.query_params, key=lambda item: rank[item["id"]])
    return JSONResponse(listed)


routes = [
    Route("/responses", create, methods=["POST"]),
    Route("/responses/{response_id}", retrieve, methods=["GET"]),
    Route("/responses/{response_id}", delete, methods=["DELETE"]),
    Route("/responses/{response_id}/cancel", cancel, methods=["POST"]),
    Route("/responses/{response_id}/input_items", input_items, methods=["GET"]),
]
