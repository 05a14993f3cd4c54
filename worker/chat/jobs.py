"""The chat job kinds: a turn (`chat.run`) and a read of history (`chat.history`).

The implementation (`worker.chat.turns`) stands on the OpenAI call layer, which imports
`worker.kinds`; `worker.kinds` lists these handlers, so they import it only when a job runs.
"""

from __future__ import annotations

from typing import Any

from schemas.chat import ChatHistory, ChatReply, ChatRun, HistoryResult
from worker.kinds import JobContext, JobHandler


async def run_chat(ctx: JobContext, job: ChatRun) -> ChatReply:
    """One user turn, start to finish (or resumed where a dead attempt left it)."""
    from worker.chat import turns

    return await turns.run_chat(ctx, job)


async def run_history(ctx: JobContext, job: ChatHistory) -> HistoryResult:
    """The user's live thread's last messages."""
    from worker.chat import turns

    return await turns.run_history(ctx, job)


CHAT_HANDLERS: tuple[JobHandler[Any], ...] = (
    JobHandler(ChatRun, run_chat),
    JobHandler(ChatHistory, run_history),
)
