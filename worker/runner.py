"""How every job runs: validate, record the attempt, run under a deadline, publish the outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from arq import Retry
from arq.worker import Function, func
from pydantic import BaseModel

from schemas.jobs import Job, PayloadError, parse_job
from schemas.keys import RedisKeys
from schemas.results import ErrorKind, FieldError, JobOutcome, JobStatus
from schemas.wire import REJECT_FUNCTION
from store import ledger as ledger_store
from worker.kinds import JobContext, JobFailure, JobHandler
from worker.ledger import failed, publish

log = structlog.get_logger("ferry.worker")

# arq's own deadline sits a little past Ferry's, so Ferry's fires first and is recorded.
ARQ_TIMEOUT_MARGIN_S = 5
ArqCoroutine = Callable[..., Awaitable[dict[str, Any]]]


def arq_functions(handlers: Sequence[JobHandler[Any]]) -> list[Function]:
    """One arq function per job kind (named after it), plus the rejecter."""
    kinds: dict[str, type[Job]] = {h.kind: h.model for h in handlers}
    functions = [
        func(
            _runner(handler, kinds),
            name=handler.kind,
            timeout=handler.model.timeout_s + ARQ_TIMEOUT_MARGIN_S,
            max_tries=handler.model.max_tries,
        )
        for handler in handlers
    ]
    functions.append(func(_reject, name=REJECT_FUNCTION, max_tries=1, timeout=30))
    return functions


def _job_context(ctx: dict[str, Any]) -> JobContext:
    keys: RedisKeys = ctx["keys"]
    return JobContext(
        job_id=keys.ledger_id(ctx["job_id"]),
        attempt=ctx["job_try"],
        settings=ctx["settings"],
        db=ctx["db"],
        redis=ctx["redis"],
        keys=ctx["keys"],
        openai=ctx["openai"],
        configs=ctx["configs"],
    )


def _runner(handler: JobHandler[Any], kinds: dict[str, type[Job]]) -> ArqCoroutine:
    model = handler.model

    async def run(ctx: dict[str, Any], envelope: Any = None) -> dict[str, Any]:
        job_ctx = _job_context(ctx)
        bound = log.bind(job_id=job_ctx.job_id, kind=model.kind, attempt=job_ctx.attempt)
        try:
            job = parse_job(envelope, kinds)
            if job.kind != model.kind:
                raise PayloadError(
                    "the envelope's kind does not match the function it was queued for",
                    [FieldError(loc="kind", message=f"expected {model.kind!r}, got {job.kind!r}")],
                )
        except PayloadError as error:
            return await _finish_rejected(ctx, model.kind, envelope, str(error), error.fields)

        row = await ledger_store.start_attempt(
            job_ctx.db,
            job_id=job_ctx.job_id,
            kind=model.kind,
            queue=model.queue.value,
            payload=envelope,
            timeout_s=model.timeout_s,
        )
        if (previous := row.outcome()) is not None:
            # Already finished (a duplicate enqueue slipped past, or the sweeper raced us):
            # never run a job twice; hand back what it produced.
            bound.info("job already finished; not running it again", status=previous.status)
            return previous.model_dump(mode="json")

        bound.info("job started")

        def fail(kind: ErrorKind, message: str, **extra: Any) -> JobOutcome:
            return failed(job_ctx.job_id, model.kind, kind, message, attempts=row.attempts, **extra)

        try:
            async with asyncio.timeout(model.timeout_s):
                result = await handler.run(job_ctx, job)
        except JobFailure as error:
            outcome = fail(ErrorKind.failed, str(error), detail=error.detail)
        except TimeoutError:
            outcome = fail(
                ErrorKind.timeout, f"the job ran past its timeout of {model.timeout_s} s"
            )
        except Retry:
            if job_ctx.attempt >= model.max_tries:
                outcome = fail(
                    ErrorKind.failed,
                    f"gave up after {job_ctx.attempt} attempts (the last asked to retry later)",
                )
            else:
                await ledger_store.hand_back(job_ctx.db, job_ctx.job_id)
                bound.info("job will retry")
                raise
        except asyncio.CancelledError:
            # The worker is stopping: arq puts the job back on its queue; the ledger follows.
            await asyncio.shield(ledger_store.hand_back(job_ctx.db, job_ctx.job_id))
            bound.warning("job handed back: the worker is stopping")
            raise
        except Exception as error:
            bound.exception("job crashed")
            outcome = fail(ErrorKind.internal, f"{type(error).__name__}: {error}")
        else:
            outcome = JobOutcome(
                job_id=job_ctx.job_id,
                kind=model.kind,
                status=JobStatus.succeeded,
                result=_as_dict(result),
                attempts=row.attempts,
                finished_at=datetime.now(UTC),
            )
        await publish(job_ctx.db, job_ctx.redis, job_ctx.keys, outcome)
        bound.info("job finished", status=outcome.status.value)
        return outcome.model_dump(mode="json")

    run.__qualname__ = run.__name__ = f"run_{model.kind}"
    return run


def _as_dict(result: BaseModel | dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


async def _reject(ctx: dict[str, Any], info: Any = None) -> dict[str, Any]:
    """Runs for jobs the worker cannot read at all (not JSON, unknown kind)."""
    reason = info.get("reason") if isinstance(info, dict) else None
    reason = reason or "the job could not be read"
    loc = "kind" if reason.startswith("unknown job kind") else "(job)"
    return await _finish_rejected(
        ctx, "unknown", None, reason, [FieldError(loc=loc, message=reason)]
    )


async def _finish_rejected(
    ctx: dict[str, Any], kind: str, envelope: Any, message: str, fields: list[FieldError]
) -> dict[str, Any]:
    job_ctx = _job_context(ctx)
    row = await ledger_store.get(job_ctx.db, job_ctx.job_id)
    if row is None:
        # A job put on the queue by hand: give it a ledger row so its failure is on record.
        await ledger_store.accept(
            job_ctx.db,
            job_id=job_ctx.job_id,
            kind=kind,
            queue="unknown",
            payload=envelope if isinstance(envelope, dict) else {"unreadable": True},
            timeout_s=0,
        )
    outcome = failed(
        job_ctx.job_id,
        row.kind if row else kind,
        ErrorKind.validation,
        message,
        attempts=job_ctx.attempt,
        fields=fields,
    )
    log.warning(
        "job rejected",
        job_id=job_ctx.job_id,
        reason=message,
        fields=[f.model_dump() for f in fields],
    )
    await publish(job_ctx.db, job_ctx.redis, job_ctx.keys, outcome)
    return outcome.model_dump(mode="json")
