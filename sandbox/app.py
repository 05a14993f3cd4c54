"""The sandbox's ASGI app: OpenAI's routes under /v1, resolved per API key to one project.

Every /v1 request passes one gateway (a plain ASGI middleware, so it costs a few dict
lookups): counters, injected faults, the API key and the `OpenAI-Organization` /
`OpenAI-Project` headers, the project's quota, its rate limits, and OpenAI's
`x-ratelimit-*` headers on the answer. The admin routes live outside /v1 (`/_sandbox/…`).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from sandbox import admin, faults, models
from sandbox.errors import APIError
from sandbox.limits import RateLimiter, is_token_route, quota_error, request_tokens
from sandbox.routes import (
    assistants,
    conversations,
    files,
    responses,
    runs,
    threads,
    vector_store_files,
    vector_stores,
)
from sandbox.state import SandboxState

V1_ROUTE_MODULES = (
    files,
    vector_stores,
    vector_store_files,
    assistants,
    runs,
    threads,
    conversations,
    responses,
    models,  # last: routes match in order, and the hot file routes come first
)

# a path segment that is an object id (`file-…`, `vs_…`, `asst_…`): folded in the counters
# (at least one digit, so words like `input_items` stay as they are)
_ID_SEGMENT = re.compile(r"^[a-z]+[-_](?=[A-Za-z]*[0-9])[A-Za-z0-9]{8,}$")


def create_app(state: SandboxState) -> Starlette:
    """Build the app over `state`; handlers read `request.state.project`."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return exc.response()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        # unknown routes and methods: OpenAI's JSON error, not Starlette's plain text
        assert isinstance(exc, HTTPException)
        if exc.status_code in (404, 405):
            return APIError(404, f"Invalid URL ({request.method} {request.url.path})").response()
        return APIError(exc.status_code, str(exc.detail)).response()

    v1_routes = [route for module in V1_ROUTE_MODULES for route in module.routes]
    app = Starlette(
        routes=[Mount("/v1", routes=v1_routes), Mount("/_sandbox", routes=admin.routes)],
        exception_handlers={APIError: on_api_error, HTTPException: on_http_error},
    )
    app.state.sandbox = state
    app.add_middleware(_Gateway)
    return app


def route_of(path: str) -> str:
    """The path with ids folded to `{id}`, so counters group by route."""
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


def _unknown_key(key: str) -> APIError:
    shown = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
    return APIError(
        401,
        f"Incorrect API key provided: {shown}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


_NO_KEY = APIError(
    401,
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field "
    "(with blank username) if you're accessing the API from your browser and are prompted for "
    "a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys.",
)
_MISMATCHED_ORG = APIError(
    401,
    "OpenAI-Organization header should match organization for API key",
    code="mismatched_organization",
)
_MISMATCHED_PROJECT = APIError(
    401, "OpenAI-Project header should match project for API key", code="mismatched_project"
)


class _Gateway:
    """Counters, faults, auth, quota and rate limits for /v1; counters only elsewhere."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        state: SandboxState = scope["app"].state.sandbox
        method, path = scope["method"], scope["path"]
        # every answer, errors included, carries a request id, as OpenAI's do
        counted = _with_headers(
            _counting(state, method, path, send),
            [(b"x-request-id", f"req_{secrets.token_hex(16)}".encode())],
        )
        headers = dict(scope["headers"])
        key = headers.get(b"authorization", b"").decode().removeprefix("Bearer ").strip()
        api_key = state.keys.get(key)
        if api_key is None:
            await _answer(_unknown_key(key) if key else _NO_KEY, scope, receive, counted)
            return
        org = headers.get(b"openai-organization")
        if org is not None and org.decode() != api_key.org_id:
            await _answer(_MISMATCHED_ORG, scope, receive, counted)
            return
        proj = headers.get(b"openai-project")
        if proj is not None and proj.decode() != api_key.project_id:
            await _answer(_MISMATCHED_PROJECT, scope, receive, counted)
            return
        project = state.project_of(api_key)
        scope.setdefault("state", {})["project"] = project
        scope["state"]["api_key"] = api_key

        tokens, model, family, family_name = 0, None, None, None
        if is_token_route(method, path):
            # the model and the reserved tokens are in the body: read it, then hand it on
            raw = await _read_body(receive)
            receive = _replay(raw, receive)
            body = _json_object(raw)
            model = _model_of(project, path, body)
            tokens = request_tokens(len(raw.decode("utf-8", "replace")), body)
            if model is not None and project.model_limiters:
                family_name = models.family_of(project, model)
                family = project.model_limiters.get(family_name)
        if family is None:
            limit_headers, refusal = project.limiter.admit(api_key.org_id, tokens, model=model)
        else:
            limit_headers, refusal = _admit_family(
                project.limiter, family, api_key.org_id, tokens, model, family_name
            )
        limit_headers += [
            (b"openai-organization", api_key.org_id.encode()),
            (b"openai-project", api_key.project_id.encode()),
            (b"openai-version", b"2020-10-01"),
        ]
        if refusal is None and project.insufficient_quota:
            refusal = quota_error(project.quota_code)
        if refusal is not None:
            if refusal.type != "insufficient_quota":
                state.counters.rate_limited[refusal.type] += 1
            await _answer(refusal, scope, receive, _with_headers(counted, limit_headers))
            return

        send_out = _with_headers(counted, limit_headers)
        if state.faults:
            fired = state.faults.pick(method, path, project.id)
            if fired:
                if not await faults.apply(fired, self.app, scope, receive, send_out):
                    # no answer went out: counted as status 0
                    state.counters.requests[(method, route_of(path), 0)] += 1
                return
        await self.app(scope, receive, send_out)


def _admit_family(
    limiter: RateLimiter,
    family: RateLimiter,
    org_id: str,
    tokens: int,
    model: str | None,
    family_name: str | None,
) -> tuple[list[tuple[bytes, bytes]], APIError | None]:
    """Charge the project's limits and the model family's (if it has its own): both or neither.

    The headers are the family's when it has limits, as OpenAI reports a model's own; its
    429 names the family, whose limit it is."""
    refusal = family.check(org_id, tokens, model=family_name) or limiter.check(
        org_id, tokens, model=model
    )
    if refusal is None:
        family.charge(tokens)
        limiter.charge(tokens)
    return family.headers(), refusal


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(raw: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return None  # the route answers the 400
    return body if isinstance(body, dict) else None


def _model_of(project: Any, path: str, body: dict[str, Any] | None) -> str | None:
    """The model a token route would use: the body's, or for a run the assistant's."""
    if body is None:
        return None
    model = body.get("model")
    assistant_id = body.get("assistant_id")
    if model is None and path != "/v1/responses" and isinstance(assistant_id, str):
        assistant = project.table("assistant").get(assistant_id)
        model = assistant["model"] if assistant else None
    return model if isinstance(model, str) and model in project.models else None


async def _answer(error: APIError, scope: Any, receive: Any, send: Any) -> None:
    await error.response()(scope, receive, send)


def _counting(state: SandboxState, method: str, path: str, send: Any) -> Any:
    async def counted(message: Any) -> None:
        if message["type"] == "http.response.start":
            state.counters.requests[(method, route_of(path), message["status"])] += 1
        await send(message)

    return counted


def _with_headers(send: Any, extra: list[tuple[bytes, bytes]]) -> Any:
    async def with_headers(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return with_headers
