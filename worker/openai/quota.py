"""A profile out of quota, shared by every worker: marked once, refused at once, for a cool-down.

An `insufficient_quota` answer will not change on retry; calling again only adds failures
(and, on OpenAI, noise in the billing logs). So the first worker to get one writes it to
Redis with the cool-down as TTL; every call on that profile then fails before it is sent,
quoting the original answer, until the mark expires or someone clears it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from schemas.keys import RedisKeys
from worker.openai.errors import QuotaExhausted


@dataclass(frozen=True)
class Exhaustion:
    """Why and since when a profile is out of quota, and how long calls stay refused."""

    profile: str
    code: str
    message: str
    since: float
    remaining_s: float

    def error(self) -> QuotaExhausted:
        """The failure every call on the profile gets while the mark lasts."""
        ago = max(0, round(time.time() - self.since))
        return QuotaExhausted(
            f"profile {self.profile!r} is out of quota ({self.code}, {ago} s ago: "
            f"{self.message}); Ferry sends it nothing for another {math.ceil(self.remaining_s)} s "
            "(OPENAI_QUOTA_COOLDOWN_S): add credit or raise the project's limit, then retry",
            profile=self.profile,
            request="(not sent)",
            status=429,
            code=self.code,
        )


async def mark_exhausted(
    redis: Redis, keys: RedisKeys, error: QuotaExhausted, *, cooldown_s: float
) -> None:
    """Refuse calls on `error.profile` for `cooldown_s`, for every worker."""
    record = {
        "code": error.code or "insufficient_quota",
        "message": str(error),
        "since": time.time(),
    }
    await redis.set(keys.openai_quota(error.profile), json.dumps(record), px=int(cooldown_s * 1000))


async def exhaustion(redis: Redis, keys: RedisKeys, profile: str) -> Exhaustion | None:
    """The profile's quota mark, if it has one."""
    key = keys.openai_quota(profile)
    async with redis.pipeline(transaction=True) as pipe:
        raw, ttl_ms = await pipe.get(key).pttl(key).execute()
    return parse(profile, raw, ttl_ms) if raw else None


def parse(profile: str, raw: bytes | str, ttl_ms: int) -> Exhaustion:
    """An `Exhaustion` from the stored record and its remaining TTL."""
    record = json.loads(raw)
    return Exhaustion(
        profile=profile,
        code=record["code"],
        message=record["message"],
        since=record["since"],
        remaining_s=max(0.0, ttl_ms / 1000),
    )


async def clear(redis: Redis, keys: RedisKeys, profile: str) -> bool:
    """Lift the mark early (credit was added); whether there was one."""
    return bool(await redis.delete(keys.openai_quota(profile)))
