"""How every job runs: validate, record the attempt, run under a deadline, publish the outcome.

An outage is never a verdict on the job: a job that cannot reach a store before it starts is
retried later (arq's `Retry`, which Ferry does not count as an attempt), and a finished job's
outcome is written until it lands. A job whose outcome exists (in Redis or the ledger) is
never run again. Attempts are counted in the ledger, so arq's own count of tries (which an
outage also bumps) decides nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
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
from worker.ledger_batch import LedgerBatch
from worker.outcomes import failed, publish, push, record

log = structlog.get_logger("ferry.worker")

# How long a started job stays leased to its worker (arq's in-progress key) past the kind's
# timeout; if the worker dies, arq runs the job again once the lease ends, so recovery takes
# at most the kind's timeout plus this.
LEASE_MARGIN_S = 10
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


def lease_s(handlers: Sequence[JobHandler[Any]]) -> float:
    """The in-progress lease arq gives a job before Ferry's runner sets the kind's own."""
    return max([REJECT_TIMEOUT_S, *(h.model.timeout_s for h in handlers)]) + LEASE_MARGIN_S


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
    """Take the job's lease and count the attempt, or find the outcome it already has."""
    redis, keys = ctx["redis"], ctx["keys"]
    lease_ms = (model.timeout_s + LEASE_MARGIN_S) * 1000
    # arq's first start of this id (in this Redis's lifetime) cannot follow an outcome: any
    # earlier run bumped arq's try count, and an outcome is checked before any re-enqueue.
    first_start = ctx["job_try"] == 1
    # The kind's own lease, when shorter than the queue's: a short job whose worker dies is
    # picked up again after its own timeout, not the longest one's.
    narrow = lease_ms < ctx["lease_ms"]
    stored = None
    if narrow or not first_start:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.outcome(job_id))
            pipe.pexpire(in_progress_key_prefix + ctx["job_id"], lease_ms)
            stored, _ = await pipe.execute()
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
            outcome = await _attempt(handler, job_ctx, job, ctx)
        # Shielded: if arq's deadline cancels us mid-write, the write still lands.
        standing = await asyncio.shield(publish(ctx["ledger"], job_ctx.redis, keys, outcome))
        job_ctx.log.info("job finished", status=standing.status.value)
        return standing.model_dump(mode="json")

    run.__qualname__ = run.__name__ = f"run_{model.kind}"
    return run


async def _hand_back(ctx: dict[str, Any], job_id: str) -> None:
    """The ledger follows a job back to its queue; if Postgres is down, the next run recounts."""
    with contextlib.suppress(*OUTAGES):
        await ledger_store.hand_back(ctx["ledger_db"], job_id)


async def _attempt(
    handler: JobHandler[Any], job_ctx: JobContext, job: Job, ctx: dict[str, Any]
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
