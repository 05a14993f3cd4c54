"""What a finished job leaves behind: the outcome envelope and typed errors."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class ErrorKind(StrEnum):
    """Why a job failed; each maps to one exception type on the producer side."""

    validation = "validation"  # the payload was refused before anything ran
    failed = "failed"  # the job ran and failed for a reason it could name (final)
    timeout = "timeout"  # the job ran past its timeout
    lost = "lost"  # the job was running when its worker vanished, past timeout + grace
    cancelled = "cancelled"
    internal = "internal"  # a bug: an exception the job did not expect


class FieldError(BaseModel):
    """One invalid field: where (`payload.messages[0].role`) and what is wrong with it."""

    loc: str
    message: str


class JobError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ErrorKind
    message: str
    fields: list[FieldError] = Field(default_factory=list)
    # Machine-readable detail for the job kind's callers (an OpenAI error code, …).
    detail: dict[str, Any] = Field(default_factory=dict)


class JobOutcome(BaseModel):
    """Written to the ledger, stored as arq's result and pushed to waiters."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    kind: str
    status: JobStatus
    result: dict[str, Any] | None = None
    error: JobError | None = None
    attempts: int = 0
    finished_at: datetime
