"""The clone's journal per chat thread: the conversation it became, the last message copied
and the destination item it became, so a copy killed mid-thread resumes after its last batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store.clone_state import CloneStateError
from store.registry import Database, connection


@dataclass(frozen=True)
class ThreadJournal:
    destination: str
    source_thread_id: str
    conversation_id: str
    last_message_id: str | None
    messages_copied: int
    annotations_dropped: int
    finished_at: datetime | None
    # The destination's item made from `last_message_id` (None before the first batch).
    last_item_id: str | None = None
    images_remapped: int = 0
    images_dropped: int = 0


_THREAD = (
    "destination, source_thread_id, conversation_id, last_message_id, messages_copied, "
    "annotations_dropped, finished_at, last_item_id, images_remapped, images_dropped"
)


async def start_thread(
    db: Database, destination: str, source_thread_id: str, conversation_id: str
) -> ThreadJournal:
    """Journal a thread's copy from the moment its conversation exists; an existing one wins."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO clone_threads (destination, source_thread_id, conversation_id)
            VALUES ($1, $2, $3)
            ON CONFLICT (destination, source_thread_id) DO NOTHING
            """,
            destination,
            source_thread_id,
            conversation_id,
        )
        journal = await thread_journal(conn, destination, source_thread_id)
    assert journal is not None
    return journal


async def advance_thread(
    db: Database,
    destination: str,
    source_thread_id: str,
    *,
    last_message_id: str,
    copied: int,
    annotations_dropped: int = 0,
    last_item_id: str | None = None,
    images_remapped: int = 0,
    images_dropped: int = 0,
) -> ThreadJournal:
    """Record a batch of messages copied (after the call that copied them succeeded)."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"""
            UPDATE clone_threads
            SET last_message_id = $3, messages_copied = messages_copied + $4,
                annotations_dropped = annotations_dropped + $5,
                last_item_id = coalesce($6, last_item_id),
                images_remapped = images_remapped + $7, images_dropped = images_dropped + $8,
                updated_at = now()
            WHERE destination = $1 AND source_thread_id = $2
            RETURNING {_THREAD}
            """,
            destination,
            source_thread_id,
            last_message_id,
            copied,
            annotations_dropped,
            last_item_id,
            images_remapped,
            images_dropped,
        )
    if row is None:
        raise CloneStateError(f"thread {source_thread_id} has no journal for {destination!r}")
    return ThreadJournal(**dict(row))


async def finish_thread(db: Database, destination: str, source_thread_id: str) -> None:
    """Mark a thread's history copied to its end."""
    async with connection(db) as conn:
        await conn.execute(
            "UPDATE clone_threads SET finished_at = now(), updated_at = now() "
            "WHERE destination = $1 AND source_thread_id = $2",
            destination,
            source_thread_id,
        )


async def thread_journal(
    db: Database, destination: str, source_thread_id: str
) -> ThreadJournal | None:
    """Where a thread's copy stands, or None if it never started."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_THREAD} FROM clone_threads WHERE destination = $1 AND source_thread_id = $2",
            destination,
            source_thread_id,
        )
    return ThreadJournal(**dict(row)) if row else None


async def thread_journals(
    db: Database, destination: str, source_thread_ids: list[str]
) -> list[ThreadJournal]:
    """The journals of these threads' copies that started (for a run's progress)."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_THREAD} FROM clone_threads "
            "WHERE destination = $1 AND source_thread_id = ANY($2::text[])",
            destination,
            source_thread_ids,
        )
    return [ThreadJournal(**dict(r)) for r in rows]
