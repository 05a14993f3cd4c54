"""Flow storage: versions are immutable, the head moves only from the version a writer read."""

from __future__ import annotations

import asyncpg
import pytest
from arq.connections import ArqRedis

from schemas.assistants import parse_spec
from schemas.flows import BlockSpan, BlockType
from schemas.keys import RedisKeys
from store import flows, registry_writes

MAPPING = [BlockSpan("block_0", BlockType.primeira_mensagem, 1, 4, 1)]


async def make_flow(db: asyncpg.Pool, redis: ArqRedis, keys: RedisKeys) -> None:
    spec = parse_spec({"name": "sofia", "model": "gpt-4o"})
    await registry_writes.write(db, redis, keys, "dst", spec)
    await flows.append_version(
        db,
        profile="dst",
        assistant="sofia",
        expected=None,
        globals_text="",
        canonical='"Oi"\n',
        mapping=MAPPING,
        patch={"kind": "import"},
        changes=[(0, 0, 5)],
        requested_by="ops",
    )


async def test_versions_cannot_be_rewritten(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    await make_flow(db, redis, RedisKeys(key_prefix))
    with pytest.raises(asyncpg.RaiseError, match="prompt_versions are immutable"):
        await db.execute("UPDATE prompt_versions SET prompt_master_canonical = 'x'")
    flow = await flows.require(db, "dst", "sofia")
    assert (await flows.require_version(db, flow, 1)).canonical == '"Oi"\n'


async def test_a_writer_that_read_an_old_head_is_told_the_current_version(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    await make_flow(db, redis, RedisKeys(key_prefix))
    write = {
        "profile": "dst",
        "assistant": "sofia",
        "globals_text": "",
        "canonical": '"Olá"\n',
        "mapping": [BlockSpan("block_0", BlockType.primeira_mensagem, 1, 4, 1)],
        "patch": {"kind": "patch"},
        "changes": [(1, 3, 3)],
        "requested_by": "ops",
    }
    assert await flows.append_version(db, expected=1, **write) == 2
    with pytest.raises(flows.StaleFlow) as stale:
        await flows.append_version(db, expected=1, **write)
    assert stale.value.current == 2
    with pytest.raises(flows.StaleFlow):
        await flows.append_version(db, expected=None, **write)  # a second "first import"
    flow = await flows.require(db, "dst", "sofia")
    assert flow.version == 2 and flow.mapping == write["mapping"]
    assert await flows.changes_after(db, flow.id, 0) == [(1, [(0, 0, 5)]), (2, [(1, 3, 3)])]


async def test_deleting_the_assistant_deletes_its_flow(
    db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    await make_flow(db, redis, RedisKeys(key_prefix))
    assert await registry_writes.delete(db, redis, RedisKeys(key_prefix), "dst", "sofia")
    assert await db.fetchval("SELECT count(*) FROM prompt_versions") == 0
