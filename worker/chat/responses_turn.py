"""A turn in the Responses style: background responses on the user's conversation.

Each response is created with `background: true` and `stream: true`, and read from its
stream (streaming jobs also write its text deltas). Its id is written to `chat_turns` the
moment the stream names it, so a retried job finds it and resumes its stream (after the last
sequence number it wrote, for a streaming job) instead of asking the model again.
`function_call` items go to the turn's tool executors and come back as `function_call_output`
items until a response calls nothing; Ferry caps the rounds itself. With background off
(zero data retention) a response is a plain request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import openai
from openai import AsyncOpenAI, AsyncStream

from schemas.chat import prompt_cache_key, safety_identifier
from worker.chat.turn import Turn
from worker.chat.turn_response import TurnResponse, event_response
from worker.kinds import JobFailure
from worker.openai import polling
from worker.openai.errors import OpenAICallError

# A stream's events are read as sent: a turn reads four fields of a few of them.
Event = dict[str, Any]
# The SDK hands an event over untouched only when its stream is typed `object`; typed
# `dict[str, Any]`, it walks every event (`construct_type`) to build the same dict.
EventStream = AsyncStream[object]
RESPONSE_DONE_EVENTS = {"response.completed", "response.failed", "response.incomplete"}


async def run_turn(
    turn: Turn,
    content: list[dict[str, Any]],
    *,
    conversation: str | None,
    resume_response_id: str | None = None,
    deadline_s: float,
) -> str:
    """Send the user's content (or pick up `resume_response_id`); the reply text."""
    settings = turn.ctx.settings
    base = {
        **turn.spec.to_responses_params(),
        "safety_identifier": safety_identifier(turn.user_id),
        "prompt_cache_key": prompt_cache_key(turn.profile, turn.spec.name),
        "truncation": settings.chat_truncation,
        "store": True,
        "background": settings.chat_background,
    }
    if conversation is not None:
        base["conversation"] = conversation
    if resume_response_id is not None:
        turn.resumed = True
        response = await _finish(turn, resume_response_id, deadline_s=deadline_s)
    else:
        user_item = {"type": "message", "role": "user", "content": content}
        response = await _create(turn, {**base, "input": [user_item]})
    rounds = 0
    while True:
        calls = [item for item in response.output or [] if item.type == "function_call"]
        if not calls:
            break
        rounds += 1
        if rounds > settings.chat_max_tool_rounds:
            # The last round was sent with tool_choice "none"; a model calling anyway is stopped.
            raise JobFailure(
                f"the model kept calling tools past Ferry's limit of "
                f"{settings.chat_max_tool_rounds} rounds (CHAT_MAX_TOOL_ROUNDS)",
                detail={"code": "tool_rounds_exceeded", "response_id": response.id},
            )
        records = await turn.run_tools([(c.call_id, c.name, c.arguments) for c in calls])
        params: dict[str, Any] = {
            **base,
            "input": [
                {"type": "function_call_output", "call_id": r.call_id, "output": r.output}
                for r in records
            ],
        }
        if conversation is None:
            params["previous_response_id"] = response.id
        if rounds >= settings.chat_max_tool_rounds:
            # Ferry's own cap (OpenAI's max_tool_calls counts built-in tools only).
            params["tool_choice"] = "none"
        response = await _create(turn, params)
    return response.output_text or ""


async def cancel(turn: Turn) -> None:
    """Cancel the response in flight (a turn past its timeout); best effort."""
    if turn.in_flight is None or not turn.ctx.settings.chat_background:
        return
    response_id = turn.in_flight
    try:
        await turn.ctx.openai.call(turn.profile, lambda c: c.responses.cancel(response_id))
    except JobFailure as error:
        turn.ctx.log.warning("could not cancel a timed-out response", error=str(error))


def _create_request(params: dict[str, Any], *, stream: bool) -> Callable[[AsyncOpenAI], Any]:
    """`responses.create` as the SDK sends it, minus its per-call transform of the body.

    The transform walks the body against the SDK's TypedDicts to rename aliased keys and
    format dates and files; a Responses create body has none of those, and Ferry's is plain
    JSON built from the spec, so it came back unchanged at ≈ 1.6 ms of CPU per create (the
    largest single cost of a turn in the worker). Same path, auth, retries, errors; the answer
    is read as a `TurnResponse`, or as a stream of plain events (`turn_response.py`).
    """
    body = {**params, "stream": True} if stream else params
    return lambda c: c.post(
        "/responses",
        cast_to=TurnResponse,
        body=body,
        options={"security": {"bearer_auth": True}},
        stream=stream,
        stream_cls=EventStream,
    )


