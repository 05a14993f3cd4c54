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


@dataclass(frozen=True)
class SourceThread:
    """A live thread of a user with the registry entry of a remote (v2) assistant."""

    user_id: str
    thread_id: str


async def of_remote_assistant(db: Database, profile: str, remote_id: str) -> list[SourceThread]:
    """The live threads of every user with the assistant whose v2 id is `remote_id`."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            """
            SELECT t.user_id, t.thread_id
            FROM user_threads t JOIN assistants a ON a.id = t.assistant_id
            WHERE a.profile = $1 AND a.remote_id = $2 AND t.profile = $1
              AND t.archived_at IS NULL
            ORDER BY t.created_at, t.user_id
            """,
            profile,
            remote_id,
        )
    return [SourceThread(r["user_id"], r["thread_id"]) for r in rows]


async def adopt_copy(
    db: Database,
    user_id: str,
    assistant_id: UUID,
    profile: str,
    conversation_id: str,
    *,
    cloned_from_thread: str,
    assistant_name: str | None = None,
) -> bool:
    """Make a cloned conversation this user's live one, keeping the thread it came from.

    A live row already pointing at it is left alone (a re-run writes nothing); any other
    live row is archived ("replaced by clone"). True if a row was written.
    """
    async with connection(db) as conn, conn.transaction():
        live = await conn.fetchval(
            "SELECT thread_id FROM user_threads "
            "WHERE user_id = $1 AND assistant_id = $2 AND archived_at IS NULL FOR UPDATE",
            user_id,
            assistant_id,
        )
        if live == conversation_id:
            return False
        await _archive(conn, user_id, assistant_id, "replaced by clone")
        await conn.execute(
            """
            INSERT INTO user_threads
                (user_id, assistant_id, profile, thread_id, assistant_name, cloned_from_thread)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            user_id,
            assistant_id,
            profile,
            conversation_id,
            assistant_name,
            cloned_from_thread,
        )
        return True


async def cloned_from(db: Database, user_id: str, assistant_id: UUID) -> tuple[str, str] | None:
    """The live (conversation id, thread it was cloned from) of a user, if a clone made it."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            "SELECT thread_id, cloned_from_thread FROM user_threads "
            "WHERE user_id = $1 AND assistant_id = $2 AND archived_at IS NULL "
            "AND cloned_from_thread IS NOT NULL",
            user_id,
            assistant_id,
        )
    return (row["thread_id"], row["cloned_from_thread"]) if row else None


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
