"""Streaming turns: deltas on a Redis stream per job, replayed to late readers, coalesced."""

from __future__ import annotations

import pytest

from producers.errors import JobFailed
from tests.worker.chat.conftest import ChatWorld

LONG = "tell me " + " ".join(f"w{i}" for i in range(40))


async def test_deltas_arrive_in_order_and_join_into_the_reply(chat_world: ChatWorld) -> None:
    stream = chat_world.ferry.chat_stream("u1", "support", LONG, profile="dst", message_id="s-1")
    chunks = [chunk async for chunk in stream]
    assert stream.reply is not None
    assert len(chunks) > 1
    assert "".join(chunks) == stream.reply.text
    assert stream.reply.text.endswith("You said: " + LONG)


async def test_a_late_subscriber_replays_the_whole_stream(chat_world: ChatWorld) -> None:
    first = chat_world.ferry.chat_stream("u1", "support", LONG, profile="dst", message_id="s-2")
    live = [chunk async for chunk in first]
    late = chat_world.ferry.chat_stream("u1", "support", LONG, profile="dst", message_id="s-2")
    replayed = [chunk async for chunk in late]
    assert replayed == live
    assert late.reply == first.reply


async def test_min_interval_joins_deltas(chat_world: ChatWorld) -> None:
    stream = chat_world.ferry.chat_stream("u1", "support", LONG, profile="dst", min_interval=60.0)
    chunks = [chunk async for chunk in stream]
    # The first delta at once (the gateway posts its message), then the rest joined: the
    # turn ends long before a minute has passed.
    assert len(chunks) == 2
    assert "".join(chunks) == stream.reply.text


async def test_a_failed_streaming_turn_raises_from_the_iteration(chat_world: ChatWorld) -> None:
    stream = chat_world.ferry.chat_stream("u1", "support", "fail on purpose", profile="dst")
    with pytest.raises(JobFailed, match="on purpose"):
        [chunk async for chunk in stream]


async def test_a_tool_calling_turn_streams_the_final_answer(chat_world: ChatWorld) -> None:
    stream = chat_world.ferry.chat_stream(
        "u1", "support", 'call lookup_order {"order_id": "B"}', profile="dst"
    )
    text = "".join([chunk async for chunk in stream])
    assert text == stream.reply.text
    assert "Tool results: lookup_order" in text
    assert [c.name for c in stream.reply.tool_calls] == ["lookup_order"]
