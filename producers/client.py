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
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from pydantic import BaseModel

from producers.chat import ChatOperations, ChatStream
from producers.clone import CloneOperations
from producers.errors import ResultTimeout, StoreUnavailable, error_for, refused
from producers.flows import FlowOperations
from producers.settings import ClientSettings
from producers.waiter import OutcomeWaiter
from schemas import wire
from schemas.chat import ChatReply, arrival_score
from schemas.jobs import Job
from schemas.keys import WOKEN_QUEUES, RedisKeys
from schemas.results import FieldError, JobOutcome, JobStatus
from schemas.wire import MAX_JOB_BYTES, unstorable
from store import ledger
from store.ledger import LedgerJob
from store.outages import OUTAGES
from store.pool import create_pool as create_db_pool

R = TypeVar("R")
# A wake no worker took (none is running) goes after this.
WAKE_TTL_S = 60
# A line no turn has joined for this long is garbage (as `worker.chat.lock.IDLE_TTL_S`).
LINE_TTL_S = 3600

# What arq's `enqueue_job` does (refuse an id arq holds a job or a result for; store the job;
# queue it) with the wake of an idle worker and the job's place in its line: one round trip
# instead of arq's three (WATCH, EXISTS, MULTI/EXEC) and one per extra step, and atomic, as
# arq's WATCH made it. KEYS: job, result, queue, wake list, line. ARGV: arq id, the
# serialised job, enqueue time (ms), its expiry (ms), wake?, the wake's TTL, the line's score
# (empty: no line), the line's TTL, the ledger id (the line's member). The line is joined
# even when arq holds the job already (a gateway's resend), as the worker would join it.
_ENQUEUE = """
if ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[5], 'NX', ARGV[7], ARGV[9])
  redis.call('EXPIRE', KEYS[5], ARGV[8])
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[4], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if ARGV[5] == '1' then
  redis.call('LPUSH', KEYS[4], '1')
  redis.call('LTRIM', KEYS[4], 0, 0)
  redis.call('EXPIRE', KEYS[4], ARGV[6])
end
return 1
"""


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

    async def enqueue(self, job: Job[R], *, line: str | None = None) -> JobHandle[R]:
        """Record `job` in the ledger, then queue it; the same job twice is one job.

        Returns a handle either way: enqueueing a job id the ledger knows does not queue it
        again unless it is still waiting to run (which covers a crash between the two steps;
        arq refuses a job id it already holds, so it cannot run twice). `line`: a sorted set
        the job joins as it is queued, scored by its ledger accept time (a chat thread's line).
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
                await self._queue(job, envelope, row, line)
            except OUTAGES as error:
                # Accepted but not queued: the sweeper queues it once Redis is back.
                raise StoreUnavailable(
                    f"job {row.id} is accepted but could not be queued in Redis (the sweeper "
                    "will queue it)",
                    error,
                ) from error
        return JobHandle(self, row.id, job.kind, job.result_model, accepted=row)

    async def _queue(
        self, job: Job[Any], envelope: dict[str, Any], row: LedgerJob, line: str | None
    ) -> None:
        """arq's enqueue, the wake and the place in `line`, in one script (one round trip)."""
        arq_id = self.keys.arq_job_id(row.id)
        enqueued_ms = timestamp_ms()
        data = serialize_job(
            job.kind, (envelope,), {}, None, enqueued_ms, serializer=self.redis.job_serializer
        )
        await self.redis.eval(  # type: ignore[misc]
            _ENQUEUE,
            5,
            job_key_prefix + arq_id,
            result_key_prefix + arq_id,
            self.keys.queue(job.queue),
            self.keys.queue_wake(job.queue),
            line or "",
            arq_id,
            data,
            enqueued_ms,
            self.redis.expires_extra_ms,
            "1" if job.queue in WOKEN_QUEUES else "0",
            WAKE_TTL_S,
            arrival_score(int(row.created_at.timestamp() * 1e6)) if line else "",
            LINE_TTL_S,
            row.id,
        )

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
