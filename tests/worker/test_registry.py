"""The config cache: a running worker sees a registry edit on its very next job."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import asyncpg
import pytest
from arq.connections import ArqRedis

from producers.client import FerryClient
from schemas.assistants import parse_spec
from schemas.jobs import Job
from schemas.keys import Queue, RedisKeys
from store import registry_writes
from tests.pipeline import running_worker
from worker.kinds import JobContext, JobHandler
from worker.registry import ConfigCache, UnknownAssistant
from worker.settings import Settings


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polls another process's effect
            await asyncio.sleep(0.005)


class ReadInstructions(Job):
    """A test job that answers with an assistant's instructions, read through the cache."""

    kind: ClassVar[str] = "test.read_instructions"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 5

    profile: str
    name: str
    n: int


async def read_instructions(ctx: JobContext, job: ReadInstructions) -> dict[str, Any]:
    return {"instructions": (await ctx.configs.get(job.profile, job.name)).spec.instructions}


async def test_a_running_worker_uses_an_edit_on_its_very_next_job(
    db: asyncpg.Pool, ferry: FerryClient, settings: Settings
) -> None:
    keys = ferry.keys
    spec = parse_spec({"name": "trader", "model": "m", "instructions": "v1"})
    await registry_writes.write(db, ferry.redis, keys, "dst", spec)
    jobs = itertools.count()

    async def run(name: str) -> str:
        job = ReadInstructions(profile="dst", name=name, n=next(jobs))
        result = await (await ferry.enqueue(job)).result(timeout=10)
        assert isinstance(result, dict)
        return result["instructions"]

    async with running_worker(settings, handlers=[JobHandler(ReadInstructions, read_instructions)]):
        assert await run("trader") == "v1"
        # A change that bypasses the write path is not seen: the worker runs from its cache.
        await db.execute("UPDATE assistants SET instructions = 'sneaked in'")
        assert await run("trader") == "v1"
        edited = spec.model_copy(update={"instructions": "v2"})
        await registry_writes.write(db, ferry.redis, keys, "dst", edited)
        assert await run("trader") == "v2"


async def test_every_worker_drops_its_copy_at_once_and_deletes_are_seen(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(prefix=key_prefix)
    spec = parse_spec({"name": "a", "model": "m", "instructions": "v1"})
    await registry_writes.write(db, redis, keys, "dst", spec)
    workers = [ConfigCache(redis, db, keys), ConfigCache(redis, db, keys)]
    for cache in workers:
        await cache.start()
    try:
        for cache in workers:
            assert (await cache.get("dst", "a")).version == 1
        await registry_writes.write(db, redis, keys, "dst", spec.model_copy(update={"model": "m2"}))
        for cache in workers:

            async def edited(cache: ConfigCache = cache) -> bool:
                return (await cache.get("dst", "a")).spec.model == "m2"

            await eventually(edited, timeout=0.5)
        await registry_writes.delete(db, redis, keys, "dst", "a")
        for cache in workers:

            async def gone(cache: ConfigCache = cache) -> bool:
                try:
                    await cache.get("dst", "a")
                except UnknownAssistant:
                    return True
                return False

            await eventually(gone, timeout=0.5)
    finally:
        for cache in workers:
            await cache.aclose()


async def test_a_stale_fill_of_the_shared_cache_is_not_served(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(prefix=key_prefix)
    spec = parse_spec({"name": "a", "model": "m", "instructions": "v1"})
    await registry_writes.write(db, redis, keys, "dst", spec)
    cache = ConfigCache(redis, db, keys)
    stale = (await cache.get("dst", "a")).model_dump_json()
    await registry_writes.write(
        db, redis, keys, "dst", spec.model_copy(update={"instructions": "v2"})
    )
    # a reader that loaded v1 before the write stores it after the write's invalidation
    await redis.set(keys.assistant_config("dst", "a"), stale)
    fresh = ConfigCache(redis, db, keys)
    assert (await fresh.get("dst", "a")).spec.instructions == "v2"
    with pytest.raises(UnknownAssistant, match="'nope'"):
        await fresh.get("dst", "nope")


async def test_a_read_that_raced_a_write_is_not_kept(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(prefix=key_prefix)
    spec = parse_spec({"name": "a", "model": "m", "instructions": "v1"})
    await registry_writes.write(db, redis, keys, "dst", spec)
    cache = ConfigCache(redis, db, keys)
    await cache.start()
    try:
        stale = (await ConfigCache(redis, db, keys).get("dst", "a")).model_dump_json()
        await registry_writes.write(db, redis, keys, "dst", spec.model_copy(update={"model": "m2"}))

        async def heard() -> bool:
            return cache.announced_version("dst", "a") == 2

        await eventually(heard, timeout=0.5)
        # the shared entry is stale and nothing in Redis says so (the version key is gone)
        await redis.set(keys.assistant_config("dst", "a"), stale)
        await redis.delete(keys.assistant_version("dst", "a"))
        assert (await cache.get("dst", "a")).spec.model == "m2"
    finally:
        await cache.aclose()
