"""The knowledge job kind: sync one assistant's vector store with its apply file's files."""

from __future__ import annotations

from typing import Any

from schemas.knowledge import KnowledgeSyncJob
from worker.kinds import JobHandler
from worker.knowledge.sync import run_sync

KNOWLEDGE_HANDLERS: tuple[JobHandler[Any], ...] = (JobHandler(KnowledgeSyncJob, run_sync),)
