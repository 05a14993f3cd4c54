"""One turn at a time per user thread, in arrival order; different threads in parallel."""

from __future__ import annotations

import asyncio
import hashlib

from sandbox import model as sandbox_model
from tests.worker.chat.conftest import ChatWorld


def tag(instructions: str) -> str:
    return hashlib.sha256(instructions.encode()).hexdigest()[:8]


async def test_fifty_turns_sent_at_once_for_one_user_all_complete_in_order(
    chat_world: ChatWorld,
) -> None:
    handles = [
        await chat_world.ferry.chats.send("u1", "support", f"turn {i}", profile="dst")
        for i in range(50)
    ]
    replies = await asyncio.gather(*(h.result(timeout=120) for h in handles))
    assert [r.text for r in replies] == [
        f"[{tag('You help.')}] You said: turn {i}" for i in range(50)
    ]
    finished = [r.timings.finished_at for r in replies]
    assert finished == sorted(finished)
    [conversation] = {r.thread_id for r in replies}
    items = await chat_world.sandbox.client().conversations.items.list(
        conversation, limit=100, order="asc"
    )
    said = [(i.role, i.content[0].text) for i in items.data]
    expected = []
    for i in range(50):
        expected += [
            ("user", f"turn {i}"),
            ("assistant", f"[{tag('You help.')}] You said: turn {i}"),
        ]
    assert said == expected


async def test_turns_of_different_users_do_not_wait_for_each_other(chat_world: ChatWorld) -> None:
    sandbox_model.set_timing(chat_world.sandbox.project, response_latency_seconds=1.0)
    first, second = await asyncio.gather(
        chat_world.ferry.chat("u1", "support", "a", profile="dst"),
        chat_world.ferry.chat("u2", "support", "b", profile="dst"),
    )
    # Serialised, one of them would have waited the other's whole second for the lock.
    assert first.timings.lock_wait_ms < 500 and second.timings.lock_wait_ms < 500
    assert first.thread_id != second.thread_id
