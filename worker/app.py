"""The worker process: one set of resources for every queue it serves, workers that outlive
Redis and Postgres blips, and the sweeper.

A process opens one Redis pool, one Postgres pool (migrating once), one `OpenAIClients`, one
blob store and one registry listener, and shares them with an arq worker per queue. A
connection error never ends the process: the worker whose poll loop it broke waits (with
backoff) and starts polling again; jobs running meanwhile carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from typing import Any

import structlog
from arq.connections import RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

from schemas import wire
from schemas.keys import WOKEN_QUEUES, Queue, RedisKeys
from store.migrate import migrate
from store.outages import OUTAGES, until_it_lands
from store.pool import create_pool as create_db_pool
from worker.blobs import blob_store_from_url
from worker.handlers import PRODUCT_HANDLERS
from worker.kinds import JobHandler
from worker.ledger_batch import LedgerBatch
from worker.openai.clients import OpenAIClients
from worker.registry import start_config_cache, stop_config_cache
from worker.runner import arq_functions
from worker.settings import Settings
from worker.sweeper import Sweeper

log = structlog.get_logger("ferry.worker")

# Interactive work is picked up fast; bulk work can wait for arq's usual half second.
# On a woken queue (`chat`) this is only the longest an idle worker waits: the client's push
# to the queue's wake list ends the wait at once; the poll finds what was queued otherwise
# (the sweeper, a deferred retry).
POLL_DELAY_S = {Queue.chat: 0.05, Queue.patch: 0.1, Queue.clone: 0.5}
# Longest wait between two attempts to poll again after an outage.
RECONNECT_CAP_S = 5.0

# arq's claim of a job, atomic: not leased to any worker, still queued and due; then leased.
# KEYS: the in-progress key, the queue. ARGV: job id, now (ms), lease (ms). The job's score
# (its due time, as arq passes it on), or 0 if it is not this worker's to start.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) == 0 or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""


async def on_startup(ctx: dict[str, Any]) -> None:
    """Open what every queue of the process shares: Postgres (migrated), OpenAI, the cache.

    Waits for Postgres if it is not up yet (a compose start, an outage) instead of dying.
    """
    settings: Settings = ctx["settings"]
    settings.profiles  # noqa: B018 - fail at start-up, not on the first job, if a key is bad
    # No reset query on release (a round trip after every use, on the path of each turn):
    # nothing the worker runs on its pools leaves session state behind; the clone's copy lock
    # is a session advisory lock on a connection of its own (tests/store/test_pool.py).
    ctx["db"] = await until_it_lands(
        "postgres at start-up",
        lambda: create_db_pool(
            settings.database_url,
            schema=settings.database_schema,
            create_schema=True,
            keep_session=True,
        ),
        cap_s=RECONNECT_CAP_S,
    )
    # The worker's own ledger writes (attempt started, outcome, hand-back) do not wait for
    # the disk: each follows an outcome already stored in Redis, or is recounted by the next
    # run, so the sweeper rebuilds any a Postgres crash loses. Producers' writes stay durable.
    ctx["ledger_db"] = await until_it_lands(
        "postgres at start-up",
        lambda: create_db_pool(
            settings.database_url,
            schema=settings.database_schema,
            relaxed_commit=True,
            keep_session=True,
        ),
        cap_s=RECONNECT_CAP_S,
    )
    ctx["ledger"] = LedgerBatch(ctx["ledger_db"])
    applied = await until_it_lands("migrations", lambda: migrate(ctx["db"]), cap_s=RECONNECT_CAP_S)
    if applied:
        log.info("migrations applied", versions=[m.version for m in applied])
    ctx["openai"] = OpenAIClients(settings, ctx["redis"], ctx["keys"])
    ctx["blobs"] = await blob_store_from_url(
        settings.blob_store_url, db=ctx["db"], chunk_bytes=settings.blob_chunk_bytes
    )
    await start_config_cache(ctx, ttl_s=settings.registry_cache_ttl_s)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    await stop_config_cache(ctx)
    if "blobs" in ctx:
        await ctx["blobs"].aclose()
    if "openai" in ctx:
        await ctx["openai"].aclose()
    for pool in ("ledger_db", "db"):
        if pool in ctx:
            await ctx[pool].close()
    if "redis" in ctx:
        await ctx["redis"].aclose()


def worker_settings(
    queue: Queue,
    settings: Settings,
    handlers: Sequence[JobHandler[Any]] = PRODUCT_HANDLERS,
    *,
    burst: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for `FerryWorker` serving one queue (the shared pool and ctx aside)."""
    keys = RedisKeys(settings.redis_key_prefix)
    queue_handlers = [h for h in handlers if h.model.queue == queue]
    functions = arq_functions(queue_handlers)
    return {
        "functions": functions,
        "queue_name": keys.queue(queue),
        "job_serializer": wire.dumps,
        "job_deserializer": wire.job_loads({f.name for f in functions}),
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": POLL_DELAY_S[queue],
        "health_check_interval": 30,
        "health_check_key": keys.health_check(queue),
        "job_completion_wait": settings.worker_shutdown_grace_s,
        "handle_signals": False,
        "burst": burst,
        # Ferry's outcomes live in the ledger; arq's copy serves arq's own tools for a day.
        "keep_result": 86_400,
        "lease_s": settings.job_lease_s,
        "wake_key": keys.queue_wake(queue) if queue in WOKEN_QUEUES else None,
    }


