"""Threads v2 and their messages: threads CRUD, messages create/list/retrieve/update/delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import assistant_tools, bodies, messages, run_engine
from sandbox.bodies import invalid_type
from sandbox.errors import bad_request, not_found
from sandbox.pagination import page
from sandbox.state import Project, new_id, now

KIND = "thread"
_THREAD_FIELDS = ("messages", "tool_resources", "metadata")
_MESSAGE_FIELDS = ("role", "content", "attachments", "metadata")


def new_thread(project: Project, body: dict[str, Any], *, param: str = "") -> dict[str, Any]:
    """Check a thread request (messages, tool_resources, metadata) and store the thread."""
    given = body.get("messages")
    if given is not None and not isinstance(given, list):
        raise invalid_type(f"{param}messages", "an array", given)
    thread_id = new_id("thread_")
    metadata = bodies.metadata(body) or {}
    # Check every message before storing anything, so a refused thread leaves no trace.
    built = []
    for i, message in enumerate(given or []):
        if not isinstance(message, dict):
            raise invalid_type(f"{param}messages[{i}]", "an object", message)
        built.append(messages.build(project, thread_id, message, param=f"{param}messages[{i}]."))
    # Last: the `vector_stores` helper of tool_resources creates a store.
    resources = assistant_tools.tool_resources(
        project, body.get("tool_resources"), param=f"{param}tool_resources"
    )
    thread = {
        "id": thread_id,
        "object": "thread",
        "created_at": now(),
        "metadata": metadata,
        "tool_resources": resources,
    }
    project.put(KIND, thread)
    for message in built:
        messages.store(project, message)
    return thread


def thread_in(request: Request) -> tuple[Project, dict[str, Any]]:
    """The caller's project and the thread named by the path (404 if not theirs)."""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    return project, project.get(KIND, request.path_params["thread_id"])


async def create(request: Request) -> JSONResponse:
    """POST /v1/threads"""
    assistant_tools.require_beta_header(request)
    project: Project = request.state.project
    body = await bodies.json_body(request, allowed=_THREAD_FIELDS)
    return JSONResponse(new_thread(project, body))


async def retrieve(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}"""
    _, thread = thread_in(request)
    return JSONResponse(thread)


async def update(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}"""
    project, thread = thread_in(request)
    body = await bodies.json_body(request, allowed=("tool_resources", "metadata"))
    updated = dict(thread)
    if "metadata" in body:
        updated["metadata"] = bodies.metadata(body) or {}
    if "tool_resources" in body:
        updated["tool_resources"] = assistant_tools.tool_resources(project, body["tool_resources"])
    return JSONResponse(project.put(KIND, updated))


async def delete(request: Request) -> JSONResponse:
    """DELETE /v1/threads/{thread_id}"""
    project, thread = thread_in(request)
    for run in run_engine.of_thread(project, thread["id"]):
        project.delete(run_engine.KIND, run["id"])
    for message in messages.of_thread(project, thread["id"]):
        project.delete(messages.KIND, message["id"])
    project.delete(KIND, thread["id"])
    return JSONResponse({"id": thread["id"], "object": "thread.deleted", "deleted": True})


def refuse_if_running(project: Project, thread_id: str) -> None:
    """OpenAI's 400 for adding a message to a thread whose run is still active."""
    if (run := run_engine.active_run(project, thread_id)) is not None:
        raise bad_request(f"Can't add messages to {thread_id} while a run {run['id']} is active.")


async def create_message(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}/messages"""
    project, thread = thread_in(request)
    body = await bodies.json_body(request, allowed=_MESSAGE_FIELDS)
    refuse_if_running(project, thread["id"])
    return JSONResponse(messages.new_message(project, thread["id"], body))


async def list_messages(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}/messages"""
    project, thread = thread_in(request)
    run_engine.of_thread(project, thread["id"])  # replies of finished runs appear first
    found = messages.of_thread(project, thread["id"])
    if run_id := request.query_params.get("run_id"):
        found = [m for m in found if m["run_id"] == run_id]
    rank = {m["id"]: i for i, m in enumerate(found)}
    listed = page(found, request.query_params, key=lambda m: (m["created_at"], rank[m["id"]]))
    return JSONResponse(listed)


def _message(project: Project, thread: dict[str, Any], message_id: str) -> dict[str, Any]:
    run_engine.of_thread(project, thread["id"])
    message = project.table(messages.KIND).get(message_id)
    if message is None or message["thread_id"] != thread["id"]:
        raise not_found("message", message_id)
    return message


async def retrieve_message(request: Request) -> JSONResponse:
    """GET /v1/threads/{thread_id}/messages/{message_id}"""
    project, thread = thread_in(request)
    return JSONResponse(_message(project, thread, request.path_params["message_id"]))


async def update_message(request: Request) -> JSONResponse:
    """POST /v1/threads/{thread_id}/messages/{message_id}"""
    project, thread = thread_in(request)
    message = _message(project, thread, request.path_params["message_id"])
    return await bodies.update_metadata(request, message)


async def delete_message(request: Request) -> JSONResponse:
    """DELETE /v1/threads/{thread_id}/messages/{message_id}"""
    project, thread = thread_in(request)
    message = _message(project, thread, request.path_params["message_id"])
    project.delete(messages.KIND, message["id"])
    return JSONResponse({"id": message["id"], "object": "thread.message.deleted", "deleted": True})


routes = [
    Route("/threads", create, methods=["POST"]),
    Route("/threads/{thread_id}", retrieve, methods=["GET"]),
    Route("/threads/{thread_id}", update, methods=["POST"]),
    Route("/threads/{thread_id}", delete, methods=["DELETE"]),
    Route("/threads/{thread_id}/messages", create_message, methods=["POST"]),
    Route("/threads/{thread_id}/messages", list_messages, methods=["GET"]),
    Route("/threads/{thread_id}/messages/{message_id}", retrieve_message, methods=["GET"]),
    Route("/threads/{thread_id}/messages/{message_id}", update_message, methods=["POST"]),
    Route("/threads/{thread_id}/messages/{message_id}", delete_message, methods=["DELETE"]),
]
