"""The product's job kinds: what `ferry worker` serves.

Apart from `worker/kinds.py` on purpose: each kind's package imports `JobContext` and
`JobHandler` from there (and the OpenAI call layer, which imports `JobFailure`), so the list
of kinds lives where nothing a kind imports can reach it, and no import cycle is possible.
"""

from __future__ import annotations

from typing import Any

from worker.chat.jobs import CHAT_HANDLERS
from worker.clone.jobs import CLONE_HANDLERS
from worker.flows.jobs import FLOW_HANDLERS
from worker.kinds import JobHandler
from worker.knowledge.jobs import KNOWLEDGE_HANDLERS

PRODUCT_HANDLERS: tuple[JobHandler[Any], ...] = (
    *FLOW_HANDLERS,
    *CHAT_HANDLERS,
    *CLONE_HANDLERS,
    *KNOWLEDGE_HANDLERS,
)
