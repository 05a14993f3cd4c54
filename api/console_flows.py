"""Seed 001's pages: the prompt importer and the flow editor (history, diff, restore, publish).

Changing a flow is a form post carrying the cookie and a form key derived from the token
(a page of another site can neither send the SameSite=Strict cookie nor know the key), and it
needs scope `jobs:write`. Import, patch and publish run as jobs through the producer client
and the page waits for the outcome; restore is the flow store's.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.auth import COOKIE, authenticate
from api.console import LoginNeeded, Reader, State, templates
from api.errors import ApiError, invalid
from api.flow_models import RestoreBody, blocks_of
from api.flows import restore
from api.state import ApiState
from producers.errors import JobFailed, ResultTimeout
from producers.flows import FlowError
from schemas.flows import PRODUCTION_LABEL, Edit, PatchMode, final_prompt
from schemas.jobs import field_errors
from store import registry
from store.api_tokens import ApiToken, Scope

R = TypeVar("R")
router = APIRouter(prefix="/console/flows", include_in_schema=False)
# How long a page waits for its job before it says where to follow it instead.
PAGE_WAIT_S = 30.0
# A person reads these headings; the job's own message follows each.
_FAILURE_TITLES = {
    "conflict": "This flow changed since you opened it",
    "stale": "This flow changed since you opened it",
    "invalid_edit": "The edit does not fit the block",
    "semantic_rejected": "The semantic rewrite was rejected",
    "no_blocks": "No blocks",
    "not_found": "Not found",
}


def form_key(token: str) -> str:
    """The key a console form carries: only a page served to this token's holder knows it."""
    return hashlib.sha256(b"ferry-console-form\0" + token.encode()).hexdigest()


def editor_url(profile: str, assistant: str, **query: Any) -> str:
    path = f"/console/flows/{quote(profile, safe='')}/{quote(assistant, safe='')}"
    shown = {k: v for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(shown)}" if shown else path


async def _writer(request: Request, state: State, key: Annotated[str, Form()] = "") -> ApiToken:
    presented = request.cookies.get(COOKIE) or ""
    try:
        token = await authenticate(request, state, presented)
    except ApiError:
        raise LoginNeeded from None
    if not hmac.compare_digest(key, form_key(presented)):
        raise ApiError(403, "forbidden", "the form is not from this console: reload the page")
    if Scope.jobs_write not in token.scopes:
        raise ApiError(403, "forbidden", "changing a flow needs a token with scope 'jobs:write'")
    return token


Writer = Annotated[ApiToken, Depends(_writer)]


@dataclass
class Problem:
    """What went wrong, as the page shows it, and the status the page is answered with."""

    title: str
    message: str
    fields: list[str] = field(default_factory=list)
    status: int = 409


async def attempt(job: Callable[[], Awaitable[R]]) -> R | Problem:
    """Run a flow job for a page: its result, or the problem a person reads instead."""
    try:
        return await job()
    except ValidationError as error:
        fields = [f"{f.loc}: {f.message}" for f in field_errors(error)]
        return Problem("The input is not valid", "nothing was sent; fix these fields", fields, 422)
    except JobFailed as error:
        code = (error.error.detail or {}).get("code", "")
        return Problem(_FAILURE_TITLES.get(code, "The job failed"), error.error.message)
    except ResultTimeout as error:
        return Problem("Still running", f"{error}; follow it on the jobs page", status=202)


def _page_context(request: Request, token: ApiToken) -> dict[str, Any]:
    return {
        "key": form_key(request.cookies.get(COOKIE, "")),
        "can_write": Scope.jobs_write in token.scopes,
    }


# --- the importer --------------------------------------------------------------------------


