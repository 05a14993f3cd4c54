"""The sandbox's ASGI app: OpenAI's routes under /v1, resolved per API key to one project."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from sandbox.errors import APIError
from sandbox.routes import (
    assistants,
    conversations,
    files,
    responses,
    threads,
    vector_stores,
)
from sandbox.state import SandboxState

V1_ROUTE_MODULES = (files, vector_stores, assistants, threads, conversations, responses)


def create_app(state: SandboxState) -> Starlette:
    """Build the app over `state`; handlers read `request.state.project`."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return exc.response()

    v1_routes = [route for module in V1_ROUTE_MODULES for route in module.routes]
    app = Starlette(
        routes=[Mount("/v1", routes=v1_routes)],
        exception_handlers={APIError: on_api_error},
    )
    app.state.sandbox = state
    app.add_middleware(_AuthMiddleware)
    return app


class _AuthMiddleware:
    """Resolve the bearer key to its project; 401 for an unknown key, as OpenAI answers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        state: SandboxState = scope["app"].state.sandbox
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode()
        key = auth.removeprefix("Bearer ").strip()
        api_key = state.keys.get(key)
        if api_key is None:
            shown = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
            error = APIError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
            await error.response()(scope, receive, send)
            return
        scope.setdefault("state", {})["project"] = state.project_of(api_key)
        scope["state"]["api_key"] = api_key
        await self.app(scope, receive, send)
