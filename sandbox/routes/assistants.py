"""Assistants v2: create, retrieve, update, list, delete (object kind "assistant")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import assistant_tools, bodies, models
from sandbox.bodies import invalid_type
from sandbox.errors import bad_request, missing_parameter
from sandbox.pagination import page
from sandbox.state import Project, new_id, now

KIND = "assistant"
_FIELDS = (
    "model",
    "name",
    "description",
    "instructions",
    "reasoning_effort",
    "tools",
    "tool_resources",
    "metadata",
    "temperature",
    "top_p",
    "response_format",
)


def _response_format(value: Any) -> Any:
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, dict) and value.get("type") in ("text", "json_object", "json_schema"):
        if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), dict):
            raise missing_parameter("response_format.json_schema")
        return value
    raise bad_request(
        "Invalid 'response_format': expected 'auto' or an object with type 'text', "
        "'json_object' or 'json_schema'.",
        param="response_format",
        code="invalid_value",
    )


def _apply(project: Project, assistant: dict[str, Any], body: dict[str, Any]) -> None:
    """Check every field present in `body` and write it onto `assistant`."""
    if "model" in body:
        model = bodies.required(body, "model")
        if not isinstance(model, str):
            raise invalid_type("model", "a string", model)
        models.require_for_assistant(project, model)
        assistant["model"] = model
    for name, limit in (("name", 256), ("description", 512), ("instructions", 256_000)):
        if name in body:
            assistant[name] = bodies.optional_str(body, name, max_chars=limit)
    if "tools" in body:
        assistant["tools"] = assistant_tools.tools(body["tools"])
    if "metadata" in body:
        assistant["metadata"] = bodies.metadata(body) or {}
    if "temperature" in body:
        assistant["temperature"] = bodies.optional_number(
            body, "temperature", low=0, high=2, default=1.0
        )
    if "top_p" in body:
        assistant["top_p"] = bodies.optional_number(body, "top_p", low=0, high=1, default=1.0)
    if "response_format" in body:
        assistant["response_format"] = _response_format(body["response_format"])
    # `reasoning_effort` is accepted but not echoed: AssistantObject has no such field.
    if "tool_resources" in body:
        # Last: the `vector_stores` helper creates a store, so every other check comes first.
        assistant["tool_resources"] = assistant_tools.tool_resources(
            project, body["tool_resources"]
        )


async def create(request: Request) -> JSONResponse:
    """POST /v1/assistants"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    body = await bodies.json_body(request, allowed=_FIELDS)
    bodies.required(body, "model")
    assistant: dict[str, Any] = {
        "id": new_id("asst_"),
        "object": "assistant",
        "created_at": now(),
        "name": None,
        "description": None,
        "model": "",
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "metadata": {},
        "top_p": 1.0,
        "temperature": 1.0,
        "response_format": "auto",
    }
    _apply(project, assistant, body)
    return JSONResponse(project.put(KIND, assistant))


async def retrieve(request: Request) -> JSONResponse:
    """GET /v1/assistants/{assistant_id}"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    return JSONResponse(project.get(KIND, request.path_params["assistant_id"]))


async def update(request: Request) -> JSONResponse:
    """POST /v1/assistants/{assistant_id}"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    assistant = project.get(KIND, request.path_params["assistant_id"])
    body = await bodies.json_body(request, allowed=_FIELDS)
    # Check on a copy so a refused update changes nothing.
    updated = dict(assistant)
    _apply(project, updated, body)
    return JSONResponse(project.put(KIND, updated))


async def list_(request: Request) -> JSONResponse:
    """GET /v1/assistants"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    table = project.table(KIND)
    # Creation order breaks ties within one second, as OpenAI's lists keep it.
    rank = {object_id: i for i, object_id in enumerate(table)}
    listed = page(
        table.values(), request.query_params, key=lambda o: (o["created_at"], rank[o["id"]])
    )
    return JSONResponse(listed)


async def delete(request: Request) -> JSONResponse:
    """DELETE /v1/assistants/{assistant_id}"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    assistant = project.delete(KIND, request.path_params["assistant_id"])
    return JSONResponse({"id": assistant["id"], "object": "assistant.deleted", "deleted": True})


routes = [
    Route("/assistants", create, methods=["POST"]),
    Route("/assistants", list_, methods=["GET"]),
    Route("/assistants/{assistant_id}", retrieve, methods=["GET"]),
    Route("/assistants/{assistant_id}", update, methods=["POST"]),
    Route("/assistants/{assistant_id}", delete, methods=["DELETE"]),
]
