"""Per-user threads: one live thread (assistants style) or conversation (responses style) per
user and assistant. Conversations cannot be listed remotely, so this table is the only record.

Rows are archived, never deleted: `clear`, a thread gone remotely (404) and a deleted
assistant each archive the live row with a reason, so the old id stays for audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from store.registry import Database, connection


@dataclass(frozen=True)
class ArchivedThread:
    thread_id: str
    assistant_name: str | None
    archived_at: datetime
    reason: str


async def get(db: Database, user_id: str, assistant_id: UUID) -> str | None:
    """The live thread (or conversation) id of this user with this assistant, marking it used."""
    async with connection(db) as conn, conn.transaction():
        # A lost `last_used_at` costs nothing: this write, on every chat turn, skips the fsync.
        await conn.execute("SET LOCAL synchronous_commit TO OFF")
        return await conn.fetchval(
            "UPDATE user_threads SET last_used_at = now() "
            "WHERE user_id = $1 AND assistant_id = $2 AND archived_at IS NULL "
            "RETURNING thread_id",
            user_id,
            assistant_id,
        )


async def put(
    db: Database,
    user_id: str,
    assistant_id: UUID,
    profile: str,
    thread_id: str,
    *,
    assistant_name: str | None = None,
    reason: str = "replaced",
) -> str | None:
    """Make `thread_id` this user's live thread, archiving the old one; returns the old id."""
    async with connection(db) as conn, conn.transaction():
        old = await _archive(conn, user_id, assistant_id, reason)
        await conn.execute(
            """
            INSERT INTO user_threads (user_id, assistant_id, profile, thread_id, assistant_name)
            VALUES ($1, $2, $3, $4, $5)
            """,
            user_id,
            assistant_id,
            profile,
            thread_id,
            assistant_name,
        )
        return old


async def forget(
    db: Database, user_id: str, assistant_id: UUID, *, reason: str = "cleared"
) -> bool:
    """Archive this user's live thread with this assistant (the next turn starts a new one)."""
    async with connection(db) as conn:
        return await _archive(conn, user_id, assistant_id, reason) is not None


async def archived(db: Database, user_id: str) -> list[ArchivedThread]:
    """This user's archived threads, newest first (with the name of a deleted assistant)."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            """
            SELECT t.thread_id, coalesce(a.name, t.assistant_name) AS name,
                   t.archived_at, t.archive_reason
            FROM user_threads t LEFT JOIN assistants a ON a.id = t.assistant_id
            WHERE t.user_id = $1 AND t.archived_at IS NOT NULL
            ORDER BY t.archived_at DESC, t.created_at DESC
            """,
            user_id,
        )
    return [
        ArchivedThread(r["thread_id"], r["name"], r["archived_at"], r["archive_reason"])
        for r in rows
    ]


async def _archive(conn: Database, user_id: str, assistant_id: UUID, reason: str) -> str | None:
    return await conn.fetchval(
        "UPDATE user_threads SET archived_at = now(), archive_reason = $3 "
        "WHERE user_id = $1 AND assistant_id = $2 AND archived_at IS NULL RETURNING thread_id",
        user_id,
        assistant_id,
        reason,
    )
