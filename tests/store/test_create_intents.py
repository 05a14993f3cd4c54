"""Create marks on the real Postgres: the first start wins, finishing clears it."""

from __future__ import annotations

import asyncpg

from store import create_intents


async def test_a_mark_reports_an_earlier_start_until_it_is_finished(db: asyncpg.Pool) -> None:
    assert await create_intents.begin(db, "file", "dst", "file_1") is None
    [(kind, source_id, started)] = await create_intents.pending(db, "dst")
    assert (kind, source_id) == ("file", "file_1")
    # A second attempt sees the first one's start, kept as it was.
    assert await create_intents.begin(db, "file", "dst", "file_1") == started
    assert await create_intents.pending(db, "dst") == [("file", "file_1", started)]
    await create_intents.finish(db, "file", "dst", "file_1")
    assert await create_intents.pending(db, "dst") == []
    assert await create_intents.begin(db, "file", "dst", "file_1") is None


async def test_marks_are_per_kind_destination_and_source(db: asyncpg.Pool) -> None:
    await create_intents.begin(db, "file", "dst", "file_1")
    assert await create_intents.begin(db, "file", "other", "file_1") is None
    assert await create_intents.begin(db, "vector_store", "dst", "file_1") is None
    assert await create_intents.begin(db, "file", "dst", "file_2") is None
    assert [(k, s) for k, s, _ in await create_intents.pending(db, "dst")] == [
        ("file", "file_1"),
        ("vector_store", "file_1"),
        ("file", "file_2"),
    ]
