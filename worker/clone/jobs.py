"""The clone job kinds: plan (stored, nothing written remotely) and apply (one per assistant)."""

from __future__ import annotations

from typing import Any

from schemas.clone import CloneAssistantJob, ClonePlanJob
from worker.clone.apply import run_assistant
from worker.clone.plan import run_plan
from worker.kinds import JobHandler

CLONE_HANDLERS: tuple[JobHandler[Any], ...] = (
    JobHandler(ClonePlanJob, run_plan),
    JobHandler(CloneAssistantJob, run_assistant),
)
