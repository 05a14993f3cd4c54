"""Chaos scenarios: real worker processes on stores of their own, one fault each, and a tally.

Each scenario accepts jobs through Ferry's client, waits until a quarter have finished,
injects its fault (SIGKILL or SIGTERM a worker, restart or FLUSHALL Redis, stop Postgres for
10 s), then waits for every job. The tally says, per scenario: jobs accepted; completed (a
success the waiter holds and the ledger records); lost (ended without success); finished
twice (more than one distinct outcome was published or recorded); contradicted (the waiter
holds a success the ledger does not); hung (a waiter that never returned); and the longest
recovery, from the end of the fault to the last affected job's outcome reaching its waiter.

Used by tests/chaos/test_chaos.py and bench/chaos.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from producers.client import FerryClient, JobHandle
from producers.settings import ClientSettings
from schemas.keys import RedisKeys
from schemas.results import JobOutcome, JobStatus
from store.migrate import migrate
from store.outages import OUTAGES
from store.pool import create_pool
from tests.chaos.serve import ChaosJob
from tests.chaos.stores import ThrowawayPostgres, ThrowawayRedis

ROOT = Path(__file__).parents[2]
POSTGRES_OUTAGE_S = 10.0
REDIS_DOWN_S = 1.5
# A waiter that has heard nothing after this long counts as hung.
WAIT_S = 90.0


@dataclass
class Tally:
    scenario: str
    accepted: int = 0
    completed: int = 0
    lost: int = 0
    finished_twice: int = 0
    contradicted: int = 0
    hung: int = 0
    recovery_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.scenario:<16}{self.accepted:>9}{self.completed:>10}{self.lost:>6}"
            f"{self.finished_twice:>9}{self.contradicted:>8}{self.hung:>6}"
            f"{self.recovery_s:>12.1f}"
        )

    @staticmethod
    def header() -> str:
        return (
            f"{'scenario':<16}{'accepted':>9}{'completed':>10}{'lost':>6}{'twice':>9}"
            f"{'contra':>8}{'hung':>6}{'recovery_s':>12}"
        )


class Cluster:
    """Throwaway stores, a fresh schema and key prefix, and worker processes on them."""

    def __init__(self, redis: ThrowawayRedis, postgres: ThrowawayPostgres, name: str) -> None:
        self.redis, self.postgres = redis, postgres
        self.schema = f"chaos_{name}_{secrets.token_hex(3)}"
        self.prefix = f"chaos-{name}-{secrets.token_hex(3)}"
        self.keys = RedisKeys(self.prefix)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.log = postgres.workdir / f"{self.prefix}.log"

    def start_worker(
        self, *, bare: bool = False, sweep_every_s: int | None = None
    ) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "tests.chaos.serve",
            "--redis", self.redis.url,
            "--db", self.postgres.url,
            "--schema", self.schema,
            "--prefix", self.prefix,
        ]  # fmt: skip
        if bare:
            command.append("--bare")
        if sweep_every_s is not None:
            command += ["--sweep-every", str(sweep_every_s)]
        with self.log.open("ab") as log:
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)
        self.workers.append(process)
        return process

    async def client(self) -> FerryClient:
        return await FerryClient.connect(
            ClientSettings(
                _env_file=None,
                redis_url=self.redis.url,
                database_url=self.postgres.url,
                database_schema=self.schema,
                redis_key_prefix=self.prefix,
            )
        )

    async def create_schema(self) -> None:
        """The ledger, before any producer writes to it (workers would migrate it too)."""
        pool = await create_pool(self.postgres.url, schema=self.schema, create_schema=True)
        try:
            await migrate(pool)
        finally:
            await pool.close()

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Witness:
    """Hears every outcome published in the cluster, across Redis restarts."""

    def __init__(self, url: str, keys: RedisKeys) -> None:
        self.url, self.keys = url, keys
        self.heard: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Witness:
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(subscribed))
        await subscribed.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _listen(self, subscribed: asyncio.Event) -> None:
        pattern = self.keys.done_channel("*")
        while True:
            redis = Redis.from_url(self.url)
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.psubscribe(pattern)
                    subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            outcome = JobOutcome.model_validate_json(message["data"])
                            self.heard[outcome.job_id].add(_identity(outcome))
            except OUTAGES:
                await asyncio.sleep(0.1)
            finally:
                with contextlib.suppress(*OUTAGES):
                    await redis.aclose()


def _identity(outcome: JobOutcome) -> tuple[str, str]:
    """Two outcomes of one job are the same finish if they agree on this."""
    return outcome.status.value, outcome.finished_at.isoformat()


Fault = Callable[[Cluster], Awaitable[None]]


async def sigkill_a_worker(cluster: Cluster) -> None:
    cluster.workers[0].kill()
    cluster.start_worker()


async def sigterm_a_worker(cluster: Cluster) -> None:
    cluster.workers[0].send_signal(signal.SIGTERM)
    cluster.start_worker()


async def restart_redis(cluster: Cluster) -> None:
    cluster.redis.kill()
    await asyncio.sleep(REDIS_DOWN_S)
    await asyncio.to_thread(cluster.redis.start)


async def flushall(cluster: Cluster) -> None:
    redis = Redis.from_url(cluster.redis.url)
    try:
        await redis.flushall()
    finally:
        await redis.aclose()


async def stop_postgres(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.postgres.stop, "fast")
    await asyncio.sleep(POSTGRES_OUTAGE_S)
    await asyncio.to_thread(cluster.postgres.start)


SCENARIOS: dict[str, Fault] = {
    "sigkill": sigkill_a_worker,
    "sigterm": sigterm_a_worker,
    "redis_restart": restart_redis,
    "flushall": flushall,
    "postgres_outage": stop_postgres,
}


async def run_scenario(
    redis: ThrowawayRedis,
    postgres: ThrowawayPostgres,
    name: str,
    *,
    jobs: int = 60,
    job_seconds: float = 0.3,
) -> Tally:
    """Run scenario `name` with `jobs` jobs on two worker processes; the tally."""
    cluster = Cluster(redis, postgres, name)
    tally = Tally(name)
    await cluster.create_schema()
    cluster.start_worker()
    cluster.start_worker()
    client = await cluster.client()
    run = secrets.token_hex(4)
    received: dict[str, tuple[float, JobOutcome | BaseException]] = {}
    done_count = 0
    quarter = asyncio.Event()

    async def wait(handle: JobHandle[object]) -> None:
        nonlocal done_count
        try:
            outcome: JobOutcome | BaseException = await handle.outcome(timeout=WAIT_S)
        except Exception as error:
            outcome = error
        received[handle.job_id] = (time.monotonic(), outcome)
        done_count += 1
        if done_count >= jobs // 4:
            quarter.set()

    try:
        async with Witness(redis.url, cluster.keys) as witness:
            handles = [
                await client.enqueue(ChaosJob(n=n, run=run, seconds=job_seconds))
                for n in range(jobs)
            ]
            tally.accepted = len(handles)
            waiters = [asyncio.create_task(wait(h)) for h in handles]
            await quarter.wait()
            pending = {h.job_id for h in handles} - set(received)
            await SCENARIOS[name](cluster)
            fault_over = time.monotonic()
            await asyncio.gather(*waiters)
            # The push comes before the ledger write, which an outage may hold back a little.
            ledger = await _ledger_outcomes(client, [h.job_id for h in handles])
            heard = dict(witness.heard)
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
        cluster.stop_workers()

    for handle in handles:
        at, got = received[handle.job_id]
        final = ledger.get(handle.job_id)
        if isinstance(got, BaseException):
            tally.hung += 1
            tally.problems.append(f"{handle.job_id}: waiter raised {got!r}")
            continue
        if got.status is JobStatus.succeeded and final is not None and final == got:
            tally.completed += 1
        elif got.status is not JobStatus.succeeded:
            tally.lost += 1
            tally.problems.append(f"{handle.job_id}: {got.error}")
        if got.status is JobStatus.succeeded and (final is None or final != got):
            tally.contradicted += 1
            tally.problems.append(f"{handle.job_id}: waiter had {got}, ledger has {final}")
        finishes = set(heard.get(handle.job_id, set())) | {_identity(got)}
        if final is not None:
            finishes.add(_identity(final))
        if len(finishes) > 1:
            tally.finished_twice += 1
            tally.problems.append(f"{handle.job_id}: finished as {sorted(finishes)}")
        if handle.job_id in pending:
            tally.recovery_s = max(tally.recovery_s, at - fault_over)
    return tally


async def _ledger_outcomes(
    client: FerryClient, job_ids: list[str], *, patience_s: float = 30.0
) -> dict[str, JobOutcome]:
    """Every job's outcome in the ledger, once each has one (or `patience_s` has passed)."""
    found: dict[str, JobOutcome] = {}
    deadline = time.monotonic() + patience_s
    while len(found) < len(job_ids) and time.monotonic() < deadline:
        for job_id in set(job_ids) - set(found):
            row = await client.ledger_row(job_id)
            if row is not None and (outcome := row.outcome()) is not None:
                found[job_id] = outcome
        if len(found) < len(job_ids):
            await asyncio.sleep(0.1)  # ledger writes still landing after the fault
    return found
