"""How every job runs: validate, record the attempt, run under a deadline, publish the outcome.

An outage is never a verdict on the job: a job that cannot reach a store before it starts is
retried later (arq's `Retry`, which Ferry does not count as an attempt), and a finished job's
outcome is written until it lands. A job whose outcome exists (in Redis or the ledger) is
never run again. Attempts are counted in the ledger, so arq's own count of tries (which an
outage also bumps) decides nothing.

A started job is leased to its worker by arq's in-progress key, which the worker keeps alive
(a heartbeat, `job_lease_s`) for as long as the job runs: a worker that dies stops renewing,
and once the key expires arq's next poll (on any worker) starts the job again, within about
one lease whatever the kind's timeout. Each run marks the key with a token of its own, so a
run that finds another's token there knows the job was started again meanwhile (its worker
lost the lease: Redis unreachable or the process stalled for a whole lease): it stops at once,
leaving the job, its keys and its ledger row to the newer run, and publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from arq import Retry
from arq.constants import in_progress_key_prefix
from arq.worker import Function, func
from pydantic import BaseModel

from schemas.jobs import Job, PayloadError, parse_job
from schemas.keys import RedisKeys
from schemas.results import ErrorKind, FieldError, JobOutcome, JobStatus
from schemas.wire import REJECT_FUNCTION, unstorable
from store import ledger as ledger_store
from store.ledger import LedgerJob
from store.outages import OUTAGES
from worker.kinds import JobContext, JobFailure, JobHandler
from worker.lease import renewing
from worker.ledger_batch import LedgerBatch
from worker.outcomes import failed, publish, push, record

log = structlog.get_logger("ferry.worker")

# KEYS: the job's in-progress key. ARGV: this run's token, the lease (ms), 1 on the first
# beat. Renews this run's lease; takes a lease that expired unclaimed back, and on the first
# beat takes over arq's unmarked '1' (set by this worker's arq just before the run). 0 when
# the key holds another run's mark: the job was started again elsewhere.
_HEARTBEAT = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] and not (ARGV[3] == '1' and held == '1') then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# arq's deadline on the whole coroutine: Ferry's own timeout fires first; the rest is time to
# record the outcome through an outage.
ARQ_TIMEOUT_MARGIN_S = 5 + 60
# Ferry counts attempts in the ledger; arq's count also grows with every outage retry.
ARQ_MAX_TRIES = 1_000_000
REJECT_TIMEOUT_S = 30
ArqCoroutine = Callable[..., Awaitable[dict[str, Any]]]


def arq_functions(handlers: Sequence[JobHandler[Any]]) -> list[Function]:
    """One arq function per job kind (named after it), plus the rejecter."""
    kinds: dict[str, type[Job]] = {h.kind: h.model for h in handlers}
    functions = [
        func(
            _runner(handler, kinds),
            name=handler.kind,
            timeout=handler.model.timeout_s + ARQ_TIMEOUT_MARGIN_S,
            max_tries=ARQ_MAX_TRIES,
        )
        for handler in handlers
    ]
    functions.append(
        func(_reject, name=REJECT_FUNCTION, max_tries=ARQ_MAX_TRIES, timeout=REJECT_TIMEOUT_S)
    )
    return functions


class JobLease:
    """A running job's heartbeat on arq's in-progress key (see the module's docstring)."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self._redis = ctx["redis"]
        self._key = in_progress_key_prefix + ctx["job_id"]
        self._lease_s: float = ctx["settings"].job_lease_s
        self._token = f"run:{uuid.uuid4().hex}"
        self._first = True
        self.lost = False
        # Set once the run has its outcome: from then on it finishes whatever happens.
        self.final = False

    async def _beat(self) -> bool:
        first, self._first = self._first, False
        held = await self._redis.eval(
            _HEARTBEAT, 1, self._key, self._token, int(self._lease_s * 1000), "1" if first else "0"
        )
        return bool(held)

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Renew the lease for the block; if another run takes the job, cancel the block."""
        task = asyncio.current_task()
        assert task is not None

        def stop() -> None:
            if not self.final:
                self.lost = True
                task.cancel()

        async with renewing(
            self._beat, lease_s=self._lease_s, what=f"job {self._key}", on_lost=stop, at_once=True
        ):
            yield


def _retry_later(ctx: dict[str, Any], job_id: str, error: BaseException) -> Retry:
    """An outage kept the job from starting: run it later, with backoff; no attempt is used."""
    defer = min(0.25 * 2 ** min(ctx["job_try"], 6), 10.0)
    log.warning(
        "a store is unreachable; the job will run later",
        job_id=job_id,
        error=f"{type(error).__name__}: {error}",
        defer_s=defer,
    )
    return Retry(defer=defer)


async def _begin(
    ctx: dict[str, Any], model: type[Job], job_id: str, envelope: Any
) -> LedgerJob | JobOutcome:
    """Count the attempt, or find the outcome the job already has."""
    redis, keys = ctx["redis"], ctx["keys"]
    stored = await redis.get(keys.outcome(job_id))
    if stored is not None:
        return await record(ctx["ledger"], redis, keys, JobOutcome.model_validate_json(stored))
    row = await ctx["ledger"].start_attempt(
        job_id=job_id,
        kind=model.kind,
        queue=model.queue.value,
        payload=envelope,
        timeout_s=model.timeout_s,
    )
    if (previous := row.outcome()) is not None:
        # Finished, and Redis forgot: waiters that subscribed since hear it again.
        return await push(redis, keys, previous)
    return row


def _runner(handler: JobHandler[Any], kinds: dict[str, type[Job]]) -> ArqCoroutine:
    model = handler.model

    async def run(ctx: dict[str, Any], envelope: Any = None) -> dict[str, Any]:
        keys: RedisKeys = ctx["keys"]
        job_id = keys.ledger_id(ctx["job_id"])
        try:
            job = parse_job(envelope, kinds)
            if job.kind != model.kind:
                raise PayloadError(
                    "the envelope's kind does not match the function it was queued for",
                    [FieldError(loc="kind", message=f"expected {model.kind!r}, got {job.kind!r}")],
                )
        except PayloadError as error:
            return await _finish_rejected(ctx, model.kind, envelope, str(error), error.fields)

        lease = JobLease(ctx)
        try:
            async with lease.kept():
                return await _run_leased(handler, ctx, job, job_id, envelope, lease)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not lease.lost or task is None or task.uncancel() > 0:
                raise
        # The newer run owns the job now: arq leaves its keys alone (FerryWorker.finish_job).
        ctx["superseded"].add(ctx["job_id"])
        log.warning("job stopped: its lease lapsed and another run has it", job_id=job_id)
        return {"superseded": job_id}

    run.__qualname__ = run.__name__ = f"run_{model.kind}"
    return run


async def _run_leased(
    handler: JobHandler[Any],
    ctx: dict[str, Any],
    job: Job,
    job_id: str,
    envelope: Any,
    lease: JobLease,
) -> dict[str, Any]:
    """Count the attempt, run it, publish its outcome: all under the job's lease."""
    model, keys = handler.model, ctx["keys"]
    try:
        begun = await _begin(ctx, model, job_id, envelope)
    except OUTAGES as error:
        raise _retry_later(ctx, job_id, error) from None
    if isinstance(begun, JobOutcome):
        log.info("job already finished; not running it again", job_id=job_id)
        return begun.model_dump(mode="json")

    job_ctx = JobContext(
        job_id=job_id,
        kind=model.kind,
        attempt=begun.attempts,
        settings=ctx["settings"],
        db=ctx["db"],
        redis=ctx["redis"],
        keys=keys,
        openai=ctx["openai"],
        configs=ctx["configs"],
        blobs=ctx["blobs"],
        accepted_at=begun.created_at,
    )
    if begun.attempts > model.max_tries:
        outcome = failed(
            job_id,
            model.kind,
            ErrorKind.lost,
            f"gave up after {model.max_tries} attempts, each ended without an outcome: "
            "its worker died or was stopped, or Redis lost it",
            attempts=begun.attempts,
        )
    else:
        outcome = await _attempt(handler, job_ctx, job, ctx, lease)
    # An outcome is final: the first one stored stands, so a newer run is no reason to stop.
    lease.final = True
    # Shielded: if arq's deadline cancels us mid-write, the write still lands.
    standing = await asyncio.shield(publish(ctx["ledger"], job_ctx.redis, keys, outcome))
    job_ctx.log.info("job finished", status=standing.status.value)
    return standing.model_dump(mode="json")


async def _hand_back(ctx: dict[str, Any], job_id: str) -> None:
    """The ledger follows a job back to its queue; if Postgres is down, the next run recounts."""
    with contextlib.suppress(*OUTAGES):
        await ledger_store.hand_back(ctx["ledger_db"], job_id)


async def _attempt(
    handler: JobHandler[Any], job_ctx: JobContext, job: Job, ctx: dict[str, Any], lease: JobLease
) -> JobOutcome:
    """Run the job once under its timeout; its outcome, or raise `Retry` / `CancelledError`."""
    model, bound = handler.model, job_ctx.log

    def fail(kind: ErrorKind, message: str, **extra: Any) -> JobOutcome:
        return failed(job_ctx.job_id, model.kind, kind, message, attempts=job_ctx.attempt, **extra)

    bound.info("job started")
    deadline = asyncio.timeout(model.timeout_s)
    try:
        async with deadline:
            result = await handler.run(job_ctx, job)
    except JobFailure as error:
        return fail(ErrorKind.failed, str(error), detail=error.detail)
    except TimeoutError as error:
        if deadline.expired():
            return fail(ErrorKind.timeout, f"the job ran past its timeout of {model.timeout_s} s")
        # The job's own call timed out (a request, a poll): its failure, not its deadline.
        bound.exception("job crashed: a timeout inside the job")
        return fail(ErrorKind.internal, f"TimeoutError inside the job: {error or 'timed out'}")
    except Retry as retry:
        if job_ctx.attempt >= model.max_tries:
            # A deferral says why (the call layer's `Deferred`: which profile, what wait).
            why = "" if type(retry) is Retry else f": {retry}"
            return fail(
                ErrorKind.failed,
                f"gave up after {job_ctx.attempt} attempts (the last asked to retry later{why})",
            )
        await _hand_back(ctx, job_ctx.job_id)
        bound.info("job will retry")
        raise
    except asyncio.CancelledError:
        if lease.lost:
            raise  # another run has the job, and its ledger row
        # The worker is stopping: arq puts the job back on its queue; the ledger follows.
        await asyncio.shield(_hand_back(ctx, job_ctx.job_id))
        bound.warning("job handed back: the worker is stopping")
        raise
    except OUTAGES as error:
        # A store went away under the job: not the job's fault; it runs again later.
        await _hand_back(ctx, job_ctx.job_id)
        raise _retry_later(ctx, job_ctx.job_id, error) from None
    except Exception as error:
        bound.exception("job crashed")
        return fail(ErrorKind.internal, f"{type(error).__name__}: {error}")
    return JobOutcome(
        job_id=job_ctx.job_id,
        kind=model.kind,
        status=JobStatus.succeeded,
        result=_as_dict(result),
        attempts=job_ctx.attempt,
        finished_at=datetime.now(UTC),
    )


def _as_dict(result: BaseModel | dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


async def _reject(ctx: dict[str, Any], info: Any = None) -> dict[str, Any]:
    """Runs for jobs the worker cannot read at all (not JSON, unknown kind, unstorable)."""
    reason = info.get("reason") if isinstance(info, dict) else None
    reason = reason or "the job could not be read"
    fields = [FieldError.model_validate(f) for f in (info or {}).get("fields") or []]
    if not fields:
        loc = "kind" if reason.startswith("unknown job kind") else "(job)"
        fields = [FieldError(loc=loc, message=reason)]
    return await _finish_rejected(ctx, "unknown", None, reason, fields)


async def _finish_rejected(
    ctx: dict[str, Any], kind: str, envelope: Any, message: str, fields: list[FieldError]
) -> dict[str, Any]:
    writes: LedgerBatch = ctx["ledger"]
    db, redis, keys = writes.pool, ctx["redis"], ctx["keys"]
    job_id = keys.ledger_id(ctx["job_id"])
    readable = isinstance(envelope, dict) and not unstorable(envelope)
    try:
        row = await ledger_store.get(db, job_id)
        if row is None:
            # A job put on the queue by hand: give it a ledger row so its failure is on record.
            await ledger_store.accept(
                db,
                job_id=job_id,
                kind=kind,
                queue="unknown",
                payload=envelope if readable else {"unreadable": True},
                timeout_s=0,
            )
    except OUTAGES as error:
        raise _retry_later(ctx, job_id, error) from None
    outcome = failed(
        job_id,
        row.kind if row else kind,
        ErrorKind.validation,
        message,
        attempts=row.attempts if row else 0,
        fields=fields,
    )
    log.warning(
        "job rejected",
        job_id=job_id,
        reason=message,
        fields=[f.model_dump() for f in fields],
    )
    standing = await asyncio.shield(publish(writes, redis, keys, outcome))
    return standing.model_dump(mode="json")
