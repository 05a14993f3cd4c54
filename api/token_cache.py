"""Verified tokens kept briefly in-process, so a request costs no Postgres round trip.

An entry is the token's SHA-256 (never the token), what Postgres said of it, when, and the
deployment's token generation read *before* that lookup. It counts while it is younger than
`API_TOKEN_CACHE_S` and the generation has not moved: every revocation moves it
(`store.api_tokens.revoke`), so a revoked token is refused at once by every API process.
Checking the generation is one Redis GET; with Redis unreachable the cache is bypassed and
Postgres answers, as without it. Unknown tokens are never cached. (Were Redis wiped right
after a revocation, before any request saw the generation move, a cached token could count
until its entry expires: `API_TOKEN_CACHE_S` bounds that.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from store import api_tokens
from store.api_tokens import ApiToken
from store.outages import OUTAGES

# Enough for every live token of a deployment; past it the oldest entries go.
MAX_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class _Entry:
    token: ApiToken
    verified_at: float
    generation: bytes | None


class TokenCache:
    """The tokens this process verified lately (ttl_s <= 0: every request asks Postgres)."""

    def __init__(self, db: asyncpg.Pool, redis: Redis, keys: RedisKeys, ttl_s: float) -> None:
        self._db, self._redis, self._keys, self._ttl_s = db, redis, keys, ttl_s
        self._entries: dict[str, _Entry] = {}
        self._generation: bytes | None = None

    async def find(self, presented: str) -> ApiToken | None:
        """The live token of this deployment that `presented` is, or None."""
        if self._ttl_s <= 0:
            return await api_tokens.find(self._db, self._keys.prefix, presented)
        try:
            generation = await self._redis.get(self._keys.api_token_generation())
        except OUTAGES:
            return await api_tokens.find(self._db, self._keys.prefix, presented)
        if generation != self._generation:  # a revocation (or a Redis wiped): start afresh
            self._entries.clear()
            self._generation = generation
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
            self._entries[digest] = _Entry(token, now, generation)
        return token
