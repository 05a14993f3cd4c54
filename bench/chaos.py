"""Chaos figures and pipeline throughput, on a Redis and a Postgres of the bench's own.

In one run: each chaos scenario (SIGKILL / SIGTERM a worker, restart Redis, FLUSHALL, stop
Postgres for 10 s) with a few hundred jobs on two worker processes, printing per scenario
accepted / completed / lost / finished twice / contradicted / hung and the longest recovery;
then the throughput of no-op jobs through Ferry (client → ledger → queue → 2 worker processes
→ outcome pushed and recorded) against bare arq running the same no-op function on the same
Redis with the same worker settings.

    python bench/chaos.py [--jobs 300] [--throughput-jobs 2000] [--rounds 3] [--skip-chaos]

The scenarios and the stores are the chaos tests' own (tests/chaos/), so the figures and the
tests measure one thing.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the chaos rig lives in tests/chaos

from arq.connections import ArqRedis, RedisSettings, create_pool

from schemas import wire
from schemas.keys import Queue
from tests.chaos.scenarios import SCENARIOS, Cluster, Tally, run_scenario
from tests.chaos.serve import ChaosJob, NoopJob
from tests.chaos.stores import ThrowawayPostgres, ThrowawayRedis


async def _drain_rate(pool: ArqRedis, arq_ids: list[str]) -> float:
    """Jobs per second from the first job's start to the last one's end, by arq's own clock.

    Both sides are timed the same way, from arq's stored results (`st`, `ft`): the worker
    processes' start-up is left out, everything they do per job is in.
    """
    waiting = list(arq_ids)
    while waiting:
        async with pool.pipeline(transaction=False) as pipe:
            for arq_id in waiting:
                pipe.exists(f"arq:result:{arq_id}")
            found = await pipe.execute()
        waiting = [arq_id for arq_id, done in zip(waiting, found, strict=True) if not done]
        if waiting:
            await asyncio.sleep(0.05)
    results = [wire.loads(raw) for raw in await pool.mget([f"arq:result:{i}" for i in arq_ids])]
    assert all(r["s"] for r in results), "a no-op job failed"
    first, last = min(r["st"] for r in results), max(r["ft"] for r in results)
    return len(arq_ids) / ((last - first) / 1000)


async def ferry_throughput(redis: ThrowawayRedis, pg: ThrowawayPostgres, jobs: int) -> float:
    """No-op jobs per second through Ferry's pipeline on two worker processes.

    The jobs are accepted first (ledger row, queue entry), then the workers start: per job
    they record the attempt, run it, push the outcome and record it in the ledger.
    """
    cluster = Cluster(redis, pg, "ferry_tput")
    await cluster.create_schema()
    client = await cluster.client()
    run = secrets.token_hex(4)
    try:
        handles = [await client.enqueue(NoopJob(n=n, run=run)) for n in range(jobs)]
        # The sweeper at its production cadence: a 2 s chaos cadence is a test setting.
        cluster.start_worker(sweep_every_s=30)
        cluster.start_worker(sweep_every_s=30)
        rate = await _drain_rate(client.redis, [client.keys.arq_job_id(h.job_id) for h in handles])
        outcomes = await asyncio.gather(*(h.outcome(timeout=60) for h in handles))
        assert all(o.error is None for o in outcomes)
    finally:
        await client.aclose()
        cluster.stop_workers()
    return rate


async def arq_throughput(redis: ThrowawayRedis, pg: ThrowawayPostgres, jobs: int) -> float:
    """The same no-op function on bare arq: two worker processes, the same queue settings."""
    cluster = Cluster(redis, pg, "arq_tput")
    pool = await create_pool(
        RedisSettings.from_dsn(redis.url), job_serializer=wire.dumps, job_deserializer=wire.loads
    )
    queue = cluster.keys.queue(Queue.chat)
    run = secrets.token_hex(4)
    try:
        ids = []
        for n in range(jobs):
            job = NoopJob(n=n, run=run)
            await pool.enqueue_job(
                job.kind, job.envelope(), _job_id=f"{run}:{n}", _queue_name=queue
            )
            ids.append(f"{run}:{n}")
        cluster.start_worker(bare=True)
        cluster.start_worker(bare=True)
        rate = await _drain_rate(pool, ids)
    finally:
        await pool.aclose()
        cluster.stop_workers()
    return rate


def _rates(rates: list[float]) -> str:
    return "(" + ", ".join(f"{r:.0f}" for r in rates) + ")"


async def main(jobs: int, throughput_jobs: int, rounds: int, skip_chaos: bool) -> None:
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
        # Alternating rounds, best of each: the machine is shared, and load comes and goes.
        ferry_rates, bare_rates = [], []
        for _ in range(rounds):
            ferry_rates.append(await ferry_throughput(redis, pg, throughput_jobs))
            bare_rates.append(await arq_throughput(redis, pg, throughput_jobs))
        ferry, bare = max(ferry_rates), max(bare_rates)
    print(f"throughput, {throughput_jobs} no-op jobs, 2 worker processes, best of {rounds}:")
    print(f"  Ferry (ledger, push, outcome-first) {ferry:8.0f} jobs/s  {_rates(ferry_rates)}")
    print(f"  bare arq (same function, settings)  {bare:8.0f} jobs/s  {_rates(bare_rates)}")
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
    parser.add_argument("--throughput-jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    parser.add_argument("--skip-chaos", action="store_true", help="throughput only")
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.throughput_jobs, args.rounds, args.skip_chaos))
