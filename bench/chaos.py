"""Chaos figures and pipeline throughput, on a Redis and a Postgres of the bench's own.

In one run: each chaos scenario (SIGKILL / SIGTERM a worker, restart Redis, FLUSHALL, stop
Postgres for 10 s) with a few hundred jobs on two worker processes, printing per scenario
accepted / completed / lost / finished twice / contradicted / hung and the longest recovery;
then the throughput of no-op jobs through Ferry (client → ledger → queue → 2 worker processes
→ outcome pushed and recorded) against bare arq running the same no-op function on the same
Redis with the same worker settings.

    python bench/chaos.py [--jobs 300] [--throughput-jobs 3000] [--skip-chaos]

The scenarios and the stores are the chaos tests' own (tests/chaos/), so the figures and the
tests measure one thing.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the chaos rig lives in tests/chaos

from arq.connections import RedisSettings, create_pool

from schemas import wire
from schemas.keys import Queue
from tests.chaos.scenarios import SCENARIOS, Cluster, Tally, run_scenario
from tests.chaos.serve import ChaosJob, NoopJob
from tests.chaos.stores import ThrowawayPostgres, ThrowawayRedis

WARM_UP = 50


async def ferry_throughput(redis: ThrowawayRedis, pg: ThrowawayPostgres, jobs: int) -> float:
    """No-op jobs per second through Ferry's whole pipeline, two worker processes."""
    cluster = Cluster(redis, pg, "ferry_tput")
    await cluster.create_schema()
    cluster.start_worker()
    cluster.start_worker()
    client = await cluster.client()
    run = secrets.token_hex(4)
    gate = asyncio.Semaphore(100)

    async def one(n: int) -> None:
        async with gate:
            handle = await client.enqueue(NoopJob(n=n, run=run))
        outcome = await handle.outcome(timeout=300)
        assert outcome.error is None, outcome.error

    try:
        await asyncio.gather(*(one(-n) for n in range(1, WARM_UP + 1)))
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(jobs)))
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
        cluster.stop_workers()
    return jobs / elapsed


async def arq_throughput(redis: ThrowawayRedis, pg: ThrowawayPostgres, jobs: int) -> float:
    """The same no-op function on bare arq: two worker processes, the same queue settings."""
    cluster = Cluster(redis, pg, "arq_tput")
    cluster.start_worker(bare=True)
    cluster.start_worker(bare=True)
    pool = await create_pool(
        RedisSettings.from_dsn(redis.url), job_serializer=wire.dumps, job_deserializer=wire.loads
    )
    queue = cluster.keys.queue(Queue.chat)
    run = secrets.token_hex(4)
    gate = asyncio.Semaphore(100)

    async def enqueue(n: int) -> str:
        job = NoopJob(n=n, run=run)
        async with gate:
            await pool.enqueue_job(
                job.kind, job.envelope(), _job_id=f"{run}:{n}", _queue_name=queue
            )
        return f"{run}:{n}"

    async def drain(ids: list[str]) -> None:
        waiting = list(ids)
        while waiting:
            async with pool.pipeline(transaction=False) as pipe:
                for job_id in waiting:
                    pipe.exists(f"arq:result:{job_id}")
                found = await pipe.execute()
            waiting = [job_id for job_id, done in zip(waiting, found, strict=True) if not done]
            if waiting:
                await asyncio.sleep(0.01)

    try:
        await drain(await asyncio.gather(*(enqueue(-n) for n in range(1, WARM_UP + 1))))
        started = time.perf_counter()
        ids = await asyncio.gather(*(enqueue(n) for n in range(jobs)))
        await drain(list(ids))
        elapsed = time.perf_counter() - started
    finally:
        await pool.aclose()
        cluster.stop_workers()
    return jobs / elapsed


async def main(jobs: int, throughput_jobs: int, skip_chaos: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ferry-chaos-"))
    with ThrowawayRedis(workdir / "redis") as redis, ThrowawayPostgres() as pg:
        tallies: list[Tally] = []
        if not skip_chaos:
            print(f"chaos: {jobs} jobs per scenario, each sleeping 0.3 s, 2 worker processes")
            print(f"(kind timeout {ChaosJob.timeout_s} s; recovery = fault end → last outcome)")
            print(Tally.header())
            for name in SCENARIOS:
                tally = await run_scenario(redis, pg, name, jobs=jobs)
                tallies.append(tally)
                print(tally.line(), flush=True)
                for problem in tally.problems[:5]:
                    print(f"    {problem}")
        ferry = await ferry_throughput(redis, pg, throughput_jobs)
        bare = await arq_throughput(redis, pg, throughput_jobs)
    print(f"throughput, {throughput_jobs} no-op jobs, 2 worker processes:")
    print(f"  Ferry (ledger, push, outcome-first) {ferry:8.0f} jobs/s")
    print(f"  bare arq (same function, settings)  {bare:8.0f} jobs/s")
    lost = sum(t.lost + t.hung for t in tallies)
    twice = sum(t.finished_twice for t in tallies)
    contradicted = sum(t.contradicted for t in tallies)
    recovery = max((t.recovery_s for t in tallies), default=0.0)
    print(
        f"summary: lost={lost} finished_twice={twice} contradicted={contradicted} "
        f"max_recovery_s={recovery:.1f} throughput_ratio={ferry / bare:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300, help="jobs per chaos scenario")
    parser.add_argument("--throughput-jobs", type=int, default=3000)
    parser.add_argument("--skip-chaos", action="store_true", help="throughput only")
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.throughput_jobs, args.skip_chaos))
