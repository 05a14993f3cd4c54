"""A verified token is kept in-process; every revocation ends that at once, in every process."""

from __future__ import annotations

import asyncpg
from arq.connections import ArqRedis

from api.token_cache import TokenCache
from schemas.keys import RedisKeys
from store import api_tokens
from store.api_tokens import Scope


async def test_a_cached_token_is_refused_once_revoked_in_every_process(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(key_prefix)
    token, row = await api_tokens.create(db, deployment=key_prefix, name="gw", scopes={Scope.read})
    other, _ = await api_tokens.create(db, deployment=key_prefix, name="ops", scopes={Scope.read})
    # two API processes, each with its cache
    first, second = (TokenCache(db, redis, keys, ttl_s=600) for _ in range(2))
    for cache in (first, second):
        assert (await cache.find(token)).id == row.id
        assert (await cache.find(other)).name == "ops"
    assert await api_tokens.revoke(db, redis, keys, row.id)
    assert await first.find(token) is None
    assert await second.find(token) is None
    assert (await second.find(other)).name == "ops"  # the others are looked up again, and live


async def test_the_cache_keeps_to_its_deployment(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    theirs, _ = await api_tokens.create(
        db, deployment=f"{key_prefix}-other", name="x", scopes={Scope.read}
    )
    ours = TokenCache(db, redis, RedisKeys(key_prefix), ttl_s=600)
    assert await ours.find(theirs) is None
    assert await ours.find("fry_not-a-token") is None
