"""The job kinds a worker can run: each pairs a payload model with the coroutine that runs it.

Each job kind's module (`worker/clone/…`, `worker/chat/…`, `worker/flows/…`) defines one
`JobHandler`; `PRODUCT_HANDLERS` lists them. Tests add kinds of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
from arq.connections import ArqRedis
from pydantic import BaseModel

from schemas.jobs import Job
from schemas.keys import RedisKeys

if TYPE_CHECKING:
    from worker.openai.clients import OpenAIClients
    from worker.registry import ConfigCache
    from worker.settings import Settings

J = TypeVar("J", bound=Job)


@dataclass
class JobContext:
    """What a running job may use: connections, settings and who it is."""

    job_id: str
    attempt: int
    settings: Settings
    db: asyncpg.Pool
    redis: ArqRedis
    keys: RedisKeys
    openai: OpenAIClients
    configs: ConfigCache
    extra: dict[str, Any] = field(default_factory=dict)


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


# The product's job kinds. Clone, chat-run and patch each add theirs in their own issue.
# Imported last: each kind's module imports the names above.
from worker.flows.jobs import FLOW_HANDLERS  # noqa: E402

PRODUCT_HANDLERS: tuple[JobHandler[Any], ...] = (*FLOW_HANDLERS,)
