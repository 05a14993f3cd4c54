"""`MAX_CONCURRENCY` across every worker: assistants of clones copied at once, fleet-wide.

A slot is a member of one Redis sorted set, scored by when its lease ends; a holder renews
its lease while it works (`worker.lease.renewing`, as every Ferry lease), and a holder that
died loses its slot when the lease runs out. A
job waiting for a slot polls Redis (a slot frees when a copy ends, seconds apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from worker.lease import renewing

# KEYS: the slots set. ARGV: holder, now (ms), lease end (ms), limit. 1 if held.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""
POLL_S = 0.1


@contextlib.asynccontextmanager
async def slot(
    redis: Redis, key: str, holder: str, *, limit: int, lease_s: float = 30.0
) -> AsyncIterator[None]:
    """Hold one of `limit` slots under `key` for the block (waiting for one if needed)."""
    take = redis.register_script(_TAKE)

    async def claim() -> bool:
        now = time.time() * 1000
        return bool(await take(keys=[key], args=[holder, now, now + lease_s * 1000, limit]))

    # Slots free on other machines, so there is no local event to wait on: poll Redis.
    while not await claim():  # noqa: ASYNC110
        await asyncio.sleep(POLL_S)

    try:
        # A renewal re-takes a slot whose lease ran out if one is free; if all are taken by
        # then, the copy goes on over the limit (stopping it would cost more than the excess).
        async with renewing(claim, lease_s=lease_s, what=f"clone slot {holder}"):
            yield
    finally:
        await redis.zrem(key, holder)
