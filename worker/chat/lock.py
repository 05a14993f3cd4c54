"""One turn at a time per user thread, in arrival order: a fair lock in Redis with a lease.

Each turn joins its thread's line (a sorted set scored by arrival: the producer's enqueue
time, or the ledger's accept time for a turn enqueued some other way) and takes the lock
only when it is at the head and the lock is free. Releasing wakes the next in line through
its own list (BLPOP), so waiting costs no polling. The lock carries a lease the holder
renews; a holder that died frees it when the lease ends, and its retried job (same id) is
still at the head, so it goes first. A head whose job has finished without releasing (it
was rejected, or gave up) is dropped from the line by whoever finds it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from schemas.chat import arrival_score
from schemas.keys import RedisKeys
from worker.lease import renewing

# A line or wake list untouched this long is garbage (a turn's whole life is minutes).
IDLE_TTL_S = 3600
# The longest a waiter sleeps without a wake-up before looking again (a lease may have ended).
RECHECK_S = 1.0

# Joins the line (kept if the producer gave the turn a place already), then takes the lock
# if this turn is at the head and it is free; one round trip, the wake list cleared on taking.
_ACQUIRE = """
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[3])
  return {1, ARGV[1]}
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if holder then return {0, head or ''} end
if head ~= ARGV[1] then return {0, head or ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[3])
return {1, ARGV[1]}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then redis.call('ZREM', KEYS[2], ARGV[1]) end
return redis.call('ZRANGE', KEYS[2], 0, 0)[1] or ''
"""

# Renews the lock, or takes it back if its lease ran out and no one took it (only the head
# of the line may take it, and a holder is still at the head). 0 if another turn holds it.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class ThreadLock:
    """The lock of one user thread, taken by the turn (job) `job_id`."""

    def __init__(
        self, redis: Redis, keys: RedisKeys, thread: str, job_id: str, *, lease_s: float
    ) -> None:
        self._redis, self._keys, self._job_id = redis, keys, job_id
        self._lock_key, self._line = keys.chat_lock(thread), keys.chat_arrivals(thread)
        self._lease_s, self._lease_ms = lease_s, int(lease_s * 1000)

    @contextlib.asynccontextmanager
    async def held(
        self, arrived_us: int, *, done_on: tuple[type[BaseException], ...] = ()
    ) -> AsyncIterator[float]:
        """Hold the lock for the block; yields the milliseconds spent waiting for it.

        The turn leaves the line when the block ends normally or raises one of `done_on`
        (a final failure); any other exception (a hand-back, a retry) keeps its place, so
        its next attempt still goes before the turns that arrived after it.
        """
        started = time.monotonic()
        await self._acquire(arrival_score(arrived_us))
        waited_ms = (time.monotonic() - started) * 1000
        leave = False
        try:
            async with renewing(
                self._renew, lease_s=self._lease_s, what=f"chat lock {self._job_id}"
            ):
                yield waited_ms
            leave = True
        except done_on:
            leave = True
            raise
        finally:
            await asyncio.shield(self._release(leave))

    async def _acquire(self, score: float) -> None:
        wake = self._keys.chat_wake(self._job_id)
        while True:
            taken, head = await self._redis.eval(
                _ACQUIRE,
                3,
                self._lock_key,
                self._line,
                wake,
                self._job_id,
                self._lease_ms,
                score,
                IDLE_TTL_S,
            )
            if taken:
                return
            head = head.decode() if isinstance(head, bytes) else head
            if head and head != self._job_id and await self._finished(head):
                await self._redis.zrem(self._line, head)
                continue
            await self._redis.blpop([wake], timeout=RECHECK_S)

    async def _finished(self, job_id: str) -> bool:
        """The head's job has an outcome: it will never release its place."""
        return bool(await self._redis.exists(self._keys.outcome(job_id)))

    async def _release(self, leave: bool) -> None:
        following = await self._redis.eval(
            _RELEASE, 2, self._lock_key, self._line, self._job_id, "1" if leave else "0"
        )
        following = following.decode() if isinstance(following, bytes) else following
        if following:
            wake = self._keys.chat_wake(following)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(wake, "1")
                pipe.expire(wake, IDLE_TTL_S)
                await pipe.execute()

    async def _renew(self) -> bool:
        return bool(await self._redis.eval(_RENEW, 1, self._lock_key, self._job_id, self._lease_ms))
