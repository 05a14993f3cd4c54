"""Per-user threads: one thread (assistants style) or conversation (responses style) per user
and assistant. Conversations cannot be listed remotely, so this table is the only record.
"""

from __future__ import annotations

from uuid import UUID

from store.registry import Database, connection


async def get(db: Database, user_id: str, assistant_id: UUID) -> str | None:
    """The thread (or conversation) id of this user with this assistant, marking it used."""
    async with connection(db) as conn:
        return await conn.fetchval(
            "UPDATE user_threads SET last_used_at = now() "
            "WHERE user_id = $1 AND assistant_id = $2 RETURNING thread_id",
            user_id,
            assistant_id,
        )


async def put(db: Database, user_id: str, assistant_id: UUID, profile: str, thread_id: str) -> None:
    """Make `thread_id` this user's thread with this assistant (a new one replaces the old)."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO user_threads (user_id, assistant_id, profile, thread_id)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (user_id, assistant_id) DO UPDATE
            SET thread_id = EXCLUDED.thread_id, profile = EXCLUDED.profile,
                updated_at = now(), last_used_at = now()
            """,
            user_id,
            assistant_id,
            profile,
            thread_id,
        )


async def forget(db: Database, user_id: str, assistant_id: UUID) -> bool:
    """Forget this user's thread with this assistant (the next turn starts a new one)."""
    async with connection(db) as conn:
        status = await conn.execute(
            "DELETE FROM user_threads WHERE user_id = $1 AND assistant_id = $2",
            user_id,
            assistant_id,
        )
        return status != "DELETE 0"
