"""`user_threads` and clones: threads of a v2 assistant found by its remote id; a cloned
conversation adopted as the user's live one, with the thread it came from kept."""

from __future__ import annotations

import asyncpg

from schemas.assistants import parse_spec
from store import registry, user_threads


async def test_threads_of_a_remote_assistant_are_the_live_rows_of_its_entry(
    db: asyncpg.Pool,
) -> None:
    helper = (await registry.upsert(db, "src", parse_spec({"name": "H", "model": "m"}))).entry
    other = (await registry.upsert(db, "src", parse_spec({"name": "O", "model": "m"}))).entry
    await registry.set_remote_id(db, "src", "H", "asst_h")
    await registry.set_remote_id(db, "src", "O", "asst_o")
    await user_threads.put(db, "u1", helper.id, "src", "thread_old")
    await user_threads.put(db, "u1", helper.id, "src", "thread_1")  # archives thread_old
    await user_threads.put(db, "u2", helper.id, "src", "thread_2")
    await user_threads.put(db, "u3", other.id, "src", "thread_3")
    found = await user_threads.of_remote_assistant(db, "src", "asst_h")
    assert [(t.user_id, t.thread_id) for t in found] == [("u1", "thread_1"), ("u2", "thread_2")]
    assert await user_threads.of_remote_assistant(db, "dst", "asst_h") == []


async def test_a_cloned_conversation_is_adopted_once_and_keeps_its_thread(
    db: asyncpg.Pool,
) -> None:
    entry = (await registry.upsert(db, "dst", parse_spec({"name": "H", "model": "m"}))).entry
    await user_threads.put(db, "u1", entry.id, "dst", "conv_chatted")
    assert await user_threads.adopt_copy(
        db, "u1", entry.id, "dst", "conv_1", cloned_from_thread="thread_1", assistant_name="H"
    )
    assert await user_threads.get(db, "u1", entry.id) == "conv_1"
    assert await user_threads.cloned_from(db, "u1", entry.id) == ("conv_1", "thread_1")
    # Again: already the live one, nothing written.
    assert not await user_threads.adopt_copy(
        db, "u1", entry.id, "dst", "conv_1", cloned_from_thread="thread_1"
    )
    assert [(t.thread_id, t.reason) for t in await user_threads.archived(db, "u1")] == [
        ("conv_chatted", "replaced by clone")
    ]
    assert await user_threads.cloned_from(db, "u2", entry.id) is None
