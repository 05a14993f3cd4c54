"""Ferry's own cap on the tool loop, and turns with background mode off (zero data retention)."""

from __future__ import annotations

import hashlib

import pytest

from producers.errors import JobFailed
from schemas.keys import Queue
from tests.pipeline import running_worker
from tests.worker.chat.conftest import ChatWorld
from worker.chat.jobs import CHAT_HANDLERS


@pytest.mark.parametrize("api_style", ["responses", "assistants"])
async def test_a_model_that_keeps_calling_tools_is_stopped_at_the_cap(
    chat_world_without_worker: ChatWorld, api_style: str
) -> None:
    world = chat_world_without_worker
    call = {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "1"}}]}
    world.queue_outputs(call, call, call, "never reached")
    capped = world.settings.model_copy(update={"chat_max_tool_rounds": 2})
    async with running_worker(capped, Queue.chat, CHAT_HANDLERS):
        with pytest.raises(JobFailed, match="past Ferry's limit of 2 rounds") as failure:
            await world.ferry.chat("u1", "support", "go", profile="dst")
    assert failure.value.outcome.error.detail["code"] == "tool_rounds_exceeded"


async def test_with_background_off_a_responses_turn_is_a_plain_request(
    chat_world_without_worker: ChatWorld,
) -> None:
    world = chat_world_without_worker
    foreground = world.settings.model_copy(update={"chat_background": False})
    async with running_worker(foreground, Queue.chat, CHAT_HANDLERS):
        reply = await world.ferry.chat(
            "u1", "support", 'call lookup_order {"order_id": "Z"}', profile="dst"
        )
    tag = hashlib.sha256(b"You help.").hexdigest()[:8]
    assert reply.text.startswith(f"[{tag}] Tool results: lookup_order -> ")
    assert len(reply.response_ids) == 2
    client = world.sandbox.client()
    assert [(await client.responses.retrieve(r)).background for r in reply.response_ids] == [
        False,
        False,
    ]
