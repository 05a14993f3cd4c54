"""The registry in Postgres: idempotent upserts with version bumps, exact read-back, refusals."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from schemas.assistants import AssistantSpec, SpecError, parse_spec
from store import registry, user_threads
from tests.schemas.test_assistants import FULL


async def test_upsert_reads_back_exactly_and_a_second_apply_changes_nothing(
    db: asyncpg.Pool,
) -> None:
    analyst = await registry.upsert(db, "dst", parse_spec({"name": "analyst", "model": "m"}))
    assert analyst.created and analyst.entry.version == 1
    spec = parse_spec(FULL)
    first = await registry.upsert(db, "dst", spec)
    assert first.created and first.entry.spec == spec
    # JSON Schema property order survives the trip through Postgres
    params = first.entry.spec.tools[0].parameters
    assert list(params["properties"]) == ["symbol", "at"]
    again = await registry.upsert(db, "dst", spec)
    assert not again.changed and again.entry.version == 1
    edited = await registry.upsert(db, "dst", spec.model_copy(update={"instructions": "Brief."}))
    assert [c.field for c in edited.changes] == ["instructions"]
    assert edited.entry.version == 2
    assert (await registry.get(db, "dst", "trader")).spec.instructions == "Brief."
    # the same name in another profile is another assistant
    assert await registry.get(db, "src", "trader") is None


async def test_equal_tool_definitions_are_shared_and_edits_do_not_leak(db: asyncpg.Pool) -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    await registry.upsert(db, "p", parse_spec({"name": "a", "model": "m", "tools": [tool]}))
    await registry.upsert(db, "p", parse_spec({"name": "b", "model": "m", "tools": [tool]}))
    assert await db.fetchval("SELECT count(*) FROM tools") == 1
    changed = {**tool, "description": "new"}
    await registry.upsert(db, "p", parse_spec({"name": "b", "model": "m", "tools": [changed]}))
    assert (await registry.get(db, "p", "a")).spec.tools[0].description is None
    assert (await registry.get(db, "p", "b")).spec.tools[0].description == "new"
    assert await db.fetchval("SELECT count(*) FROM tools") == 2


async def test_sub_assistant_must_exist_and_cannot_be_deleted_while_called(
    db: asyncpg.Pool,
) -> None:
    spec = parse_spec(FULL)  # calls 'analyst' as a sub-assistant
    with pytest.raises(SpecError) as caught:
        await registry.upsert(db, "dst", spec)
    assert caught.value.problems[0][0] == "tools[3].assistant"
    assert await registry.get(db, "dst", "trader") is None  # nothing half-written
    await registry.upsert(db, "dst", parse_spec({"name": "analyst", "model": "m"}))
    await registry.upsert(db, "dst", spec)
    with pytest.raises(registry.RegistryError, match="sub-assistant of trader"):
        await registry.delete(db, "dst", "analyst")
    assert await registry.delete(db, "dst", "trader") == 1
    assert await registry.delete(db, "dst", "analyst") == 1
    assert await registry.list_entries(db, "dst") == []
    assert await db.fetchval("SELECT count(*) FROM tools") == 0


async def test_find_by_metadata_and_remote_id(db: asyncpg.Pool) -> None:
    spec = parse_spec({"name": "a", "model": "m", "metadata": {"cloned_from": "asst_1"}})
    await registry.upsert(db, "dst", spec)
    await registry.upsert(db, "dst", parse_spec({"name": "b", "model": "m"}))
    found = await registry.find_by_metadata(db, "dst", "cloned_from", "asst_1")
    assert [e.name for e in found] == ["a"]
    assert await registry.set_remote_id(db, "dst", "a", "asst_9") == 2
    assert await registry.set_remote_id(db, "dst", "a", "asst_9") == 2  # unchanged: no bump
    assert (await registry.get(db, "dst", "a")).remote_id == "asst_9"


async def test_user_threads_are_one_per_user_and_assistant(db: asyncpg.Pool) -> None:
    entry = (await registry.upsert(db, "dst", parse_spec({"name": "a", "model": "m"}))).entry
    assert await user_threads.get(db, "u1", entry.id) is None
    assert await user_threads.put(db, "u1", entry.id, "dst", "conv_1") is None
    # "clear": a new thread; the old id is archived, not lost
    assert await user_threads.put(db, "u1", entry.id, "dst", "conv_2") == "conv_1"
    await user_threads.put(db, "u2", entry.id, "dst", "conv_3")
    assert await user_threads.get(db, "u1", entry.id) == "conv_2"
    assert await user_threads.forget(db, "u1", entry.id)
    assert await user_threads.get(db, "u1", entry.id) is None
    assert [(t.thread_id, t.reason) for t in await user_threads.archived(db, "u1")] == [
        ("conv_2", "cleared"),
        ("conv_1", "replaced"),
    ]


async def test_deleting_an_assistant_archives_its_users_threads(db: asyncpg.Pool) -> None:
    entry = (await registry.upsert(db, "dst", parse_spec({"name": "a", "model": "m"}))).entry
    await user_threads.put(db, "u1", entry.id, "dst", "conv_1")
    await registry.delete(db, "dst", "a")
    [kept] = await user_threads.archived(db, "u1")
    assert (kept.thread_id, kept.assistant_name, kept.reason) == (
        "conv_1",
        "a",
        "assistant deleted",
    )


async def test_concurrent_writes_sharing_tools_in_one_profile_all_succeed(
    db: asyncpg.Pool,
) -> None:
    def spec(i: int, variant: int) -> AssistantSpec:
        tool = {"type": "function", "name": "get_price", "description": f"v{variant}"}
        return parse_spec({"name": f"a{i}", "model": "m", "tools": [tool]})

    # Every write re-links tools and drops the unlinked ones: a race would hit the foreign key.
    # Half the assistants move to the tool the other half leave, every round.
    for round_ in range(20):
        await asyncio.gather(
            *(registry.upsert(db, "dst", spec(i, (i + round_) % 2)) for i in range(8))
        )
    entries = await registry.list_entries(db, "dst")
    assert len(entries) == 8
    assert {e.spec.tools[0].description for e in entries} == {"v0", "v1"}
