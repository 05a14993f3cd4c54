"""The registry's write paths: many specs at once, callees first, all or nothing."""

from __future__ import annotations

import asyncpg
import pytest
from arq.connections import ArqRedis

from schemas.assistants import SpecError, parse_spec
from schemas.keys import RedisKeys
from store import registry, registry_writes


def calls(name: str, callee: str) -> dict[str, object]:
    return {
        "name": name,
        "model": "m",
        "tools": [{"type": "sub_assistant", "name": f"ask_{callee}", "assistant": callee}],
    }


async def test_write_many_orders_callees_first_and_refuses_cycles_whole(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(key_prefix)
    specs = [parse_spec(calls("desk", "analyst")), parse_spec({"name": "analyst", "model": "m"})]
    results = await registry_writes.write_many(db, redis, keys, "dst", specs)
    assert [r.entry.name for r in results] == ["desk", "analyst"]
    assert await redis.get(keys.assistant_version("dst", "desk")) == b"1"

    cycle = [parse_spec(calls("a", "b")), parse_spec(calls("b", "a")), parse_spec(calls("c", "a"))]
    with pytest.raises(SpecError) as caught:
        await registry_writes.write_many(
            db, redis, keys, "dst", cycle, labels=["[0]", "[1]", "[2]"]
        )
    assert caught.value.problems[0][0] == "[0].tools"
    assert [e.name for e in await registry.list_entries(db, "dst")] == ["analyst", "desk"]
