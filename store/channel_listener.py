"""A task that stays subscribed to one Redis channel, reconnecting with backoff.

The in-process caches that Redis pushes invalidate (the workers' registry copies, the API's
verified tokens) each own one. A message published while the listener was not subscribed is
lost, so `on_subscribed` runs after every (re)subscribe, before `listening` turns true: the
cache re-reads or forgets what it may have missed there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

log = structlog.get_logger("ferry.channel_listener")

MAX_DELAY_S = 5.0


class ChannelListener:
    """`await start()` returns once subscribed (or raises what stopped it); `await aclose()`."""

    def __init__(
        self,
        redis: Redis,
        channel: str,
        *,
        name: str,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[], Awaitable[None]],
    ) -> None:
        self._redis, self._channel, self._name = redis, channel, name
        self._on_message, self._on_subscribed = on_message, on_subscribed
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def listening(self) -> bool:
        """Whether messages on the channel reach this process now."""
        return self._subscribed.is_set()

    async def start(self) -> None:
        """Start the task; returns once it is subscribed, or raises what stopped it."""
        self._task = asyncio.create_task(self._listen(), name=self._name)
        waiting = asyncio.create_task(self._subscribed.wait())
        done, _ = await asyncio.wait({waiting, self._task}, return_when="FIRST_COMPLETED")
        if self._task in done:
            waiting.cancel()
            self._task.result()

    async def aclose(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._subscribed.clear()

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._on_subscribed()
                    self._subscribed.set()
                    delay = 0.1
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._on_message(message["data"])
            except (RedisConnectionError, OSError) as error:
                self._subscribed.clear()
                log.warning("listener reconnecting", listener=self._name, error=str(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)
            except BaseException:
                self._subscribed.clear()
                raise