class FerryWorker(Worker):
    """arq's worker on a shared Redis pool, with a renewed lease and unreadable ids dropped."""

    def __init__(self, *, lease_s: float, wake_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # arq leases a started job for its longest function timeout; Ferry's runner keeps a
        # short lease alive instead (worker/runner.py), so a dead worker's job is taken again
        # within one lease. This is the lease until the run's first heartbeat.
        self.in_progress_timeout_s = lease_s
        # Jobs whose run stopped because another run has them: arq must leave their keys.
        self._superseded: set[str] = set()
        self.ctx = {**self.ctx, "superseded": self._superseded}
        # A woken queue waits on its wake list instead of arq's sleep between polls.
        self._wake_key, self._idle_wait_s = wake_key, self.poll_delay_s
        if wake_key is not None and not self.burst:
            self.poll_delay_s = 0
        # Set when a running job gives its slot back: a full worker polls again at once.
        self._slot_freed = asyncio.Event()

    async def _poll_iteration(self) -> None:
        await super()._poll_iteration()
        if self._wake_key is None or self.burst:
            return
        if self.job_counter >= self.max_jobs:
            # Full: leave the wake to a worker that can take the job, and poll again the
            # moment a slot is free (a job queued meanwhile waited for one, not for a tick).
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), self._idle_wait_s)
        else:
            await self.pool.blpop([self._wake_key], timeout=self._idle_wait_s)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        readable = []
        for raw in job_ids:
            try:
                raw.decode()
            except UnicodeDecodeError:
                # No job id, so no one to tell: arq would fail on it at every poll.
                log.error("dropped a queue entry whose id is not text", entry=repr(raw[:80]))
                await self.pool.zrem(self.queue_name, raw)
            else:
                readable.append(raw)
        await self._claim_and_start(await self._not_started(readable))

    async def _claim_and_start(self, job_ids: list[bytes]) -> None:
        """arq's `start_jobs`, each job claimed by one script instead of a WATCH transaction.

        arq checks that no worker has the job and that it is due, then takes its lease, in
        three round trips (WATCH, EXISTS + ZSCORE, MULTI/EXEC); the script does the same
        atomically in one. Slots, counters and tasks are kept as arq keeps them.
        """
        for raw in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = raw.decode()
            score = await self.pool.eval(  # type: ignore[misc]
                _CLAIM,
                2,
                in_progress_key_prefix + job_id,
                self.queue_name,
                job_id,
                timestamp_ms(),
                int(self.in_progress_timeout_s * 1000),
            )
            if not score:
                # Started elsewhere, finished and gone, or re-queued for later.
                self.job_counter -= 1
                self.sem.release()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._slot_freed.set()

    async def _not_started(self, job_ids: list[bytes]) -> list[bytes]:
        """The ids no worker has started yet.

        arq keeps a running job in its queue until it ends and checks each id it reads with
        a WATCH transaction (three round trips), one id after another, so a new job waited
        behind every job in flight. Jobs this process runs are skipped without asking, the
        rest in one pipelined read; arq still checks what is left under WATCH.
        """
        running = {job_id for job_id, task in self.tasks.items() if not task.done()}
        left = [raw for raw in job_ids if raw.decode() not in running]
        if len(left) <= 1:
            return left
        async with self.pool.pipeline(transaction=False) as pipe:
            for raw in left:
                pipe.exists(in_progress_key_prefix + raw.decode())
            started = await pipe.execute()
        return [raw for raw, taken in zip(left, started, strict=True) if not taken]

    async def finish_job(self, job_id: str, *args: Any, **kwargs: Any) -> None:
        """arq's bookkeeping at a job's end, except for a run another run superseded: the
        queue entry, job body and in-progress key are the newer run's."""
        if job_id in self._superseded:
            self._superseded.discard(job_id)
            return
        await super().finish_job(job_id, *args, **kwargs)

    def settle_slots(self) -> None:
        """Give back job slots an outage took between claiming a job and starting it."""
        running = sum(not task.done() for task in self.tasks.values())
        while self.job_counter > running:
            self.job_counter -= 1
            self.sem.release()

    async def close(self) -> None:
        """Stop and settle the jobs; the pool is the process's, closed on shutdown."""
        self.handle_sig(signal.SIGUSR1)
        # A job cancelled on shutdown raises here; it was handed back already.
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        with contextlib.suppress(*OUTAGES):
            await self.pool.delete(self.health_check_key)


