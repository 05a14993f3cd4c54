"""What a Responses-style turn sends: OpenAI's request hygiene, read from the sandbox's side."""

from __future__ import annotations

import hashlib
import json

from sandbox.response_lifecycle import request_of
from schemas.chat import prompt_cache_key, safety_identifier
from schemas.keys import Queue
from tests.pipeline import running_worker
from tests.worker.chat.conftest import ChatWorld
from worker.chat.jobs import CHAT_HANDLERS

USER = "gateway-user-4711"
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
