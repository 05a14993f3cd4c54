"""A listener delivers what is published, catches up on every subscribe, says why it stopped."""

from __future__ import annotations

import asyncio

import pytest
from arq.connections import ArqRedis

from store.channel_listener import ChannelListener


async def test_messages_arrive_in_order_and_the_catch_up_runs_before_listening(
    redis: ArqRedis, key_prefix: str
) -> None:
    channel = f"{key_prefix}:test-channel"
    heard: list[bytes] = []
    three = asyncio.Event()
    states: list[bool] = []

    def on_message(data: bytes) -> None:
        heard.append(data)
        if len(heard) == 3:
            three.set()

    listener: ChannelListener

    async def on_subscribed() -> None:
        states.append(listener.listening)

    listener = ChannelListener(
        redis, channel, name="test", on_message=on_message, on_subscribed=on_subscribed
    )
    await listener.start()
    try:
        assert listener.listening
        assert states == [False]  # the catch-up ran once, before messages counted
        for data in (b"1", b"2", b"3"):
            assert await redis.publish(channel, data) == 1
        await asyncio.wait_for(three.wait(), 5)
        assert heard == [b"1", b"2", b"3"]
    finally:
        await listener.aclose()
    assert not listener.listening
    assert await redis.publish(channel, b"4") == 0  # unsubscribed on close


async def test_start_raises_what_stopped_the_catch_up(redis: ArqRedis, key_prefix: str) -> None:
    async def broken() -> None:
        raise ValueError("generation is not a number")

    listener = ChannelListener(
        redis, f"{key_prefix}:c", name="test", on_message=lambda _: None, on_subscribed=broken
    )
    with pytest.raises(ValueError, match="generation is not a number"):
        await listener.start()
    assert not listener.listening