async def serve(worker: FerryWorker, stopping: asyncio.Event) -> None:
    """Run `worker` until it stops; an error in its poll loop only pauses it."""
    loop = asyncio.get_running_loop()
    delay = 0.1
    while not stopping.is_set():
        started = loop.time()
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            # arq stops a worker by cancelling its main task; anything else is ours to propagate.
            if worker.main_task is None or not worker.main_task.cancelled():
                raise
            return
        except Exception as error:
            if stopping.is_set():
                return
            if loop.time() - started > 30:
                delay = 0.1
            level = log.warning if isinstance(error, OUTAGES) else log.exception
            level(
                "worker lost a store; polling again",
                queue=worker.queue_name,
                error=f"{type(error).__name__}: {error}",
                retry_in_s=delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            worker.settle_slots()
            delay = min(delay * 2, RECONNECT_CAP_S)


class WorkerProcess:
    """Serves `queues` with one set of resources until `stop` (or, with `burst`, until idle)."""

    def __init__(
        self,
        queues: Sequence[Queue],
        settings: Settings,
        handlers: Sequence[JobHandler[Any]] = PRODUCT_HANDLERS,
        *,
        burst: bool = False,
    ) -> None:
        self.queues, self.settings, self.handlers, self.burst = queues, settings, handlers, burst
        self.ctx: dict[str, Any] = {
            "settings": settings,
            "keys": RedisKeys(settings.redis_key_prefix),
        }
        self.workers: list[FerryWorker] = []
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        settings = self.settings
        try:
            self.ctx["redis"] = await until_it_lands(
                "redis at start-up",
                lambda: create_pool(
                    RedisSettings.from_dsn(settings.redis_url),
                    job_serializer=wire.dumps,
                    job_deserializer=wire.loads,
                ),
                cap_s=RECONNECT_CAP_S,
            )
            await on_startup(self.ctx)
            self.workers = [
                FerryWorker(
                    **worker_settings(q, settings, self.handlers, burst=self.burst),
                    redis_pool=self.ctx["redis"],
                    ctx=self.ctx,
                )
                for q in self.queues
            ]
            sweeper = asyncio.create_task(Sweeper(self.ctx).run_forever(), name="ferry-sweeper")
            log.info("worker started", queues=[q.value for q in self.queues])
            self.ready.set()
            try:
                await asyncio.gather(*(serve(w, self._stopping) for w in self.workers))
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
                for worker in self.workers:
                    await worker.close()
        finally:
            await on_shutdown(self.ctx)
            log.info("worker stopped")

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> None:
        """Stop taking jobs, let running ones finish for the grace period, hand back the rest."""
        log.info("stopping", signal=signum.name, queues=[q.value for q in self.queues])
        self._stopping.set()
        for worker in self.workers:
            worker.handle_sig_wait_for_completion(signum)


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
    process = WorkerProcess(queues, settings, handlers, burst=burst)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, process.stop, signum)
    try:
        await process.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
