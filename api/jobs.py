"""`/jobs`: enqueue any kind the API serves, read its status, await its result, stream events.

Enqueueing is the producer client's: the same validation, the same deterministic ids (the
same body twice is one job), the ledger row before the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from api.auth import need
from api.errors import ApiError, invalid, not_found
from api.job_events import event_stream, parse_last_id
from api.models import JobList, JobRequest, JobView
from api.state import ApiState, api_state
from producers.errors import ResultTimeout
from schemas.jobs import PayloadError, parse_job
from schemas.results import FieldError, JobOutcome, JobStatus
from store.api_tokens import ApiToken, Scope
from store.outages import OUTAGES

router = APIRouter(prefix="/jobs", tags=["jobs"])
State = Annotated[ApiState, Depends(api_state)]
reading = [Depends(need(Scope.read))]
# An Idempotency-Key stands for its job this long.
IDEMPOTENCY_TTL_S = 86_400


async def _view(state: ApiState, job_id: str) -> JobView:
    row = await state.ferry.ledger_row(job_id)
    if row is None:
        raise not_found(f"job {job_id}")
    return JobView.of(row)


def _json(model: BaseModel, status_code: int = 200) -> Response:
    """A body serialised directly: the job path skips FastAPI's re-validation of its answer."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")


@router.post(
    "/{kind}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobView,
    responses={200: {"model": JobOutcome, "description": "Finished within `wait`."}},
)
async def enqueue(
    kind: str,
    body: JobRequest,
    state: State,
    token: Annotated[ApiToken, Depends(need(Scope.jobs_write))],
    idempotency_key: Annotated[
        str | None, Header(max_length=255, description="Replays of one request are one job.")
    ] = None,
    wait: Annotated[
        float, Query(ge=0, description="Seconds to wait for the outcome (0: answer at once).")
    ] = 0,
) -> Response:
    """Accept a job of `kind`: 202 with the job (the same one again for the same body).

    With `wait`, the request also awaits the outcome, as `GET /jobs/{id}/result?wait=`
    would: 200 with the outcome if the job finishes in time, else 202 with the job as it is
    then. One request instead of two, for a caller that wants the result.
    """
    model = state.kinds.get(kind)
    if model is None:
        known = ", ".join(sorted(state.kinds)) or "none yet"
        raise ApiError(
            404,
            "not_found",
            f"unknown job kind {kind!r}",
            [FieldError(loc="kind", message=f"this API serves: {known}")],
        )
    envelope = {
        "kind": kind,
        "schema_version": body.schema_version or model.schema_version,
        "payload": body.payload,
    }
    try:
        job = parse_job(envelope, state.kinds)
    except PayloadError as error:
        raise invalid(error.fields, str(error)) from None
    # The wait starts before the enqueue: the job id is known (deterministic), and the
    # subscription's round trip then overlaps the ledger's instead of following it. Once
    # subscribed it looks in Redis only: a job that finished before (and whose pushed
    # outcome is gone) is known by the row the enqueue finds, so no ledger read runs
    # beside the enqueue's own.
    waiting = None
    if wait > 0:
        timeout = min(wait, state.settings.api_max_wait_s)
        pushed = state.ferry.waiter.wait(
            job.job_id(), lambda: _pushed_outcome(state, job.job_id()), timeout
        )
        waiting = asyncio.create_task(_or_timeout(pushed, job.job_id(), timeout))
    try:
        if idempotency_key is not None:
            await _claim_idempotency_key(state, token, idempotency_key, job.job_id())
        handle = await state.ferry.enqueue(job)
        # The row the enqueue wrote (or found): no second ledger read.
        row = handle.accepted
        view = JobView.of(row) if row else await _view(state, handle.job_id)
        if view.outcome is not None and waiting is not None:
            return _json(view.outcome)
        if waiting is not None:
            with contextlib.suppress(ResultTimeout):
                return _json(await waiting)
            view = await _view(state, handle.job_id)
    finally:
        _drop(waiting)
    return _json(view, status.HTTP_202_ACCEPTED)


