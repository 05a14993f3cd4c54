"""What a Responses-style turn sends: OpenAI's request hygiene, read from the sandbox's side."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from sandbox import model as sandbox_model
from sandbox.faults import Fault
from sandbox.response_lifecycle import request_of
from schemas.chat import prompt_cache_key, safety_identifier
from schemas.keys import Queue
from tests.pipeline import running_worker
from tests.worker.chat.conftest import ChatWorld
from worker.chat.jobs import CHAT_HANDLERS
from worker.openai.pacing import Pacer

USER = "gateway-user-4711"
LONG = "tell me " + " ".join(f"w{i}" for i in range(20))
HASHED = "ferry-" + hashlib.sha256(USER.encode()).hexdigest()[:32]


async def test_every_request_of_a_turn_carries_the_hashed_user_the_cache_key_and_truncation(
    chat_world: ChatWorld,
) -> None:
    await chat_world.add_assistant("billing", instructions="You bill.")
    tool_turn = await chat_world.ferry.chat(
        USER, "support", 'call lookup_order {"order_id": "A-7"}', profile="dst"
    )
    other = await chat_world.ferry.chat(USER, "billing", "hello", profile="dst")

    project = chat_world.sandbox.project
    # The tool turn made two responses: the call, then the answer to its output.
    sent = [request_of(project, response_id) for response_id in tool_turn.response_ids]
    assert len(sent) == 2
    assert sent[1]["input"][0]["type"] == "function_call_output"
    for body in sent:
        assert body["safety_identifier"] == HASHED == safety_identifier(USER)
        assert body["prompt_cache_key"] == prompt_cache_key("dst", "support")
        assert body["truncation"] == "auto"
        # The raw user id goes nowhere in the request.
        assert USER not in json.dumps(body)
    [billing] = [request_of(project, response_id) for response_id in other.response_ids]
    assert billing["safety_identifier"] == HASHED
    assert billing["prompt_cache_key"] == prompt_cache_key("dst", "billing")
    assert billing["prompt_cache_key"] != prompt_cache_key("dst", "support")
    assert billing["truncation"] == "auto"


async def test_truncation_follows_the_setting(chat_world_without_worker: ChatWorld) -> None:
    world = chat_world_without_worker
    settings = world.settings.model_copy(update={"chat_truncation": "disabled"})
    async with running_worker(settings, Queue.chat, CHAT_HANDLERS):
        reply = await world.ferry.chat(USER, "support", "hello", profile="dst")
    [body] = [request_of(world.sandbox.project, response_id) for response_id in reply.response_ids]
    # Sent explicitly, not left to the API's default (which is also "disabled").
    assert body["truncation"] == "disabled"
    assert body["safety_identifier"] == HASHED


def responses_requests(world: ChatWorld, before: Counter) -> dict[tuple[str, str], int]:
    """The Responses requests the sandbox served since `before` (a copy of its counters)."""
    seen = world.sandbox.server.state.counters.requests
    made = {key[:2]: n - before[key] for key, n in seen.items() if n > before[key]}
    return {key: n for key, n in made.items() if key[1].startswith("/v1/responses")}


async def test_a_turn_reads_each_response_from_its_stream_instead_of_polling(
    chat_world: ChatWorld,
) -> None:
    # Each response takes a while, as a model's does: a poll would find it late, or look again.
    sandbox_model.set_timing(chat_world.sandbox.project, response_latency_seconds=0.3)
    before = Counter(chat_world.sandbox.server.state.counters.requests)
    reply = await chat_world.ferry.chat(
        USER, "support", 'call lookup_order {"order_id": "A-7"}', profile="dst"
    )
    # The call, then the answer to its output: one request each, nothing read in between.
    assert responses_requests(chat_world, before) == {("POST", "/v1/responses"): 2}
    assert len(reply.response_ids) == 2
    client = chat_world.sandbox.client()
    assert [(await client.responses.retrieve(r)).background for r in reply.response_ids] == [
        True,
        True,
    ]
    assert reply.text.endswith("Tool results: lookup_order -> " + reply.tool_calls[0].output)
    # Waiting on the stream is OpenAI's time, not Ferry's (each response took 0.3 s).
    assert reply.timings.openai_ms >= 600


async def test_booking_the_rate_budget_is_counted_as_pacing_not_as_openai_time(
    chat_world: ChatWorld,
) -> None:
    world = chat_world
    # Every worker's calls on the model's budget wait 2 s from now (as after a 429's
    # retry-after); what is left of it when the turn books is most of it.
    pacer = Pacer(world.ferry.redis, world.ferry.keys, max_wait_s=5)
    await pacer.pause("dst", "gpt-4o", 2.0)
    reply = await world.ferry.chat(USER, "support", "hello", profile="dst")
    assert len(reply.response_ids) == 1
    assert 1000 <= reply.timings.pacing_ms <= 2000 + 100
    # The sandbox answers at once: the exchange itself is a few ms, the wait is not in it.
    assert reply.timings.openai_ms < 200
    assert reply.timings.total_ms >= reply.timings.pacing_ms + reply.timings.openai_ms


@pytest.mark.parametrize("stream", [False, True])
async def test_a_response_stream_that_breaks_is_resumed_not_asked_again(
    chat_world: ChatWorld, stream: bool
) -> None:
    world = chat_world
    world.sandbox.server.state.add_fault(
        Fault(
            kind="cut_stream",
            method="POST",
            path="/v1/responses",
            project_id=world.sandbox.project_id,
            count=1,
            after_events=5,
        )
    )
    before = Counter(world.sandbox.server.state.counters.requests)
    message_id = f"cut-{stream}"
    if stream:
        streamed = world.ferry.chat_stream(
            USER, "support", LONG, profile="dst", message_id=message_id
        )
        chunks = [chunk async for chunk in streamed]
        assert streamed.reply is not None
        reply = streamed.reply
        # Every delta once: the ones before the cut, then the rest of the resumed stream.
        assert "".join(chunks) == reply.text
    else:
        reply = await world.ferry.chat(USER, "support", LONG, profile="dst", message_id=message_id)
    assert reply.text.endswith("You said: " + LONG)
    assert len(reply.response_ids) == 1
    # The create, broken; then its stream again, after the last event read.
    assert responses_requests(world, before) == {
        ("POST", "/v1/responses"): 1,
        ("GET", "/v1/responses/{id}"): 1,
    }
    items = await world.sandbox.client().conversations.items.list(reply.thread_id, order="asc")
    assert [i.role for i in items.data] == ["user", "assistant"]
