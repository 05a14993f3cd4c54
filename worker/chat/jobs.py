"""The chat job kinds: a turn (`chat.run`) and a read of history (`chat.history`)."""

from __future__ import annotations

from typing import Any

from schemas.chat import ChatHistory, ChatRun
from worker.chat.turns import run_chat, run_history
from worker.kinds import JobHandler

CHAT_HANDLERS: tuple[JobHandler[Any], ...] = (
    JobHandler(ChatRun, run_chat),
    JobHandler(ChatHistory, run_history),
)
