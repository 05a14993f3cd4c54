"""The producer client: accept a job into the ledger, enqueue it, and await its outcome.

async with await FerryClient.connect() as ferry:
    handle = await ferry.enqueue(job)
    result = await handle.result(timeout=30)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool
from pydantic import BaseModel

from producers.chat import ChatOperations, ChatStream
from producers.clone import CloneOperations
from producers.errors import ResultTimeout, StoreUnavailable, error_for, refused
from producers.flows import FlowOperations
from producers.settings import ClientSettings
from producers.waiter import OutcomeWaiter
from schemas import wire
from schemas.chat import ChatReply
from schemas.jobs import Job
from schemas.keys import WOKEN_QUEUES, Queue, RedisKeys
from schemas.results import FieldError, JobOutcome, JobStatus
from schemas.wire import MAX_JOB_BYTES, unstorable
from store import ledger
from store.ledger import LedgerJob
from store.outages import OUTAGES
from store.pool import create_pool as create_db_pool

R = TypeVar("R")
# A wake no worker took (none is running) goes after this.
WAKE_TTL_S = 60


class JobHandle(Generic[R]):
    """A job Ferry has accepted: its id, its status, and a way to await its result."""

    def __init__(
        self,
        client: FerryClient,
        job_id: str,
        kind: str,
        result_model: type[BaseModel] | None,
        accepted: LedgerJob | None = None,
    ) -> None:
        self._client = client
        self.job_id = job_id
        self.kind = kind
        self._result_model = result_model
        # The ledger row as `enqueue` wrote or found it (None for a handle on an older job).
        self.accepted = accepted

    def __repr__(self) -> str:
        return f"JobHandle({self.job_id!r}, kind={self.kind!r})"

    async def status(self) -> JobStatus:
        row = await self._client.ledger_row(self.job_id)
        if row is None:
            raise LookupError(f"no job {self.job_id} in the ledger")
        return row.status

    async def outcome(self, timeout: float | None = None) -> JobOutcome:
        """The job's outcome, succeeded or not; raises `ResultTimeout` if it takes longer."""
        outcome = await self._client.waiter.wait(
            self.job_id, lambda: self._client.finished_outcome(self.job_id), timeout
        )
        if outcome is None:
            raise ResultTimeout(self.job_id, timeout or 0)
        return outcome

    async def result(self, timeout: float | None = None) -> R:
        """The job's typed result; raises the `JobFailed` subclass that says why it has none.

        A kind without a result model returns its result as a dict (or None).
        """
        outcome = await self.outcome(timeout)
        if outcome.status is not JobStatus.succeeded:
            raise error_for(outcome)
        if self._result_model is not None and outcome.result is not None:
            return cast(R, self._result_model.model_validate(outcome.result))
        return cast(R, outcome.result)


def _storable(job: Job) -> tuple[dict[str, Any], str]:
    """The job's envelope and id, or `JobRejected` naming what cannot be stored."""
    problems: list[FieldError] = []
    try:
        envelope, job_id = job.envelope(), job.job_id()
    except (RecursionError, ValueError) as error:
        envelope, job_id = {}, f"{job.kind}-unaccepted"
        problems.append(FieldError(loc="payload", message=f"cannot be serialised: {error}"))
    else:
        problems += unstorable(envelope)
        size = len(wire.dumps(envelope)) if not problems else 0
        if size > MAX_JOB_BYTES:
            problems.append(
                FieldError(
                    loc="payload",
                    message=f"the job is {size} bytes, over the limit of {MAX_JOB_BYTES}: pass "
                    "large data by reference (a file id, a URL)",
                )
            )
    if problems:
        raise refused(job_id, job.kind, "the job cannot be stored; nothing was enqueued", problems)
    return envelope, job_id


