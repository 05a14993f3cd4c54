"""Chat turns in flight: the remote ids each turn made, so a retried job resumes, not repeats."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from store.registry import Database, connection


@dataclass(frozen=True)
class ChatTurn:
    message_id: str
    profile: str
    api_style: str
    thread_id: str
    response_id: str | None
    user_message_id: str | None
    run_id: str | None


async def get(db: Database, message_id: str) -> ChatTurn | None:
    """What an earlier attempt of this turn recorded (None: no attempt got that far)."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            "SELECT message_id, profile, api_style, thread_id, response_id, user_message_id, "
            "run_id FROM chat_turns WHERE message_id = $1",
            message_id,
        )
    return ChatTurn(**dict(row)) if row else None


async def resume_point(
    db: Database, message_id: str, user_id: str, assistant_id: UUID
) -> tuple[ChatTurn | None, str | None]:
    """In one round trip: what an earlier attempt recorded, and the user's live thread id.

    The live thread is marked used as `store.user_threads.get` does, and like it without
    waiting for the disk (a lost `last_used_at` costs nothing): `set_config(..., true)` holds
    for this statement's own transaction, whose commit reads it.
    """
    async with connection(db) as conn:
        row = await conn.fetchrow(
            """
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
            used AS (
                UPDATE user_threads SET last_used_at = now() FROM relaxed
                WHERE user_id = $2 AND assistant_id = $3 AND archived_at IS NULL
                RETURNING thread_id
            )
            SELECT (SELECT thread_id FROM used) AS live_thread, t.message_id, t.profile,
                t.api_style, t.thread_id, t.response_id, t.user_message_id, t.run_id
            FROM (SELECT 1) AS one LEFT JOIN chat_turns AS t ON t.message_id = $1
            """,
            message_id,
            user_id,
            assistant_id,
        )
    fields = dict(row)
    live_thread = fields.pop("live_thread")
    turn = ChatTurn(**fields) if fields["message_id"] is not None else None
    return turn, live_thread


async def record(
    db: Database,
    message_id: str,
    *,
    profile: str,
    api_style: str,
    thread_id: str,
    response_id: str | None = None,
    user_message_id: str | None = None,
    run_id: str | None = None,
) -> None:
    """Write the remote ids the turn just learnt, on `thread_id` (ids not given are kept;
    a turn moved to a new thread starts its ids afresh)."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO chat_turns
                (message_id, profile, api_style, thread_id, response_id, user_message_id, run_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (message_id) DO UPDATE SET
                response_id = CASE WHEN chat_turns.thread_id = EXCLUDED.thread_id
                    THEN coalesce(EXCLUDED.response_id, chat_turns.response_id)
                    ELSE EXCLUDED.response_id END,
                user_message_id = CASE WHEN chat_turns.thread_id = EXCLUDED.thread_id
                    THEN coalesce(EXCLUDED.user_message_id, chat_turns.user_message_id)
                    ELSE EXCLUDED.user_message_id END,
                run_id = CASE WHEN chat_turns.thread_id = EXCLUDED.thread_id
                    THEN coalesce(EXCLUDED.run_id, chat_turns.run_id)
                    ELSE EXCLUDED.run_id END,
                thread_id = EXCLUDED.thread_id, updated_at = now()
            """,
            message_id,
            profile,
            api_style,
            thread_id,
            response_id,
            user_message_id,
            run_id,
        )
