"""A job's events, as Server-Sent Events carry them: one Redis stream per job.

The stream (`RedisKeys.job_events`) holds `{"event": <JobEvent JSON>}` entries; a reader
resumes after the last entry id it saw. Workers append `progress` (and, for chat-run,
`delta`) entries as they go — `XADD … MAXLEN ~ STREAM_MAXLEN` and `EXPIRE … STREAM_TTL_S`
in one transaction, so a stream nobody reads still goes away; the `outcome` entry is
appended exactly once, after the job finished, and ends the stream.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

# Entries kept per job (approximately): a chat reply's deltas fit many times over.
STREAM_MAXLEN = 10_000
# A finished job's stream is kept this long for late readers; the ledger keeps the outcome.
STREAM_TTL_S = 86_400


class JobEventType(StrEnum):
    status = "status"  # the job's ledger status when a reader connects (no stream id)
    progress = "progress"  # a step of the job: `data` says which and how far
    delta = "delta"  # a piece of a chat reply's text (chat-run)
    outcome = "outcome"  # the JobOutcome; the last event


class JobEvent(BaseModel):
    """One event of a job's stream."""

    type: JobEventType
    data: dict[str, Any] = Field(default_factory=dict)
