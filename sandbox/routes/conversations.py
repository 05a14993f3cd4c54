"""Conversations and their items (object kind "conversation"). There is no list route: OpenAI
has none, so conversation ids exist only where their creator kept them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import bodies, items
from sandbox.bodies import array_too_long, invalid_type
from sandbox.errors import bad_request, not_found
from sandbox.pagination import page
from sandbox.state import Project, new_id, now

KIND = "conversation"
MAX_ITEMS_PER_CALL = 20


@dataclass
class ConversationState:
    """A conversation's items in order, and the response answering on it, if any."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    busy_with: str | None = None


def state_of(
    project: Project, conversation_id: str, *, param: str | None = None
) -> ConversationState:
    """The items and lock of a conversation the project owns (404 otherwise)."""
    if conversation_id not in project.table(KIND):
        raise not_found("conversation", conversation_id, param=param)
    return project.private_of(KIND).setdefault(conversation_id, ConversationState())


def lock(project: Project, conversation_id: str, response_id: str) -> ConversationState:
    """Claim the conversation for one response; OpenAI's `conversation_locked` if taken."""
    state = state_of(project, conversation_id, param="conversation")
    if state.busy_with is not None:
        raise bad_request(
            "Another process is currently operating on this conversation. Please retry in a "
            "few seconds.",
            param="conversation",
            code="conversation_locked",
        )
    state.busy_with = response_id
    return state


def unlock(project: Project, conversation_id: str, response_id: str) -> None:
    """Release the claim of `response_id` (a no-op if the conversation is gone)."""
    state = project.private_of(KIND).get(conversation_id)
    if state is not None and state.busy_with == response_id:
        state.busy_with = None


def _new_items(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name) or []
    if not isinstance(value, list):
        raise invalid_type(name, "an array", value)
    if len(value) > MAX_ITEMS_PER_CALL:
        raise array_too_long(name, MAX_ITEMS_PER_CALL, len(value))
    return items.input_items(value, param=name)


def _conversation(request: Request) -> tuple[Project, dict[str, Any], ConversationState]:
    project: Project = request.state.project
    conversation_id = request.path_params["conversation_id"]
    state = state_of(project, conversation_id)
    return project, project.get(KIND, conversation_id), state


async def create(request: Request) -> JSONResponse:
    """POST /v1/conversations"""
    project: Project = request.state.project
    body = await bodies.json_body(request, allowed=("items", "metadata"))
    metadata = bodies.metadata(body) or {}
    new = _new_items(body, "items")
    conversation = {
        "id": new_id("conv_"),
        "object": "conversation",
        "created_at": now(),
        "metadata": metadata,
    }
    project.put(KIND, conversation)
    state = state_of(project, conversation["id"])
    state.items.update((item["id"], item) for item in new)
    return JSONResponse(conversation)


async def retrieve(request: Request) -> JSONResponse:
    """GET /v1/conversations/{conversation_id}"""
    _, conversation, _ = _conversation(request)
    return JSONResponse(conversation)


async def update(request: Request) -> JSONResponse:
    """POST /v1/conversations/{conversation_id}"""
    _, conversation, _ = _conversation(request)
    body = await bodies.json_body(request, allowed=("metadata",))
    bodies.required(body, "metadata")
    conversation["metadata"] = bodies.metadata(body) or {}
    return JSONResponse(conversation)


async def delete(request: Request) -> JSONResponse:
    """DELETE /v1/conversations/{conversation_id}"""
    project, conversation, _ = _conversation(request)
    project.delete(KIND, conversation["id"])
    return JSONResponse(
        {"id": conversation["id"], "object": "conversation.deleted", "deleted": True}
    )


def _listing(found: list[dict[str, Any]], query: Any, *, default_order: str) -> dict[str, Any]:
    rank = {item["id"]: i for i, item in enumerate(found)}
    return page(found, query, default_order=default_order, key=lambda item: rank[item["id"]])


async def create_items(request: Request) -> JSONResponse:
    """POST /v1/conversations/{conversation_id}/items"""
    _, _, state = _conversation(request)
    body = await bodies.json_body(request, allowed=("items",))
    bodies.required(body, "items")
    new = _new_items(body, "items")
    state.items.update((item["id"], item) for item in new)
    return JSONResponse(_listing(new, {"limit": "100"}, default_order="asc"))


async def list_items(request: Request) -> JSONResponse:
    """GET /v1/conversations/{conversation_id}/items"""
    _, _, state = _conversation(request)
    found = list(state.items.values())
    return JSONResponse(_listing(found, request.query_params, default_order="desc"))


def _item(state: ConversationState, item_id: str) -> dict[str, Any]:
    if item_id not in state.items:
        raise not_found("item", item_id)
    return state.items[item_id]


async def retrieve_item(request: Request) -> JSONResponse:
    """GET /v1/conversations/{conversation_id}/items/{item_id}"""
    _, _, state = _conversation(request)
    return JSONResponse(_item(state, request.path_params["item_id"]))


async def delete_item(request: Request) -> JSONResponse:
    """DELETE /v1/conversations/{conversation_id}/items/{item_id}"""
    _, conversation, state = _conversation(request)
    del state.items[_item(state, request.path_params["item_id"])["id"]]
    return JSONResponse(conversation)


routes = [
    Route("/conversations", create, methods=["POST"]),
    Route("/conversations/{conversation_id}", retrieve, methods=["GET"]),
    Route("/conversations/{conversation_id}", update, methods=["POST"]),
    Route("/conversations/{conversation_id}", delete, methods=["DELETE"]),
    Route("/conversations/{conversation_id}/items", create_items, methods=["POST"]),
    Route("/conversations/{conversation_id}/items", list_items, methods=["GET"]),
    Route("/conversations/{conversation_id}/items/{item_id}", retrieve_item, methods=["GET"]),
    Route("/conversations/{conversation_id}/items/{item_id}", delete_item, methods=["DELETE"]),
]
