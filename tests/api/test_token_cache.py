"""A verified token is kept in-process; every revocation ends that at once, in every process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool

from api.token_cache import TokenCache
from schemas.keys import RedisKeys
from store import api_tokens
from store.api_tokens import Scope
from tests.chaos.stores import ThrowawayRedis


async def test_a_cached_token_is_refused_once_revoked_in_every_process(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(key_prefix)
    token, row = await api_tokens.create(db, deployment=key_prefix, name="gw", scopes={Scope.read})
    other, _ = await api_tokens.create(db, deployment=key_prefix, name="ops", scopes={Scope.read})
    # two API processes, each with its cache, neither listening: each request reads the
    # generation, so the revocation counts on the very next request
    first, second = (TokenCache(db, redis, keys, ttl_s=600) for _ in range(2))
    for cache in (first, second):
        assert (await cache.find(token)).id == row.id
        assert (await cache.find(other)).name == "ops"
    assert await api_tokens.revoke(db, redis, keys, row.id)
    assert await first.find(token) is None
    assert await second.find(token) is None
    assert (await second.find(other)).name == "ops"  # the others are looked up again, and live


async def test_a_listening_cache_hears_a_revocation_pushed_and_reads_nothing_per_request(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(key_prefix)
    token, row = await api_tokens.create(db, deployment=key_prefix, name="gw", scopes={Scope.read})
    cache = TokenCache(db, redis, keys, ttl_s=600)
    await cache.start()
    try:
        assert cache.listening
        assert (await cache.find(token)).id == row.id
        # A generation written without its push is not read by a listening cache: requests
        # cost no Redis round trip (a cache that is not listening reads it and drops).
        await redis.set(keys.api_token_generation(), "41")
        assert (await cache.find(token)).id == row.id
        assert cache.generation == 0
        before = cache.generation
        assert await api_tokens.revoke(db, redis, keys, row.id)
        assert await asyncio.wait_for(cache.moved_past(before), 5) == 42
        assert await cache.find(token) is None
    finally:
        await cache.aclose()
    assert not cache.listening


async def test_the_listener_comes_back_after_redis_is_lost_and_postgres_answers_meanwhile(
    db: asyncpg.Pool, key_prefix: str, tmp_path: Path
) -> None:
    keys = RedisKeys(key_prefix)
    token, row = await api_tokens.create(db, deployment=key_prefix, name="gw", scopes={Scope.read})
    server = ThrowawayRedis(tmp_path / "redis")
    server.start()
    own = await create_pool(RedisSettings(port=server.port, conn_retries=0))
    cache = TokenCache(db, own, keys, ttl_s=600)
    await cache.start()
    try:
        await own.set(keys.api_token_generation(), "1")
        await own.publish(keys.api_token_channel, "1")
        assert await asyncio.wait_for(cache.moved_past(0), 5) == 1
        assert (await cache.find(token)).id == row.id
        server.kill()
        assert (await cache.find(token)).id == row.id  # Redis gone: Postgres answers
        server.start()  # the same port, empty, as after a crash without persistence
        ours = await create_pool(RedisSettings(port=server.port))  # the revoking side
        # Wherever the listener is in its reconnecting, the generation reaches it: pushed
        # if it is subscribed again by now, read when it subscribes otherwise.
        await ours.set(keys.api_token_generation(), "5")
        await ours.publish(keys.api_token_channel, "5")
        assert await asyncio.wait_for(cache.moved_past(1), 10) == 5
        assert cache.listening
        assert await api_tokens.revoke(db, ours, keys, row.id)
        await ours.aclose()
        assert await asyncio.wait_for(cache.moved_past(5), 5) == 6
        assert await cache.find(token) is None
    finally:
        await cache.aclose()
        await own.aclose()
        server.kill()


async def test_the_cache_keeps_to_its_deployment(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    theirs, _ = await api_tokens.create(
        db, deployment=f"{key_prefix}-other", name="x", scopes={Scope.read}
    )
    ours = TokenCache(db, redis, RedisKeys(key_prefix), ttl_s=600)
    assert await ours.find(theirs) is None
    assert await ours.find("fry_not-a-token") is None