async def _importer(
    request: Request,
    state: ApiState,
    token: ApiToken,
    *,
    chosen: str = "",
    prompt: str = "",
    problem: Problem | None = None,
    imported: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    entries = await registry.list_entries(state.ferry.db)
    context = {
        **_page_context(request, token),
        "entries": entries,
        "chosen": chosen,
        "prompt": prompt,
        "problem": problem,
        "imported": imported,
    }
    return templates.TemplateResponse(request, "flow_import.html", context, status_code=status_code)


@router.get("/import", response_class=HTMLResponse)
async def import_page(
    request: Request, state: State, token: Reader, assistant: str = ""
) -> Response:
    return await _importer(request, state, token, chosen=assistant)


@router.post("/import", response_class=HTMLResponse)
async def import_prompt(
    request: Request,
    state: State,
    token: Writer,
    assistant: Annotated[str, Form()] = "",
    prompt: Annotated[str, Form()] = "",
) -> Response:
    # A browser sends a textarea's line ends as CRLF whatever was pasted: keep the text's own.
    prompt = prompt.replace("\r\n", "\n")
    profile, _, name = assistant.partition("/")
    if not name:
        problem = Problem("Choose an assistant", "the flow belongs to a registry assistant")
        return await _importer(
            request, state, token, prompt=prompt, problem=problem, status_code=422
        )
    result = await attempt(
        lambda: state.ferry.flows.import_prompt(
            profile, name, prompt, requested_by=f"console:{token.name}", timeout=PAGE_WAIT_S
        )
    )
    if isinstance(result, Problem):
        return await _importer(
            request, state, token, chosen=assistant, prompt=prompt, problem=result,
            status_code=result.status,
        )  # fmt: skip
    view = await state.ferry.flows.show(profile, name, result.version)
    imported = {
        "result": result,
        "globals": view.globals,
        "blocks": blocks_of(view.canonical, view),
        "editor": editor_url(profile, name),
    }
    return await _importer(request, state, token, chosen=assistant, imported=imported)


# --- the editor ----------------------------------------------------------------------------


def _notice(query: dict[str, str]) -> str:
    """What the last action did, said from the redirect's numbers (never echoed text)."""
    number = query.get("made", "")
    if not number.isdigit():
        return ""
    match query.get("did"):
        case "patch":
            return f"Your edit made version {number}."
        case "restore":
            return f"Restored: version {number} holds version {query.get('from', '?')}'s text."
        case "publish":
            return f"Published version {number}."
    return ""


async def _editor(
    request: Request,
    state: ApiState,
    token: ApiToken,
    profile: str,
    assistant: str,
    *,
    problem: Problem | None = None,
    status_code: int = 200,
) -> Response:
    query = dict(request.query_params)
    version = int(query["version"]) if query.get("version", "").isdigit() else None
    try:
        view = await state.ferry.flows.show(profile, assistant, version)
        history = await state.ferry.flows.history(profile, assistant)
        old, new = query.get("old", ""), query.get("new", "")
        diff = None
        if old.isdigit() and new.isdigit():
            diff = (
                int(old),
                int(new),
                await state.ferry.flows.diff(profile, assistant, int(old), int(new)),
            )
    except FlowError as error:
        if version is None:  # no flow yet: the importer makes one
            return await _importer(
                request, state, token, chosen=f"{profile}/{assistant}",
                problem=Problem("No flow yet", str(error)), status_code=404,
            )  # fmt: skip
        raise ApiError(404, "not_found", str(error)) from None
    context = {
        **_page_context(request, token),
        "view": view,
        "profile": profile,
        "assistant": assistant,
        "blocks": blocks_of(view.canonical, view),
        "final": final_prompt(view.globals, view.canonical),
        "history": history,
        "diff": diff,
        "notice": _notice(query),
        "problem": problem,
        "production": PRODUCTION_LABEL,
        "here": editor_url(profile, assistant),
    }
    return templates.TemplateResponse(request, "flow.html", context, status_code=status_code)


@router.post("/{profile}/{assistant:path}/patch", response_class=HTMLResponse)
async def patch_block(
    request: Request,
    state: State,
    token: Writer,
    profile: str,
    assistant: str,
    base_version: Annotated[int, Form()],
    block_id: Annotated[str, Form()],
    old_text: Annotated[str, Form()] = "",
    new_text: Annotated[str, Form()] = "",
    mode: Annotated[PatchMode, Form()] = PatchMode.exact,
    context: Annotated[str, Form()] = "",
) -> Response:
    try:
        head = await state.ferry.flows.show(profile, assistant)
    except FlowError as error:
        raise ApiError(404, "not_found", str(error)) from None
    if "\r\n" not in head.canonical:  # the browser's CRLF is not the prompt's
        old_text, new_text = old_text.replace("\r\n", "\n"), new_text.replace("\r\n", "\n")
    result = await attempt(
        lambda: state.ferry.flows.patch(
            profile,
            assistant,
            [Edit(block_id=block_id, old_text=old_text, new_text=new_text)],
            base_version=base_version,
            mode=mode,
            context=context.strip() or None,
            requested_by=f"console:{token.name}",
            timeout=PAGE_WAIT_S,
        )
    )
    if isinstance(result, Problem):
        return await _editor(
            request, state, token, profile, assistant, problem=result, status_code=result.status
        )
    made = result.version
    return RedirectResponse(
        editor_url(profile, assistant, did="patch", made=made, old=made - 1, new=made), 303
    )


@router.post("/{profile}/{assistant:path}/restore", response_class=HTMLResponse)
async def restore_version(
    request: Request,
    state: State,
    token: Writer,
    profile: str,
    assistant: str,
    version: Annotated[int, Form()],
    base_version: Annotated[int, Form()],
) -> Response:
    try:
        body = RestoreBody(version=version, base_version=base_version)
        made = await restore(state, profile, assistant, body, f"console:{token.name}")
    except ValidationError as error:
        raise invalid(field_errors(error)) from None
    except ApiError as error:
        problem = Problem(
            _FAILURE_TITLES["conflict"] if error.status == 409 else "Not found", error.message
        )
        return await _editor(
            request, state, token, profile, assistant, problem=problem, status_code=error.status
        )
    target = editor_url(
        profile,
        assistant,
        did="restore",
        made=made,
        old=base_version,
        new=made,
        **{"from": version},
    )
    return RedirectResponse(target, 303)


@router.post("/{profile}/{assistant:path}/publish", response_class=HTMLResponse)
async def publish_version(
    request: Request,
    state: State,
    token: Writer,
    profile: str,
    assistant: str,
    version: Annotated[int, Form()],
    label: Annotated[str, Form()] = PRODUCTION_LABEL,
) -> Response:
    result = await attempt(
        lambda: state.ferry.flows.publish(
            profile,
            assistant,
            version,
            label=label.strip(),
            requested_by=f"console:{token.name}",
            timeout=PAGE_WAIT_S,
        )
    )
    if isinstance(result, Problem):
        return await _editor(
            request, state, token, profile, assistant, problem=result, status_code=result.status
        )
    return RedirectResponse(editor_url(profile, assistant, did="publish", made=result.version), 303)


@router.get("/{profile}/{assistant:path}", response_class=HTMLResponse)
async def editor_page(
    request: Request, state: State, token: Reader, profile: str, assistant: str
) -> Response:
    return await _editor(request, state, token, profile, assistant)
