"""Chat turns in flight: the remote ids each turn made, so a retried job resumes, not repeats."""

from __future__ import annotations

from dataclasses import dataclass

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
