"""The journal per chat thread a clone copies."""

from __future__ import annotations

import asyncpg
import pytest

from store import clone_threads


async def test_the_thread_journal_resumes_after_the_last_message_copied(
    db: asyncpg.Pool,
) -> None:
    assert await clone_threads.thread_journal(db, "dst", "thread_1") is None
    started = await clone_threads.start_thread(db, "dst", "thread_1", "conv_1")
    assert (started.conversation_id, started.last_message_id, started.messages_copied) == (
        "conv_1",
        None,
        0,
    )
    # A re-run that made another conversation before noticing keeps the first one.
    again = await clone_threads.start_thread(db, "dst", "thread_1", "conv_2")
    assert again.conversation_id == "conv_1"
    await clone_threads.advance_thread(
        db, "dst", "thread_1", last_message_id="msg_20", copied=20, annotations_dropped=2
    )
    later = await clone_threads.advance_thread(
        db, "dst", "thread_1", last_message_id="msg_25", copied=5
    )
    assert (later.last_message_id, later.messages_copied, later.annotations_dropped) == (
        "msg_25",
        25,
        2,
    )
    assert later.finished_at is None
    await clone_threads.finish_thread(db, "dst", "thread_1")
    journal = await clone_threads.thread_journal(db, "dst", "thread_1")
    assert journal is not None and journal.finished_at is not None
    with pytest.raises(clone_threads.CloneStateError, match="thread_9 has no journal"):
        await clone_threads.advance_thread(db, "dst", "thread_9", last_message_id="m", copied=1)
