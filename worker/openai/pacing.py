"""The shared rate budget of a profile (per model), in Redis, for every worker process.

OpenAI's limits are token buckets: `x-ratelimit-limit-*` is the capacity, refilled evenly
over a minute, `-remaining-*` what the bucket holds, `-reset-*` the time until it is full.
Ferry keeps a mirror of each bucket (requests and tokens) in one Redis hash per profile and
model, and changes it only in Lua scripts, so every worker sees one budget:

- `acquire` books one request (and the call's estimated tokens) before it is sent. A call
  that must wait gets a slot in the future: callers queue in order instead of waking
  together. A wait longer than `max_wait_s` books nothing and raises `Deferred`, an
  `arq.Retry`, so the job goes back to its queue and no worker slot sleeps.
- `observe` runs after every answer (the client's response hook, through `report`): the
  first answer teaches the limits (until then one call at a time probes, so a fleet never
  stampedes a budget it does not know), later ones lower the mirror to what the server
  says remains. Lowering only: the server has not yet seen the calls still in flight.
  `report` writes off the caller's path: the answer goes on at once, and one writer per
  budget writes the newest headers, in order (a newer answer supersedes an unwritten one).
- `pause` (a 429 with `retry-after`) empties the bucket and stops everyone until then.

A server that sends no rate-limit headers is not paced. `limits` was tried first: see the
README ("Pacing") for why its windows do not mirror these buckets.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Any

import structlog
from arq import Retry
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from store.outages import OUTAGES
from worker.openai import quota
from worker.openai.errors import Final

log = structlog.get_logger("ferry.openai")

BYTES_PER_TOKEN = 4  # OpenAI's rule of thumb, and what it charges before counting
PROBE_MS = 5_000  # a probe whose answer never comes frees the budget after this
PROBE_RETRY_MS = 20
STATE_TTL_MS = 3_600_000  # an idle budget is forgotten after an hour; headers re-teach it
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
)
Budget = tuple[str, str | None]  # (profile, model)

# KEYS: budget hash, probe key, quota key. ARGV: tokens, max wait (ms), probe ms, retry ms.
# Returns {status, wait_ms[, detail]}: 0 booked (sleep wait_ms first), 1 wait longer than
# allowed (nothing booked), 2 more tokens than the whole bucket, 3 out of quota.
_ACQUIRE = """
local quota = redis.call('GET', KEYS[3])
if quota then return {3, 0, quota, redis.call('PTTL', KEYS[3])} end
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local h = redis.call('HMGET', KEYS[1], 'rl', 'rv', 'tl', 'tv', 'ts', 'pu')
local rl, rv, tl, tv = tonumber(h[1]), tonumber(h[2]), tonumber(h[3]), tonumber(h[4])
local ts, pu = tonumber(h[5]) or now, tonumber(h[6]) or 0
local cost, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = math.max(0, pu - now)
if not rl and not tl then
  if wait > 0 then
    if wait > max_wait then return {1, tostring(wait)} end
    return {0, tostring(wait)}
  end
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return {0, '0'} end
  return {0, ARGV[4], 'probe'}
end
local elapsed = math.max(0, now - ts)
if rl and rl > 0 then
  rv = math.min(rl, rv + elapsed * rl / 60000)
  if rv < 1 then wait = math.max(wait, (1 - rv) * 60000 / rl) end
end
if tl and tl > 0 and cost > 0 then
  if cost > tl then return {2, '0', tostring(tl)} end
  tv = math.min(tl, tv + elapsed * tl / 60000)
  if tv < cost then wait = math.max(wait, (cost - tv) * 60000 / tl) end
elseif tl and tl > 0 then
  tv = math.min(tl, tv + elapsed * tl / 60000)