async def _create(turn: Turn, params: dict[str, Any]) -> Any:
    model = params["model"]
    if turn.deltas.enabled or turn.ctx.settings.chat_background:
        # A background response is read from its stream even when the job does not stream:
        # the answer arrives the moment it is done, where a poll would find it up to a whole
        # interval late (and spend a request, paced, on every look).
        stream = await turn.call(_create_request(params, stream=True), model=model)
        return await _consume(turn, stream)
    response = await turn.call(_create_request(params, stream=False), model=model)
    await _known(turn, response.id)
    return _landed(turn, response)


async def _finish(turn: Turn, response_id: str, *, deadline_s: float) -> Any:
    """Pick up a response an earlier attempt created: resume its stream, or poll it."""
    turn.in_flight = response_id
    turn.response_ids.append(response_id)
    if not turn.ctx.settings.chat_background:
        return _landed(turn, await _poll(turn, response_id, deadline_s))
    try:
        return await _resume(turn, response_id, after=await turn.deltas.last_sequence())
    except OpenAICallError as error:
        if error.status != 400:
            raise
        # A response created without `stream` (by a Ferry that polled) cannot be streamed.
        return _landed(turn, await _poll(turn, response_id, deadline_s))


async def _consume(turn: Turn, stream: Any, *, known: bool = False) -> Any:
    """Write the stream's text deltas; the response it ends with (resumed if it breaks)."""
    response_id: str | None = turn.in_flight if known else None
    last_seq: int | None = None
    final: TurnResponse | None = None
    # The id's write runs while the stream is read on: reading repeats nothing, and nothing
    # that could (a delta, the tool calls, the next create, the outcome) happens before the
    # write has landed.
    recording: asyncio.Task[None] | None = None
    try:
        # Read on past the final event to the stream's end: a response read to its end
        # leaves its connection to the next request; one closed early takes it down.
        async for event in turn.events(stream):
            kind = event.get("type")
            last_seq = event.get("sequence_number", last_seq)
            if kind == "response.created" and not known:
                response_id = event["response"]["id"]
                recording = asyncio.create_task(_known(turn, response_id))
            elif kind == "response.output_text.delta":
                if recording is not None and turn.deltas.enabled:
                    await recording
                await turn.deltas.delta(event["delta"], last_seq)
            elif kind in RESPONSE_DONE_EVENTS:
                final = event_response(event)
    except openai.APIConnectionError:
        if final is None and (response_id is None or not turn.ctx.settings.chat_background):
            raise
        if final is None:
            turn.ctx.log.info("response stream broke; resuming", after=last_seq)
    finally:
        await stream.close()
        if recording is not None:
            await recording
    if final is not None:
        return _landed(turn, final)
    if response_id is None:
        raise JobFailure("the response stream ended before it named its response")
    # The stream ended without a final event: resume it after the last event read.
    return await _resume(turn, response_id, after=last_seq)


async def _resume(turn: Turn, response_id: str, *, after: int | None) -> Any:
    """Stream a background response from the event after `after` (from its start: None)."""
    path = _response_path(response_id)
    query: dict[str, Any] = {"stream": "true"}
    if after is not None:
        query["starting_after"] = after
    options: Any = {"params": query, "security": {"bearer_auth": True}}
    stream = await turn.call(
        lambda c: c.get(path, cast_to=Event, options=options, stream=True, stream_cls=EventStream)
    )
    return await _consume(turn, stream, known=True)


async def _known(turn: Turn, response_id: str) -> None:
    """A new response exists: record it before anything else can go wrong."""
    turn.in_flight = response_id
    turn.response_ids.append(response_id)
    await turn.record(response_id=response_id)


async def _poll(turn: Turn, response_id: str, deadline_s: float) -> Any:
    # `responses.retrieve` as the SDK sends it (same path, auth, errors), read as a lean
    # `TurnResponse`: a poll is the most frequent call of a turn.
    path = _response_path(response_id)
    return await turn.poll(
        lambda c: c.get(path, cast_to=TurnResponse, options={"security": {"bearer_auth": True}}),
        polling.RESPONSE_DONE,
        what=f"response {response_id}",
        deadline_s=deadline_s,
    )


def _response_path(response_id: str) -> str:
    """Where a response is read (`responses.retrieve`'s path), its id quoted."""
    return f"/responses/{quote(response_id, safe='')}"


def _landed(turn: Turn, response: Any) -> Any:
    """The finished response, its usage counted; a failed or cancelled one fails the turn."""
    turn.usage.add(response.usage)
    if response.status in ("failed", "cancelled"):
        error = response.error
        said = f"{error.code}: {error.message}" if error else response.status
        raise JobFailure(
            f"response {response.id} {response.status}: {said}",
            detail={"code": f"response_{response.status}", "response_id": response.id},
        )
    return response
