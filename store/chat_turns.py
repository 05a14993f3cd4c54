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


async def start(
    db: Database, message_id: str, profile: str, api_style: str, thread_id: str
) -> None:
    """Record the turn's thread (a retry after a new thread was made starts on a fresh row)."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO chat_turns (message_id, profile, api_style, thread_id)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (message_id) DO UPDATE
            SET thread_id = EXCLUDED.thread_id, response_id = NULL, user_message_id = NULL,
                run_id = NULL, updated_at = now()
            """,
            message_id,
            profile,
            api_style,
            thread_id,
        )


async def record(
    db: Database,
    message_id: str,
    *,
    response_id: str | None = None,
    user_message_id: str | None = None,
    run_id: str | None = None,
) -> None:
    """Write the remote ids the turn just learnt (the ones not given are kept)."""
    async with connection(db) as conn:
        await conn.execute(
            """
            UPDATE chat_turns SET response_id = coalesce($2, response_id),
                user_message_id = coalesce($3, user_message_id),
                run_id = coalesce($4, run_id), updated_at = now()
            WHERE message_id = $1
            """,
            message_id,
            response_id,
            user_message_id,
            run_id,
        )
