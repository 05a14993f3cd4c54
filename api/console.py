"""The web console: server-rendered pages (Jinja2) with a little JavaScript, no build step.

The pages read with the token kept in an HttpOnly, SameSite=Strict cookie (set by the login
page); the cookie is honoured for reads only (see api/auth.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.auth import COOKIE, authenticate
from api.errors import ApiError, not_found
from api.state import ApiState, api_state
from store import ledger, registry, tool_library
from store.api_tokens import ApiToken, Scope

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)
State = Annotated[ApiState, Depends(api_state)]


class LoginNeeded(Exception):
    """The console's pages send a person to the login page instead of answering 401."""


async def _reader(request: Request, state: State) -> ApiToken:
    try:
        token = await authenticate(request, state, request.cookies.get(COOKIE))
    except ApiError:
        raise LoginNeeded from None
    if Scope.read not in token.scopes:
        raise ApiError(403, "forbidden", "the console needs a token with scope 'read'")
    return token


Reader = Annotated[ApiToken, Depends(_reader)]


def mount_static(app: FastAPI) -> None:
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(LoginNeeded)
    async def _login(request: Request, error: LoginNeeded) -> Response:
        return RedirectResponse("/console/login", status_code=303)


@router.get("", response_class=HTMLResponse)
async def home() -> Response:
    return RedirectResponse("/console/assistants", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, error: str = "") -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": error})


@router.post("/login")
async def login(request: Request, state: State, token: Annotated[str, Form()]) -> Response:
    try:
        await authenticate(request, state, token.strip())
    except ApiError:
        return templates.TemplateResponse(
            request, "login.html", {"error": "That token is not valid here."}, status_code=401
        )
    response = RedirectResponse("/console/assistants", status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/assistants", response_class=HTMLResponse)
async def assistants_page(request: Request, state: State, token: Reader) -> Response:
    entries = await registry.list_entries(state.ferry.db)
    return templates.TemplateResponse(request, "assistants.html", {"entries": entries})


@router.get("/assistants/{assistant_id}", response_class=HTMLResponse)
async def assistant_page(
    assistant_id: UUID, request: Request, state: State, token: Reader
) -> Response:
    entry = await registry.get_by_id(state.ferry.db, assistant_id)
    if entry is None:
        raise not_found(f"assistant {assistant_id}")
    linked = {t.name: t for t in await tool_library.linked_to(state.ferry.db, assistant_id)}
    history = await registry.history(state.ferry.db, assistant_id)
    return templates.TemplateResponse(
        request,
        "assistant.html",
        {"entry": entry, "linked": linked, "history": history},
    )


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, state: State, token: Reader) -> Response:
    rows = await ledger.list_jobs(state.ferry.db, limit=100)
    return templates.TemplateResponse(request, "jobs.html", {"jobs": rows})