class FerryClient:
    """Connections to Redis and Postgres, shared by every job this producer handles."""

    def __init__(self, redis: ArqRedis, db: asyncpg.Pool, keys: RedisKeys) -> None:
        self.redis = redis
        self.db = db
        self.keys = keys
        self.waiter = OutcomeWaiter(redis, keys)
        self.flows = FlowOperations(self)
        self.chats = ChatOperations(self)
        self.clones = CloneOperations(self)

    @classmethod
    async def connect(cls, settings: ClientSettings | None = None) -> FerryClient:
        settings = settings or ClientSettings()
        redis = await create_pool(
            RedisSettings.from_dsn(settings.redis_url),
            job_serializer=wire.dumps,
            job_deserializer=wire.loads,
        )
        # The client runs ledger and registry queries only: none leaves session state behind.
        db = await create_db_pool(
            settings.database_url, schema=settings.database_schema, keep_session=True
        )
        return cls(redis, db, RedisKeys(settings.redis_key_prefix))

    async def enqueue(self, job: Job[R]) -> JobHandle[R]:
        """Record `job` in the ledger, then queue it; the same job twice is one job.

        Returns a handle either way: enqueueing a job id the ledger knows does not queue it
        again unless it is still waiting to run (which covers a crash between the two steps;
        arq refuses a job id it already holds, so it cannot run twice).
        """
        envelope, job_id = _storable(job)
        try:
            row, _ = await ledger.accept(
                self.db,
                job_id=job_id,
                kind=job.kind,
                queue=job.queue.value,
                payload=envelope,
                timeout_s=job.timeout_s,
            )
        except OUTAGES as error:
            raise StoreUnavailable("could not record the job in Postgres", error) from error
        if row.status is JobStatus.queued:
            try:
                await self.redis.enqueue_job(
                    job.kind,
                    envelope,
                    _job_id=self.keys.arq_job_id(row.id),
                    _queue_name=self.keys.queue(job.queue),
                )
            except OUTAGES as error:
                # Accepted but not queued: the sweeper queues it once Redis is back.
                raise StoreUnavailable(
                    f"job {row.id} is accepted but could not be queued in Redis (the sweeper "
                    "will queue it)",
                    error,
                ) from error
            if job.queue in WOKEN_QUEUES:
                # Best effort: an unwoken worker still finds the job at its next poll.
                with contextlib.suppress(*OUTAGES):
                    await self._wake(job.queue)
        return JobHandle(self, row.id, job.kind, job.result_model, accepted=row)

    async def _wake(self, queue: Queue) -> None:
        """Wake an idle worker of `queue` (one entry: a wake for several jobs is one wake)."""
        wake = self.keys.queue_wake(queue)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(wake, "1")
            pipe.ltrim(wake, 0, 0)
            pipe.expire(wake, WAKE_TTL_S)
            await pipe.execute()

    async def chat(self, user_id: str, assistant: str, text: str, **options: Any) -> ChatReply:
        """One chat turn, awaited: the typed reply (options: see `ChatOperations.send`)."""
        handle = await self.chats.send(user_id, assistant, text, **options)
        return await handle.result()

    def chat_stream(
        self, user_id: str, assistant: str, text: str, *, min_interval: float = 0.0, **options: Any
    ) -> ChatStream:
        """One chat turn, streamed: iterate it for text (joined per `min_interval` s)."""
        return ChatStream(
            self,
            lambda: self.chats.send(user_id, assistant, text, stream=True, **options),
            min_interval,
        )

    def handle(
        self, job_id: str, kind: str = "", result_model: type[BaseModel] | None = None
    ) -> JobHandle[Any]:
        """A handle on a job accepted earlier (perhaps by another process)."""
        return JobHandle(self, job_id, kind, result_model)

    async def ledger_row(self, job_id: str) -> LedgerJob | None:
        return await ledger.get(self.db, job_id)

    async def jobs(
        self, *, status: JobStatus | None = None, kind: str | None = None, limit: int = 50
    ) -> Sequence[LedgerJob]:
        return await ledger.list_jobs(self.db, status=status, kind=kind, limit=limit)

    async def finished_outcome(self, job_id: str) -> JobOutcome | None:
        """The outcome of `job_id` if it has finished (Redis first, then the ledger)."""
        with contextlib.suppress(*OUTAGES):  # Redis down: the ledger answers alone
            if (pushed := await self.redis.get(self.keys.outcome(job_id))) is not None:
                return JobOutcome.model_validate_json(pushed)
        row = await ledger.get(self.db, job_id)
        return row.outcome() if row else None

    async def aclose(self) -> None:
        await self.waiter.aclose()
        await self.redis.aclose()
        await self.db.close()

    async def __aenter__(self) -> FerryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
