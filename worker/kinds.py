"""The job kinds a worker can run: each pairs a payload model with the coroutine that runs it.

Each job kind's module (`worker/clone/…`, `worker/chat/…`, `worker/flows/…`) defines one
`JobHandler`; `worker/handlers.py` lists them. Tests add kinds of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
import structlog
from arq.connections import ArqRedis
from pydantic import BaseModel

from schemas.job_events import STREAM_MAXLEN, STREAM_TTL_S, JobEvent, JobEventType
from schemas.jobs import Job
from schemas.keys import RedisKeys

if TYPE_CHECKING:
    from worker.backends.port import AssistantBackend
    from worker.blobs import BlobStore
    from worker.openai.clients import OpenAIClients
    from worker.registry import ConfigCache
    from worker.settings import Settings

J = TypeVar("J", bound=Job)


@dataclass
class JobContext:
    """What a running job may use: connections, settings, a logger and who it is.

    The connections are the worker process's own, shared by every job and queue it serves.
    """

    job_id: str
    kind: str
    # The ledger's count: 1 on the first run, counting re-runs after a worker died.
    attempt: int
    settings: Settings
    db: asyncpg.Pool
    redis: ArqRedis
    keys: RedisKeys
    openai: OpenAIClients
    configs: ConfigCache
    # The process's blob store (`BLOB_STORE_URL`): original bytes of every file Ferry uploads.
    blobs: BlobStore
    # When the ledger accepted the job (None outside the runner): a turn's place in its line.
    accepted_at: datetime | None = None

    @cached_property
    def log(self) -> structlog.stdlib.BoundLogger:
        """A logger bound to this job's id, kind and attempt."""
        return structlog.get_logger("ferry.job").bind(
            job_id=self.job_id, kind=self.kind, attempt=self.attempt
        )

    async def progress(self, **data: Any) -> None:
        """Append a `progress` event to the job's event stream (the CLI and the API's SSE
        read it); a stream nobody reads still expires."""
        event = JobEvent(type=JobEventType.progress, data=data)
        stream = self.keys.job_events(self.job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, {"event": event.model_dump_json()}, maxlen=STREAM_MAXLEN)
            pipe.expire(stream, STREAM_TTL_S)
            await pipe.execute()

    def backend(self, profile: str) -> AssistantBackend:
        """The backend port over `profile`'s assistants (its API style decides which).

        Every request it makes goes through the OpenAI call layer: paced on the profile's
        shared budget, retried by error kind, failures named.
        """
        # Imported here: the backends import kinds' neighbours, and kinds must import nothing
        # that imports it back.
        from worker.backends.factory import backend_for

        return backend_for(
            self.settings.profile(profile),
            self.openai.get(profile),
            db=self.db,
            redis=self.redis,
            keys=self.keys,
            blobs=self.blobs,
            via=lambda request: self.openai.call(profile, request),
        )


class JobFailure(Exception):
    """A final, named failure: the job ran and cannot succeed; retrying would not help."""

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail or {}


@dataclass(frozen=True)
class JobHandler(Generic[J]):
    model: type[J]
    run: Callable[[JobContext, J], Awaitable[BaseModel | dict[str, Any] | None]]

    @property
    def kind(self) -> str:
        return self.model.kind
