"""Waiting for outcomes by push: one pub/sub connection serves every waiter of a client.

A waiter subscribes to its job's channel, and only once Redis has confirmed the subscription
looks for a stored outcome (the worker stores it and publishes it in one script): an outcome
published before the subscription is found stored, one published after it arrives on the
channel. Nothing polls.

If the pub/sub connection drops (a Redis restart), every waiter subscribes again on a new
connection and looks for the stored outcome again, since messages sent meanwhile are lost.
An outage that lasts longer than `OUTAGE_PATIENCE_S` ends the wait with `StoreUnavailable`.
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

from producers.errors import StoreUnavailable
from schemas.keys import RedisKeys
from schemas.results import JobOutcome
from store.outages import OUTAGES

log = structlog.get_logger("ferry.producer")

# How long a waiter keeps trying through an outage before it gives up.
OUTAGE_PATIENCE_S = 60.0


class _Reconnected(Exception):
    """The pub/sub connection was lost: subscribe again and look for the outcome again."""


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
        loop = asyncio.get_running_loop()
        outage_since: float | None = None
        delay = 0.05
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        return await self._wait_once(channel, check_stored)
                    except _Reconnected:
                        continue
                    except OUTAGES as error:
                        outage_since = outage_since or loop.time()
                        if loop.time() - outage_since > OUTAGE_PATIENCE_S:
                            raise StoreUnavailable(
                                f"waiting for job {job_id}: a store is unreachable", error
                            ) from error
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 1.0)
        except TimeoutError:
            return None

    async def _wait_once(
        self, channel: str, check_stored: Callable[[], Awaitable[JobOutcome | None]]
    ) -> JobOutcome:
        future: asyncio.Future[JobOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[channel].append(future)
        try:
            await self._subscribe(channel)
            if (done := await check_stored()) is not None:
                return done
            return await future
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
                pubsub = self._redis.pubsub()
                # A channel of this client's own keeps the connection subscribed (and the
                # reader alive) between waits.
                await pubsub.subscribe(self._keys.client_channel(secrets.token_hex(8)))
                self._pubsub = pubsub
                self._reader = asyncio.create_task(self._read(pubsub), name="ferry-waiter")
            confirmed = self._subscribed.get(channel)
            if confirmed is None:
                confirmed = asyncio.get_running_loop().create_future()
                self._subscribed[channel] = confirmed
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    self._subscribed.pop(channel, None)
                    raise
        await asyncio.shield(confirmed)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if self._subscribed.pop(channel, None) is not None and self._pubsub is not None:
                with contextlib.suppress(*OUTAGES):
                    await self._pubsub.unsubscribe(channel)

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "outcome reader lost its Redis connection; waiters resubscribe",
                    error=str(error),
                )
                self._reconnect(pubsub)
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

    def _reconnect(self, broken: PubSub) -> None:
        """Wake every waiter to subscribe again; the next subscription opens a new connection."""
        for future in [*self._subscribed.values()] + [
            f for futures in self._waiting.values() for f in futures
        ]:
            if not future.done():
                future.set_exception(_Reconnected())
                future.exception()  # retrieved: a waiter that is not awaiting it yet still hears
        self._subscribed.clear()
        self._pubsub = self._reader = None
        closing = asyncio.ensure_future(broken.aclose())
        closing.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(*OUTAGES):
                await self._pubsub.aclose()
        self._pubsub = self._reader = None