async def _claim_idempotency_key(
    state: ApiState, token: ApiToken, idempotency_key: str, job_id: str
) -> None:
    """Bind the key to `job_id`, or refuse (409) a key already bound to another job."""
    key = state.keys.idempotency(str(token.id), idempotency_key)
    stored = await state.ferry.redis.set(key, job_id, nx=True, ex=IDEMPOTENCY_TTL_S)
    if not stored:
        earlier = await state.ferry.redis.get(key)
        earlier = earlier.decode() if isinstance(earlier, bytes) else earlier
        if earlier != job_id:
            raise ApiError(
                409,
                "conflict",
                f"this Idempotency-Key was used for another request (job {earlier})",
            )


async def _or_timeout(
    waiting: Awaitable[JobOutcome | None], job_id: str, timeout: float
) -> JobOutcome:
    if (outcome := await waiting) is None:
        raise ResultTimeout(job_id, timeout)
    return outcome


def _await_outcome(state: ApiState, job_id: str, wait: float) -> asyncio.Task[JobOutcome] | None:
    """The pushed outcome of `job_id`, awaited for up to `wait` s (capped), as a task."""
    if wait <= 0:
        return None
    handle = state.ferry.handle(job_id)
    timeout = min(wait, state.settings.api_max_wait_s)
    return asyncio.create_task(handle.outcome(timeout=timeout))


# Waits given up on, held until their clean-up (an unsubscribe) ends.
_ENDING: set[asyncio.Task[JobOutcome]] = set()


def _drop(waiting: asyncio.Task[JobOutcome] | None) -> None:
    """Give up a wait without holding the answer for its unsubscribe round trip."""
    if waiting is None or waiting.done():
        return
    waiting.cancel()
    _ENDING.add(waiting)
    waiting.add_done_callback(_ended)


def _ended(task: asyncio.Task[JobOutcome]) -> None:
    _ENDING.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a wait that failed as it was given up says nothing


@router.get("", dependencies=reading)
async def list_jobs(
    state: State,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobList:
    """The ledger, newest first."""
    rows = await state.ferry.jobs(status=status_, kind=kind, limit=limit)
    return JobList(data=[JobView.of(row) for row in rows])


@router.get("/{job_id}", dependencies=reading)
async def get_job(job_id: str, state: State) -> JobView:
    return await _view(state, job_id)


@router.get(
    "/{job_id}/result",
    dependencies=reading,
    response_model=JobOutcome,
    responses={202: {"model": JobView, "description": "Not finished within `wait`."}},
)
async def job_result(
    job_id: str,
    state: State,
    wait: Annotated[float, Query(ge=0, description="Seconds to wait for the outcome.")] = 0,
) -> Response:
    """The outcome once the job finished (200), or the job as it is after `wait` s (202).

    The wait is the producer client's: pushed, never polled. It starts while the job is
    looked up (a 404 ends it), so the lookup adds no round trip to the wait. Without a
    wait, a finished job's outcome is read where the client reads it first: Redis.
    """
    waiting = _await_outcome(state, job_id, wait)
    try:
        if waiting is None and (outcome := await _pushed_outcome(state, job_id)) is not None:
            return _json(outcome)
        row = await state.ferry.ledger_row(job_id)
        if row is None:
            raise not_found(f"job {job_id}")
        if (outcome := row.outcome()) is not None:
            return _json(outcome)
        if waiting is None:
            return _json(JobView.of(row), status.HTTP_202_ACCEPTED)
        with contextlib.suppress(ResultTimeout):
            return _json(await waiting)
    finally:
        _drop(waiting)
    return _json(await _view(state, job_id), status.HTTP_202_ACCEPTED)


async def _pushed_outcome(state: ApiState, job_id: str) -> JobOutcome | None:
    """The outcome the worker stored in Redis (None: not there, or Redis unreachable)."""
    with contextlib.suppress(*OUTAGES):
        if (pushed := await state.ferry.redis.get(state.keys.outcome(job_id))) is not None:
            return JobOutcome.model_validate_json(pushed)
    return None


@router.get("/{job_id}/events", dependencies=reading, response_class=EventSourceResponse)
async def job_events(
    job_id: str,
    request: Request,
    state: State,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: the status now, then progress (and chat text deltas) and the
    outcome, which ends the stream. Reconnect with `Last-Event-ID` to resume."""
    view = await _view(state, job_id)
    try:
        after = parse_last_id(last_event_id)
    except ValueError as error:
        raise invalid([FieldError(loc="Last-Event-ID", message=str(error))]) from None
    return EventSourceResponse(event_stream(state, view, after, request), ping=15, send_timeout=30)
