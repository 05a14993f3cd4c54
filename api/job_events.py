"""A job's events as Server-Sent Events, from its Redis stream (`schemas/job_events.py`).

A reader gets the job's status first (an event without an id, so it never moves the resume
point), then every stream entry after `Last-Event-ID`, and stops after the outcome. The
outcome entry is appended by whichever reader sees the job finish first, atomically and
once (the worker pushes outcomes on a channel; the stream is where late readers find them).

A chat-run job's text deltas live on the worker's own stream (`RedisKeys.chat_deltas`); its
readers read both streams in one XREAD, so their event ids are a cursor of both positions,
`<events id>/<deltas id>`, and a reconnect resumes each stream exactly where it stopped.
The outcome waits until the deltas are drained: the worker writes its last delta before it
returns, so once the outcome is there every delta is too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from api.models import JobView
from api.state import ApiState
from schemas.chat import ChatRun
from schemas.job_events import STREAM_MAXLEN, STREAM_TTL_S, JobEvent, JobEventType
from schemas.results import JobOutcome

_STREAM_ID = r"\d+-\d+"
_EVENT_ID = re.compile(rf"^({_STREAM_ID})(?:/({_STREAM_ID}))?$")
_START = "0-0"
# How long one XREAD blocks before it checks the client is still there.
_BLOCK_MS = 10_000

# Append the outcome once: the first caller adds it and records its id; later ones get that id.
_APPEND_OUTCOME = """
local final = redis.call('GET', KEYS[2])
if final then return final end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return id
"""


@dataclass
class Cursor:
    """Where a reader is: its place in the job's event stream and (chat-run) delta stream."""

    events: str = _START
    deltas: str | None = None

    def event_id(self) -> str:
        """The SSE id of the event just sent: the cursor as one string."""
        return self.events if self.deltas is None else f"{self.events}/{self.deltas}"


def parse_last_id(value: str | None) -> Cursor | None:
    """The cursor a reconnecting client last saw (None: from the start)."""
    if value is None or value == "":
        return None
    match = _EVENT_ID.match(value)
    if match is None:
        raise ValueError("expected an event id this stream sent (like 1700000000000-0)")
    return Cursor(match.group(1), match.group(2))


def _key(value: str) -> tuple[int, int]:
    ms, seq = value.split("-")
    return int(ms), int(seq)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(fields: dict[Any, Any], name: str) -> str:
    return _text(fields.get(name.encode(), fields.get(name, b"")))


async def append_outcome(state: ApiState, outcome: JobOutcome) -> str:
    """Append the job's outcome event unless one is there; the outcome entry's id."""
    event = JobEvent(type=JobEventType.outcome, data=outcome.model_dump(mode="json"))
    final = await state.ferry.redis.eval(
        _APPEND_OUTCOME,
        2,
        state.keys.job_events(outcome.job_id),
        state.keys.job_events_final(outcome.job_id),
        event.model_dump_json(),
        STREAM_MAXLEN,
        STREAM_TTL_S,
    )
    return final.decode() if isinstance(final, bytes) else final


async def event_stream(
    state: ApiState, view: JobView, after: Cursor | None, request: Request
) -> AsyncIterator[dict[str, str]]:
    """The SSE events of one job (dicts as sse-starlette sends them)."""
    redis, job_id = state.ferry.redis, view.id
    if after is not None:
        final = await redis.get(state.keys.job_events_final(job_id))
        final = final.decode() if isinstance(final, bytes) else final
        if final is not None and _key(after.events) >= _key(final):
            return  # the client has every event, the outcome included
    else:
        status = JobEvent(type=JobEventType.status, data={"status": view.status.value})
        yield {"event": status.type.value, "data": status.model_dump_json()}

    async def watch_outcome() -> None:
        outcome = view.outcome or await state.ferry.handle(job_id, view.kind).outcome()
        await append_outcome(state, outcome)

    cursor = after or Cursor()
    events_key = state.keys.job_events(job_id)
    deltas_key: str | None = None
    if view.kind == ChatRun.kind:
        deltas_key = state.keys.chat_deltas(job_id)
        cursor.deltas = cursor.deltas or _START

    def positions() -> dict[str, str]:
        # The deltas first: Redis answers the streams in this order, so within one reply
        # the deltas come before an outcome that followed them.
        where = {events_key: cursor.events}
        if deltas_key is not None and cursor.deltas is not None:
            where = {deltas_key: cursor.deltas, **where}
        return where

    async def drain_deltas() -> AsyncIterator[dict[str, str]]:
        while deltas_key is not None and cursor.deltas is not None:
            replies = await redis.xread({deltas_key: cursor.deltas}, count=500)
            if not replies:
                return
            for _, entries in replies:
                for entry_id, fields in entries:
                    if (sent := delta_event(entry_id, fields)) is not None:
                        yield sent

    def delta_event(entry_id: Any, fields: dict[Any, Any]) -> dict[str, str] | None:
        cursor.deltas = _text(entry_id)
        if _field(fields, "type") != "delta":
            return None  # the worker's `end` entry: the outcome event says the same
        event = JobEvent(type=JobEventType.delta, data={"text": _field(fields, "text")})
        return {"id": cursor.event_id(), "event": event.type.value, "data": event.model_dump_json()}

    watcher = asyncio.create_task(watch_outcome(), name=f"ferry-events-{job_id}")
    try:
        while not await request.is_disconnected():
            replies = await redis.xread(positions(), count=100, block=_BLOCK_MS)
            for stream, entries in replies or []:
                from_deltas = _text(stream) == deltas_key
                for entry_id, fields in entries:
                    if from_deltas:
                        if (sent := delta_event(entry_id, fields)) is not None:
                            yield sent
                        continue
                    event = JobEvent.model_validate_json(fields.get(b"event", fields.get("event")))
                    if event.type is JobEventType.outcome:
                        async for sent in drain_deltas():
                            yield sent
                    cursor.events = _text(entry_id)
                    data = event.model_dump_json()
                    yield {"id": cursor.event_id(), "event": event.type.value, "data": data}
                    if event.type is JobEventType.outcome:
                        return
            if watcher.done() and watcher.exception() is not None:
                raise watcher.exception()  # type: ignore[misc]
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
