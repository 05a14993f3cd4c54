"""Waiting for outcomes by push: one pub/sub connection serves every waiter of a client.

A waiter subscribes to its job's channel, and only once Redis has confirmed the subscription
looks for a stored outcome (the worker stores it and publishes it in one transaction): an
outcome published before the subscription is found stored, one published after it arrives
on the channel. Nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from schemas.keys import RedisKeys
from schemas.results import JobOutcome

log = structlog.get_logger("ferry.producer")


class OutcomeWaiter:
    """Routes pushed outcomes to the coroutines awaiting them."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, list[asyncio.Future[JobOutcome]]] = defaultdict(list)
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()

    async def wait(
        self,
        job_id: str,
        check_stored: Callable[[], Awaitable[JobOutcome | None]],
        timeout: float | None,
    ) -> JobOutcome | None:
        """The job's outcome, or None if `timeout` passes first."""
        channel = self._keys.done_channel(job_id)
        future: asyncio.Future[JobOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[channel].append(future)
        try:
            async with asyncio.timeout(timeout):
                await self._subscribe(channel)
                if (done := await check_stored()) is not None:
                    return done
                return await future
        except TimeoutError:
            return None
        finally:
            waiters = self._waiting.get(channel, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiting.pop(channel, None)
                await self._unsubscribe(channel)

    async def _subscribe(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = self._redis.pubsub()
                # A channel of this client's own keeps the connection subscribed (and the
                # reader alive) between waits.
                await self._pubsub.subscribe(self._keys.client_channel(secrets.token_hex(8)))
                self._reader = asyncio.create_task(self._read(self._pubsub), name="ferry-waiter")
            confirmed = self._subscribed.get(channel)
            if confirmed is None:
                confirmed = asyncio.get_running_loop().create_future()
                self._subscribed[channel] = confirmed
                await self._pubsub.subscribe(channel)
        await asyncio.shield(confirmed)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if self._subscribed.pop(channel, None) is not None and self._pubsub is not None:
                with contextlib.suppress(ConnectionError, OSError):
                    await self._pubsub.unsubscribe(channel)

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("outcome reader lost its Redis connection")
                self._fail_all(error)
                return
            if message is None:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            if message["type"] == "subscribe":
                confirmed = self._subscribed.get(channel)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif message["type"] == "message":
                outcome = JobOutcome.model_validate_json(message["data"])
                for future in self._waiting.get(channel, []):
                    if not future.done():
                        future.set_result(outcome)

    def _fail_all(self, error: Exception) -> None:
        """Wake every waiter with the error; the next wait opens a new connection."""
        for future in [*self._subscribed.values()] + [
            f for futures in self._waiting.values() for f in futures
        ]:
            if not future.done():
                future.set_exception(ConnectionError(f"lost the Redis pub/sub connection: {error}"))
        self._subscribed.clear()
        self._pubsub = self._reader = None

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        self._pubsub = self._reader = None
