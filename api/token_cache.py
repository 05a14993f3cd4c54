"""Verified tokens kept briefly in-process, so a request costs no Postgres round trip.

An entry is the token's SHA-256 (never the token), what Postgres said of it, when, and the
deployment's token generation as this process knew it *before* that lookup. It counts while
it is younger than `API_TOKEN_CACHE_S` and the generation has not moved. Every revocation
moves the generation and publishes it (`store.api_tokens.revoke`); a listener task in each
API process hears it and drops its entries, so a request pays no Redis round trip for the
check. While the listener is not subscribed (starting, reconnecting, Redis gone), each
request reads the generation itself (one Redis GET), as it would have without the push; with
Redis unreachable the cache is bypassed and Postgres answers. Unknown tokens are never
cached. (Were Redis wiped right after a revocation, before any process saw the generation
move, a cached token could count until its entry expires: `API_TOKEN_CACHE_S` bounds that.)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from store import api_tokens
from store.api_tokens import ApiToken
from store.channel_listener import ChannelListener
from store.outages import OUTAGES

# Enough for every live token of a deployment; past it the oldest entries go.
MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class _Entry:
    token: ApiToken
    verified_at: float
    generation: int


def _generation(raw: bytes | str | None) -> int:
    return int(raw) if raw is not None else 0


class TokenCache:
    """The tokens this process verified lately (ttl_s <= 0: every request asks Postgres).

    `await start()` begins listening for revocations, `await aclose()` stops; a cache never
    started still works, reading the generation from Redis on every request.
    """

    def __init__(self, db: asyncpg.Pool, redis: Redis, keys: RedisKeys, ttl_s: float) -> None:
        self._db, self._redis, self._keys, self._ttl_s = db, redis, keys, ttl_s
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._moved = asyncio.Event()
        # While it listens, the pushed generation is current: no GET needed.
        self._listener = ChannelListener(
            redis,
            keys.api_token_channel,
            name="ferry-api-token-listener",
            on_message=lambda data: self._advance(_generation(data)),
            on_subscribed=self._resubscribed,
        )

    @property
    def listening(self) -> bool:
        """Whether revocations reach this process by push (else each request reads them)."""
        return self._listener.listening

    async def find(self, presented: str) -> ApiToken | None:
        """The live token of this deployment that `presented` is, or None."""
        if self._ttl_s <= 0:
            return await api_tokens.find(self._db, self._keys.prefix, presented)
        if not self._listener.listening:
            try:
                raw = await self._redis.get(self._keys.api_token_generation())
            except OUTAGES:
                return await api_tokens.find(self._db, self._keys.prefix, presented)
            self._advance(_generation(raw))
        generation = self._generation
        digest = api_tokens.digest(presented)
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry and entry.generation == generation and now - entry.verified_at < self._ttl_s:
            return entry.token
        token = await api_tokens.find(self._db, self._keys.prefix, presented)
        self._entries.pop(digest, None)
        if token is not None:
            if len(self._entries) >= MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
            # A revocation heard during the lookup leaves this entry under the old generation,
            # which no longer counts.
            self._entries[digest] = _Entry(token, now, generation)
        return token

    async def moved_past(self, generation: int) -> int:
        """Wait until this process has seen the generation move past `generation`."""
        while self._generation <= generation:
            self._moved.clear()
            await self._moved.wait()
        return self._generation

    @property
    def generation(self) -> int:
        """The deployment's token generation as this process last knew it."""
        return self._generation

    def _advance(self, generation: int) -> None:
        if generation != self._generation:  # a revocation (or a Redis wiped): start afresh
            self._entries.clear()
            self._generation = generation
            self._moved.set()

    async def start(self) -> None:
        """Start listening for revocations; returns once subscribed (or raises why not)."""
        await self._listener.start()

    async def aclose(self) -> None:
        """Stop listening; requests then read the generation themselves."""
        await self._listener.aclose()

    async def _resubscribed(self) -> None:
        # Subscribed first, then read: a revocation after the read is pushed, one before it
        # is in what the read returns.
        self._advance(_generation(await self._redis.get(self._keys.api_token_generation())))
