"""A worker process for the chaos tests and bench/chaos.py: Ferry's, or bare arq's.

python -m tests.chaos.serve --redis URL --db URL --schema S --prefix P [--bare]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, ClassVar

from arq.worker import Worker, func
from pydantic import BaseModel

from schemas import wire
from schemas.jobs import Job
from schemas.keys import Queue, RedisKeys
from worker import event_loop
from worker.app import POLL_DELAY_S, run_workers
from worker.kinds import JobContext, JobHandler
from worker.logs import configure_logging
from worker.settings import Settings


class ChaosResult(BaseModel):
    n: int
    attempt: int


class ChaosJob(Job[ChaosResult]):
    """Sleeps a little, so a fault finds jobs running; idempotent, as every job must be."""

    kind: ClassVar[str] = "chaos.work"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 5
    max_tries: ClassVar[int] = 10
    result_model: ClassVar[type[BaseModel]] = ChaosResult

    n: int
    run: str
    seconds: float = 0.0


class NoopJob(Job[None]):
    kind: ClassVar[str] = "chaos.noop"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 30

    n: int
    run: str


async def run_chaos(ctx: JobContext, job: ChaosJob) -> ChaosResult:
    await asyncio.sleep(job.seconds)
    return ChaosResult(n=job.n, attempt=ctx.attempt)


async def run_noop(ctx: JobContext | dict[str, Any], job: Any = None) -> None:
    return None


HANDLERS: list[JobHandler[Any]] = [JobHandler(ChaosJob, run_chaos), JobHandler(NoopJob, run_noop)]
MAX_JOBS = 10
# Short, so a chaos run sees the sweeper act within seconds (production: 30 s and 5 s).
SWEEPER_INTERVAL_S = 2
SWEEPER_GRACE_S = 2
# Short too, so a killed worker's jobs come back in seconds (production: 30 s).
JOB_LEASE_S = 3.0


def settings(
    redis_url: str, database_url: str, schema: str, prefix: str, sweep_every_s: int
) -> Settings:
    return Settings(
        _env_file=None,
        redis_url=redis_url,
        database_url=database_url,
        database_schema=schema,
        redis_key_prefix=prefix,
        log_level="warning",
        worker_max_jobs=MAX_JOBS,
        worker_shutdown_grace_s=1,
        sweeper_interval_s=sweep_every_s,
        sweeper_grace_s=SWEEPER_GRACE_S,
        job_lease_s=JOB_LEASE_S,
    )


async def serve_bare_arq(redis_url: str, prefix: str) -> None:
    """The baseline: arq alone, the same no-op function, the same queue settings and JSON."""
    from arq.connections import RedisSettings

    worker = Worker(
        functions=[func(run_noop, name=NoopJob.kind)],
        queue_name=RedisKeys(prefix).queue(Queue.chat),
        redis_settings=RedisSettings.from_dsn(redis_url),
        job_serializer=wire.dumps,
        job_deserializer=wire.loads,
        max_jobs=MAX_JOBS,
        poll_delay=POLL_DELAY_S[Queue.chat],
        handle_signals=True,
    )
    await worker.async_run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--sweep-every", type=int, default=SWEEPER_INTERVAL_S)
    args = parser.parse_args()
    configure_logging("warning", "json")
    if args.bare:
        asyncio.run(serve_bare_arq(args.redis, args.prefix))
    else:
        ferry = settings(args.redis, args.db, args.schema, args.prefix, args.sweep_every)
        event_loop.run(run_workers([Queue.chat], ferry, HANDLERS), ferry.worker_event_loop)


if __name__ == "__main__":
    main()
