"""`/flows/{profile}/{assistant}`: seed 001's prompt flows, read and restored over HTTP.

Reads are the producer client's (`FerryClient.flows`), restore the flow store's; import,
patch and publish are jobs (`POST /jobs/flow.import`, `flow.patch`, `flow.publish`). An
assistant's name may hold any character, a `/` included: the routes with a suffix come first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import need
from api.errors import ApiError
from api.flow_models import FlowDiff, FlowHistory, FlowOut, FlowVersion, RestoreBody, Restored
from api.state import ApiState, api_state
from producers.flows import FlowError, StaleFlow
from schemas.results import FieldError
from store import flows as flow_store
from store.api_tokens import ApiToken, Scope

router = APIRouter(prefix="/flows", tags=["flows"])
State = Annotated[ApiState, Depends(api_state)]
reading = [Depends(need(Scope.read))]
Number = Annotated[int, Query(ge=1)]


def flow_refused(error: FlowError | StaleFlow) -> ApiError:
    """A store refusal as the API's error: 404 for what is missing, 409 for a moved flow."""
    if isinstance(error, StaleFlow):
        return ApiError(
            409,
            "conflict",
            f"the flow is at version {error.current}, not {error.expected}: read it again",
            [FieldError(loc="base_version", message=f"the head is {error.current}")],
        )
    return ApiError(404, "not_found", str(error))


@router.get("/{profile}/{assistant:path}/versions", dependencies=reading)
async def flow_history(profile: str, assistant: str, state: State) -> FlowHistory:
    """Every version, newest first, with what made it and the labels on it."""
    try:
        summaries = await state.ferry.flows.history(profile, assistant)
    except FlowError as error:
        raise flow_refused(error) from None
    return FlowHistory(data=[FlowVersion.of(s) for s in summaries])


@router.get("/{profile}/{assistant:path}/diff", dependencies=reading)
async def flow_diff(
    profile: str, assistant: str, old: Number, new: Number, state: State
) -> FlowDiff:
    """A unified diff of two versions' final prompts (globals + canonical)."""
    try:
        diff = await state.ferry.flows.diff(profile, assistant, old, new)
    except FlowError as error:
        raise flow_refused(error) from None
    return FlowDiff(old=old, new=new, diff=diff)


@router.post("/{profile}/{assistant:path}/restore", status_code=201)
async def restore_flow(
    profile: str,
    assistant: str,
    body: RestoreBody,
    state: State,
    token: Annotated[ApiToken, Depends(need(Scope.jobs_write))],
) -> Restored:
    """A new version with an old version's text; publish it (`flow.publish`) to make it live."""
    number = await restore(state, profile, assistant, body, f"api:{token.name}")
    return Restored(version=number, restored=body.version)


async def restore(
    state: ApiState, profile: str, assistant: str, body: RestoreBody, requested_by: str
) -> int:
    """Restore through the producer client; the base version, when given, must be the head."""
    try:
        flow = await flow_store.require(state.ferry.db, profile, assistant)
        if body.base_version is not None and flow.version != body.base_version:
            raise StaleFlow(body.base_version, flow.version)
        # The store appends at the head just read: a flow moved meanwhile is a StaleFlow too.
        return await flow_store.restore(state.ferry.db, flow, body.version, requested_by)
    except (FlowError, StaleFlow) as error:
        raise flow_refused(error) from None


@router.get("/{profile}/{assistant:path}", dependencies=reading)
async def get_flow(
    profile: str, assistant: str, state: State, version: Number | None = None
) -> FlowOut:
    """A version of the flow (default: the head): blocks in prompt order and the final prompt."""
    try:
        view = await state.ferry.flows.show(profile, assistant, version)
    except FlowError as error:
        raise flow_refused(error) from None
    return FlowOut.of(view)