end
if wait > max_wait then return {1, tostring(wait)} end
if rl and rl > 0 then rv = rv - 1 end
if tl and tl > 0 then tv = tv - cost end
redis.call('HSET', KEYS[1], 'rv', tostring(rv or 0), 'tv', tostring(tv or 0), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {0, tostring(wait)}
"""

# KEYS: budget hash, probe key. ARGV: request limit, remaining, token limit, remaining
# ('' when absent), ttl. With no header at all the budget is marked unpaced (limit -1).
_OBSERVE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local h = redis.call('HMGET', KEYS[1], 'rl', 'rv', 'tl', 'tv', 'ts')
local rl, rv, tl, tv = tonumber(h[1]), tonumber(h[2]), tonumber(h[3]), tonumber(h[4])
local elapsed = math.max(0, now - (tonumber(h[5]) or now))
local function mirror(limit, level, new_limit, remaining)
  if not new_limit then return limit, level end
  remaining = remaining or new_limit
  if limit ~= new_limit then return new_limit, remaining end
  level = math.min(limit, level + elapsed * limit / 60000)
  return limit, math.min(level, remaining)
end
local nrl, nrv = tonumber(ARGV[1]), tonumber(ARGV[2])
local ntl, ntv = tonumber(ARGV[3]), tonumber(ARGV[4])
if not nrl and not ntl then
  if not rl and not tl then
    redis.call('HSET', KEYS[1], 'rl', '-1', 'tl', '-1', 'rv', '0', 'tv', '0', 'ts', tostring(now))
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
  end
  redis.call('DEL', KEYS[2])
  return 0
end
if rl == -1 then rl, rv, tl, tv = nil, nil, nil, nil end
rl, rv = mirror(rl, rv, nrl, nrv)
tl, tv = mirror(tl, tv, ntl, ntv)
redis.call('HSET', KEYS[1], 'rl', tostring(rl or -1), 'rv', tostring(rv or 0),
  'tl', tostring(tl or -1), 'tv', tostring(tv or 0), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: budget hash. ARGV: pause ms, which bucket ('requests', 'tokens' or '').
_PAUSE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local h = redis.call('HMGET', KEYS[1], 'rv', 'tv', 'pu')
local until_ms = math.max(tonumber(h[3]) or 0, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'pu', tostring(until_ms))
if ARGV[2] ~= 'tokens' and tonumber(h[1]) then
  redis.call('HSET', KEYS[1], 'rv', tostring(math.min(0, tonumber(h[1]))))
end
if ARGV[2] ~= 'requests' and tonumber(h[2]) then
  redis.call('HSET', KEYS[1], 'tv', tostring(math.min(0, tonumber(h[2]))))
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tostring(until_ms - now)
"""


class Deferred(Retry):
    """The wait is too long to sleep through: the job goes back to its queue for it."""

    def __init__(self, profile: str, wait_s: float, why: str) -> None:
        super().__init__(defer=max(0.001, wait_s))
        self.profile, self.wait_s, self.why = profile, wait_s, why

    def __str__(self) -> str:
        return f"profile {self.profile!r}: {self.why}; the job retries in {self.wait_s:.1f} s"


class Pacer:
    """Every worker's view of the shared budgets, one per profile and model."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, max_wait_s: float) -> None:
        self._redis, self._keys, self.max_wait_s = redis, keys, max_wait_s
        self._acquire = redis.register_script(_ACQUIRE)
        self._observe = redis.register_script(_OBSERVE)
        self._pause = redis.register_script(_PAUSE)
        # `report`'s state: the newest unwritten headers and the writer of each budget, and
        # the budgets this process has seen an answer for land (past their probe).
        self._unwritten: dict[Budget, dict[str, str]] = {}
        self._writers: dict[Budget, asyncio.Task[None]] = {}
        self._taught: set[Budget] = set()

    async def acquire(self, profile: str, model: str | None = None, tokens: int = 0) -> float:
        """Book one request (and `tokens`) on the shared budget; the seconds waited for it.

        Raises `Deferred` for a wait longer than `max_wait_s`, `QuotaExhausted` while the
        profile is marked out of quota, `Final` for more tokens than the budget holds.
        """
        keys = self._keys
        waited = 0.0
        budget = (profile, model)
        if budget not in self._taught and (writer := self._writers.get(budget)) is not None:
            # The answer that ends this budget's probe is on its way to Redis: without it,
            # this call would find the probe still out and sleep a whole retry.
            await asyncio.shield(writer)
        while True:
            answer = await self._acquire(
                keys=[
                    keys.openai_pacing(profile, model),
                    keys.openai_probe(profile, model),
                    keys.openai_quota(profile),
                ],
                args=[tokens, self.max_wait_s * 1000, PROBE_MS, PROBE_RETRY_MS, STATE_TTL_MS],
            )
            status, wait_s = int(answer[0]), float(answer[1]) / 1000
            if status == 3:
                raise quota.parse(profile, answer[2], int(answer[3])).error()
            if status == 2:
                raise Final(
                    f"profile {profile!r}: the call needs about {tokens} tokens, more than "
                    f"the whole budget of {int(float(answer[2]))} tokens a minute"
                    f"{f' for {model}' if model else ''}: shorten the input",
                    profile=profile,
                    request="(not sent)",
                )
            if status == 1:
                raise Deferred(profile, wait_s, f"rate budget{f' for {model}' if model else ''}")
            if wait_s > 0:
                await asyncio.sleep(wait_s)
                waited += wait_s
            if len(answer) < 3:  # booked; a probe in flight means: ask again shortly
                return waited

    async def observe(self, profile: str, model: str | None, headers: Mapping[str, str]) -> None:
        """Correct the shared budget from an answer's `x-ratelimit-*` headers."""
        args = [*(headers.get(name, "") for name in RATE_HEADERS), STATE_TTL_MS]
        keys = [
            self._keys.openai_pacing(profile, model),
            self._keys.openai_probe(profile, model),
        ]
        await self._observe(keys=keys, args=args)
        self._taught.add((profile, model))

    def report(self, profile: str, model: str | None, headers: Mapping[str, str]) -> None:
        """`observe` an answer without waiting for the write (see the module's docstring)."""
        budget = (profile, model)
        self._unwritten[budget] = {name: headers.get(name, "") for name in RATE_HEADERS}
        if budget not in self._writers:
            self._writers[budget] = asyncio.get_running_loop().create_task(self._write(budget))

    async def _write(self, budget: Budget) -> None:
        try:
            while (headers := self._unwritten.pop(budget, None)) is not None:
                try:
                    await self.observe(*budget, headers)
                except OUTAGES as error:
                    # The mirror only lags: the next answer corrects it, a probe expires.
                    log.warning(
                        "could not record an answer's rate limits",
                        profile=budget[0],
                        model=budget[1],
                        error=f"{type(error).__name__}: {error}",
                    )
        finally:
            del self._writers[budget]

    async def settled(self) -> None:
        """Wait until every reported answer is written (shutdown, and tests reading state)."""
        while self._writers:
            await asyncio.gather(*self._writers.values(), return_exceptions=True)

    async def release_probe(self, profile: str, model: str | None) -> None:
        """A call ended without an answer: let the next one probe instead of waiting."""
        await self._redis.delete(self._keys.openai_probe(profile, model))

    async def pause(
        self, profile: str, model: str | None, seconds: float, bucket: str = ""
    ) -> float:
        """Stop every worker's calls on the budget for `seconds` (a 429); the pause left."""
        key = self._keys.openai_pacing(profile, model)
        left = await self._pause(keys=[key], args=[seconds * 1000, bucket, STATE_TTL_MS])
        return float(left) / 1000

    async def state(self, profile: str, model: str | None = None) -> dict[str, float]:
        """The stored mirror (limits, levels, pause), this process's answers written first."""
        await self.settled()
        raw = await self._redis.hgetall(self._keys.openai_pacing(profile, model))
        return {k.decode(): float(v) for k, v in raw.items()}


def estimate_tokens(params: Mapping[str, Any]) -> int:
    """Tokens a `responses.create` / run creation may cost: its input, plus the output cap.

    OpenAI charges the budget before it counts: roughly the request's size at four bytes a
    token, plus `max_output_tokens` (or `max_completion_tokens` for runs).
    """
    body = json.dumps(params, default=str)
    cap = params.get("max_output_tokens") or params.get("max_completion_tokens") or 0
    return math.ceil(len(body.encode()) / BYTES_PER_TOKEN) + int(cap)
