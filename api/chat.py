"""`POST /chat`: one chat turn in one call, the form a gateway wants.

The body is a `ChatRun`'s fields; the gateway's `message_id` is the job id, so a message sent
twice (a retry, a webhook delivered again) is one turn with one answer. Checking, enqueueing
and the thread's line are the producer client's (`ferry.chats.send`), as for any gateway.
`?stream=true` answers Server-Sent Events: the text deltas as they arrive, then one `reply`
(or `error`) event; the events are the job's (`GET /jobs/{id}/events`), ids included, so a
gateway that lost the connection resumes there with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from api.auth import need
from api.errors import ApiError, ErrorBody, ErrorDetail, invalid
from api.job_events import Cursor, event_stream, parse_last_id
from api.models import JobView
from api.state import ApiState, api_state
from producers.errors import JobRejected, ResultTimeout
from schemas.chat import ChatAttachment, ChatReply, ChatRun
from schemas.job_events import JobEvent, JobEventType
from schemas.results import ErrorKind, FieldError, JobOutcome, JobStatus
from store.api_tokens import Scope

router = APIRouter(tags=["chat"])
State = Annotated[ApiState, Depends(api_state)]
# Beyond the turn's own timeout, what a reply may spend waiting for a worker and its thread.
REPLY_SLACK_S = 30.0
# Each way a turn can fail, as an HTTP status (a refusal is 422, like any bad request).
_STATUS = {
    ErrorKind.validation: 422,
    ErrorKind.timeout: 504,
    ErrorKind.cancelled: 409,
}


class ChatRequest(BaseModel):
    """A `ChatRun` without `stream` (the query parameter says that)."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(description="The gateway's id: the same message twice is one turn.")
    user_id: str
    assistant: str
    profile: str = "default"
    text: str
    attachments: list[ChatAttachment] = Field(default_factory=list)
    timeout: float = Field(default=60.0, description="Seconds the turn may take (at most 240).")


def _failure(outcome: JobOutcome) -> ApiError:
    """A failed turn as the API's error body: its kind as the code, its fields as given."""
    error = outcome.error
    kind = error.kind if error else ErrorKind.internal
    message = error.message if error else "the turn failed without an error"
    return ApiError(_STATUS.get(kind, 502), kind.value, message, error.fields if error else [])


@router.post(
    "/chat",
    response_model=ChatReply,
    responses={
        202: {"model": JobView, "description": "Not finished in the turn's timeout + slack."},
        422: {"model": ErrorBody},
    },
)
async def chat(
    body: ChatRequest,
    request: Request,
    state: State,
    _: Annotated[object, Depends(need(Scope.jobs_write))],
    stream: Annotated[bool, Query(description="Answer Server-Sent Events.")] = False,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """One chat turn: the reply (200), or with `stream=true` its deltas and the reply as SSE."""
    try:
        after = parse_last_id(last_event_id)
    except ValueError as error:
        raise invalid([FieldError(loc="Last-Event-ID", message=str(error))]) from None
    # The reply's wait starts before the turn is sent (its job id is the message id): the
    # subscription's round trip overlaps the send's instead of following it.
    waiting = None
    if not stream:
        reply_wait = state.ferry.handle(body.message_id, ChatRun.kind, ChatReply)
        waiting = asyncio.create_task(reply_wait.outcome(timeout=body.timeout + REPLY_SLACK_S))
    try:
        try:
            handle = await state.ferry.chats.send(
                body.user_id,
                body.assistant,
                body.text,
                message_id=body.message_id,
                profile=body.profile,
                attachments=body.attachments,
                stream=stream,
                timeout=body.timeout,
            )
        except JobRejected as error:
            raise invalid(error.fields, error.error.message) from None
        row = handle.accepted or await state.ferry.ledger_row(handle.job_id)
        if row is None:
            raise ApiError(500, "internal", f"job {handle.job_id} is missing from the ledger")
        view = JobView.of(row)
        if waiting is None:
            events = _reply_events(state, view, after, request)
            return EventSourceResponse(events, ping=15, send_timeout=30)
        try:
            outcome = await waiting
        except ResultTimeout:
            row = await state.ferry.ledger_row(handle.job_id)
            view = JobView.of(row) if row is not None else view
            return Response(view.model_dump_json(), status.HTTP_202_ACCEPTED, media_type=_JSON)
    finally:
        if waiting is not None and not waiting.done():
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError, ResultTimeout):
                await waiting
    if outcome.status is not JobStatus.succeeded:
        raise _failure(outcome)
    reply = ChatReply.model_validate(outcome.result)
    return Response(reply.model_dump_json(), media_type=_JSON)


_JSON = "application/json"


async def _reply_events(
    state: ApiState, view: JobView, after: Cursor | None, request: Request
) -> AsyncIterator[dict[str, str]]:
    """The job's events as a chat stream: deltas, then `reply` or `error` (no status)."""
    events = event_stream(state, view, after, request)
    try:
        async for sent in events:
            if sent["event"] == JobEventType.delta.value:
                yield sent
            elif sent["event"] == JobEventType.outcome.value:
                event = JobEvent.model_validate_json(sent["data"])
                outcome = JobOutcome.model_validate(event.data)
                if outcome.status is JobStatus.succeeded:
                    data = ChatReply.model_validate(outcome.result).model_dump_json()
                    yield {"id": sent["id"], "event": "reply", "data": data}
                else:
                    failure = _failure(outcome)
                    detail = ErrorDetail(
                        code=failure.code, message=failure.message, fields=failure.fields
                    )
                    data = ErrorBody(error=detail).model_dump_json()
                    yield {"id": sent["id"], "event": "error", "data": data}
    finally:
        with contextlib.suppress(Exception):
            await events.aclose()
