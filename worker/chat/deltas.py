"""A streaming turn's text deltas, appended to a Redis stream per job as they arrive.

Entries are `{"type": "delta", "text", "seq"}` (seq: the OpenAI event's sequence number, so a
retried job resumes the remote stream after the last one written and never writes a delta
twice) and one last `{"type": "end", "status", "outcome"}`. A reader replays from id 0 and
then blocks from the last id it saw, so a late subscriber misses nothing.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from schemas.keys import RedisKeys

# The stream outlives the turn long enough for a slow gateway to read it all.
STREAM_TTL_S = 86_400


class DeltaStream:
    """The delta stream of one job; `enabled=False` makes every write a no-op."""

    def __init__(self, redis: Redis, keys: RedisKeys, job_id: str, *, enabled: bool) -> None:
        self._redis, self._key, self.enabled = redis, keys.chat_deltas(job_id), enabled
        self._expiry_set = False

    async def last_sequence(self) -> int | None:
        """The sequence number of the last delta written (by this or an earlier attempt)."""
        if not self.enabled:
            return None
        for _, fields in await self._redis.xrevrange(self._key, count=20):
            seq = fields.get(b"seq") or fields.get("seq")
            if seq not in (None, b"", ""):
                return int(seq)
        return None

    async def text_so_far(self) -> str:
        """Every delta written so far, joined (what a resumed turn has already streamed)."""
        if not self.enabled:
            return ""
        entries = await self._redis.xrange(self._key)
        return "".join(_field(f, "text") for _, f in entries if _field(f, "type") == "delta")

    async def delta(self, text: str, seq: int | None = None) -> None:
        if not self.enabled or not text:
            return
        fields = {"type": "delta", "text": text, "seq": "" if seq is None else str(seq)}
        await self._redis.xadd(self._key, fields)  # type: ignore[arg-type]
        if not self._expiry_set:
            await self._redis.expire(self._key, STREAM_TTL_S)
            self._expiry_set = True

    async def end(self, status: str, outcome: dict[str, Any]) -> None:
        """The last entry: the turn's status and its result (or error) as JSON."""
        if not self.enabled:
            return
        fields = {"type": "end", "status": status, "outcome": json.dumps(outcome)}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self._key, fields)  # type: ignore[arg-type]
            pipe.expire(self._key, STREAM_TTL_S)
            await pipe.execute()


def _field(fields: dict[Any, Any], name: str) -> str:
    value = fields.get(name.encode(), fields.get(name, b""))
    return value.decode() if isinstance(value, bytes) else str(value)
