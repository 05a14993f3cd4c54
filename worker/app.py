"""The worker process: arq settings per queue, start-up and shutdown, the sweeper's schedule."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import structlog
from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker

from schemas import wire
from schemas.keys import Queue, RedisKeys
from store.migrate import migrate
from store.pool import create_pool
from worker.kinds import PRODUCT_HANDLERS, JobHandler
from worker.ledger import sweep
from worker.openai.clients import OpenAIClients
from worker.registry import start_config_cache, stop_config_cache
from worker.runner import arq_functions
from worker.settings import Settings

log = structlog.get_logger("ferry.worker")

# Interactive work is picked up fast; bulk work can wait for arq's usual half second.
POLL_DELAY_S = {Queue.chat: 0.02, Queue.patch: 0.1, Queue.clone: 0.5}
SWEEP_FUNCTION = "ferry.sweep"


async def on_startup(ctx: dict[str, Any]) -> None:
    """Open the Postgres pool (migrating first), the OpenAI clients and the config cache."""
    settings: Settings = ctx["settings"]
    settings.profiles  # noqa: B018 - fail at start-up, not on the first job, if a key is bad
    ctx["db"] = await create_pool(
        settings.database_url, schema=settings.database_schema, create_schema=True
    )
    applied = await migrate(ctx["db"])
    if applied:
        log.info("migrations applied", versions=[m.version for m in applied])
    ctx["openai"] = OpenAIClients(settings, ctx["redis"], ctx["keys"])
    await start_config_cache(ctx, ttl_s=settings.registry_cache_ttl_s)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    await stop_config_cache(ctx)
    if "openai" in ctx:
        await ctx["openai"].aclose()
    if "db" in ctx:
        await ctx["db"].close()


async def run_sweep(ctx: dict[str, Any]) -> dict[str, int]:
    """arq cron job: one sweep across every queue, by one worker at a time."""
    settings: Settings = ctx["settings"]
    keys: RedisKeys = ctx["keys"]
    interval = settings.sweeper_interval_s
    # One sweep per interval across every worker; an overlap would be harmless (every repair
    # is guarded), only wasteful.
    if not await ctx["redis"].set(keys.sweeper_lock(), b"1", nx=True, ex=interval):
        return {}
    counts = await sweep(
        ctx["db"],
        ctx["redis"],
        keys,
        queued_grace_s=interval,
        running_grace_s=settings.sweeper_grace_s,
    )
    if any(counts.values()):
        log.info("sweep", **counts)
    return counts


def worker_settings(
    queue: Queue,
    settings: Settings,
    handlers: Sequence[JobHandler[Any]] = PRODUCT_HANDLERS,
    *,
    burst: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` serving one queue."""
    keys = RedisKeys(settings.redis_key_prefix)
    queue_handlers = [h for h in handlers if h.model.queue == queue]
    functions = arq_functions(queue_handlers)
    step = min(settings.sweeper_interval_s, 60)
    cron_jobs = [
        cron(
            run_sweep,
            name=SWEEP_FUNCTION,
            second=set(range(0, 60, step)),
            run_at_startup=True,
            timeout=120,
            max_tries=1,
        )
    ]
    names = {f.name for f in functions} | {SWEEP_FUNCTION}
    return {
        "functions": functions,
        "cron_jobs": cron_jobs,
        "queue_name": keys.queue(queue),
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "job_serializer": wire.dumps,
        "job_deserializer": wire.job_loads(names),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "ctx": {"settings": settings, "keys": keys},
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": POLL_DELAY_S[queue],
        "health_check_interval": 30,
        "health_check_key": keys.health_check(queue),
        "job_completion_wait": settings.worker_shutdown_grace_s,
        "handle_signals": False,
        "burst": burst,
        # Ferry's outcomes live in the ledger; arq's copy serves arq's own tools for a day.
        "keep_result": 86_400,
    }


async def close_worker(worker: Worker) -> None:
    """Close a stopped worker: its shutdown hook runs even when jobs were handed back.

    arq's `close` gathers the worker's job tasks, and one cancelled on shutdown would raise
    there and skip `on_shutdown`; they are settled here first.
    """
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    worker.tasks.clear()
    await worker.close()


async def _serve(worker: Worker) -> None:
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        # arq stops a worker by cancelling its main task; anything else is ours to propagate.
        if worker.main_task is None or not worker.main_task.cancelled():
            raise


async def run_workers(
    queues: Sequence[Queue],
    settings: Settings,
    handlers: Sequence[JobHandler[Any]] = PRODUCT_HANDLERS,
    *,
    burst: bool = False,
) -> None:
    """Serve `queues` in this process until SIGTERM/SIGINT (or, with `burst`, until idle).

    On a signal every worker stops taking jobs, lets running ones finish for
    `worker_shutdown_grace_s`, and hands back (re-queues) whatever is still running.
    """
    workers = [Worker(**worker_settings(q, settings, handlers, burst=burst)) for q in queues]
    loop = asyncio.get_running_loop()

    def stop(signum: signal.Signals) -> None:
        log.info("stopping", signal=signum.name, queues=[q.value for q in queues])
        for worker in workers:
            worker.handle_sig_wait_for_completion(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    log.info("worker started", queues=[q.value for q in queues])
    try:
        await asyncio.gather(*(_serve(worker) for worker in workers))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for worker in workers:
            await close_worker(worker)
        log.info("worker stopped")
