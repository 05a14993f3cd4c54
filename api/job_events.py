"""A job's events as Server-Sent Events, from its Redis stream (`schemas/job_events.py`).

A reader gets the job's status first (an event without an id, so it never moves the resume
point), then every stream entry after `Last-Event-ID`, and stops after the outcome. The
outcome entry is appended by whichever reader sees the job finish first, atomically and
once (the worker pushes outcomes on a channel; the stream is where late readers find them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from starlette.requests import Request

from api.models import JobView
from api.state import ApiState
from schemas.job_events import STREAM_MAXLEN, STREAM_TTL_S, JobEvent, JobEventType
from schemas.results import JobOutcome

_STREAM_ID = re.compile(r"^\d+-\d+$")
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


def parse_last_id(value: str | None) -> str | None:
    """The stream id a reconnecting client last saw (None: from the start)."""
    if value is None or value == "":
        return None
    if not _STREAM_ID.match(value):
        raise ValueError("expected an event id this stream sent (like 1700000000000-0)")
    return value


def _key(value: str) -> tuple[int, int]:
    ms, seq = value.split("-")
    return int(ms), int(seq)


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
    state: ApiState, view: JobView, after: str | None, request: Request
) -> AsyncIterator[dict[str, str]]:
    """The SSE events of one job (dicts as sse-starlette sends them)."""
    redis, job_id = state.ferry.redis, view.id
    final = await redis.get(state.keys.job_events_final(job_id))
    final = final.decode() if isinstance(final, bytes) else final
    if after is not None and final is not None and _key(after) >= _key(final):
        return  # the client has every event, the outcome included
    if after is None:
        status = JobEvent(type=JobEventType.status, data={"status": view.status.value})
        yield {"event": status.type.value, "data": status.model_dump_json()}

    async def watch_outcome() -> None:
        outcome = view.outcome or await state.ferry.handle(job_id, view.kind).outcome()
        await append_outcome(state, outcome)

    watcher = asyncio.create_task(watch_outcome(), name=f"ferry-events-{job_id}")
    last = after or "0-0"
    try:
        while not await request.is_disconnected():
            replies = await redis.xread(
                {state.keys.job_events(job_id): last}, count=100, block=_BLOCK_MS
            )
            for _, entries in replies or []:
                for entry_id, fields in entries:
                    last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    raw = fields.get(b"event", fields.get("event"))
                    event = JobEvent.model_validate_json(raw)
                    yield {"id": last, "event": event.type.value, "data": event.model_dump_json()}
                    if event.type is JobEventType.outcome:
                        return
            if watcher.done() and watcher.exception() is not None:
                raise watcher.exception()  # type: ignore[misc]
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
