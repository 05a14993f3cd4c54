"""Time from a job finishing to the waiting producer holding its result: push vs polling.

In one run, against the local Redis and Postgres: a worker (a subprocess) runs small jobs
that stamp the moment they finish; the producer waits for half of them with Ferry's
`handle.result()` (woken by a push) and for the other half with arq's `Job.result()` at its
defaults (polling every 0.5 s). Prints p50/p99 of each and their ratio.

    python bench/result_latency.py [--jobs 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import time
from typing import ClassVar

from arq.jobs import Job as ArqJob
from harness import isolated_ferry, serve  # bench/harness.py (this folder is on sys.path)
from pydantic import BaseModel

from producers.client import FerryClient
from schemas import wire
from schemas.jobs import Job
from schemas.keys import Queue
from worker.kinds import JobContext, JobHandler


class Stamp(BaseModel):
    done_at: float


class StampJob(Job):
    kind: ClassVar[str] = "bench.stamp"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 30
    result_model: ClassVar[type[BaseModel]] = Stamp

    n: int
    run: str
    sleep_s: float


async def run_stamp(ctx: JobContext, job: StampJob) -> Stamp:
    # A random duration, so jobs finish at random points of arq's polling cycle.
    await asyncio.sleep(job.sleep_s)
    return Stamp(done_at=time.time())


async def measure(client: FerryClient, job: StampJob, *, push: bool) -> float:
    handle = await client.enqueue(job)
    if push:
        stamp = await handle.result(timeout=60)
        assert isinstance(stamp, Stamp)
        done_at = stamp.done_at
    else:
        arq_job = ArqJob(
            client.keys.arq_job_id(handle.job_id),
            client.redis,
            _queue_name=client.keys.queue(job.queue),
            _deserializer=wire.loads,
        )
        outcome = await arq_job.result(timeout=60)  # arq's defaults: poll every 0.5 s
        done_at = outcome["result"]["done_at"]
    return (time.time() - done_at) * 1000


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main(jobs: int, concurrency: int) -> None:
    run = secrets.token_hex(4)
    samples: dict[bool, list[float]] = {True: [], False: []}
    async with isolated_ferry(__file__) as client:
        rng = random.Random(7)
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int, push: bool) -> None:
            async with gate:
                job = StampJob(n=n, run=run, sleep_s=rng.uniform(0.0, 0.05))
                samples[push].append(await measure(client, job, push=push))

        # Warm up connections and the worker, then interleave both ways of waiting.
        await asyncio.gather(*(one(-i, True) for i in range(1, 11)))
        samples[True].clear()
        await asyncio.gather(*(one(n, n % 2 == 0) for n in range(2 * jobs)))

    push, poll = samples[True], samples[False]
    print(f"jobs per method: {len(push)} (push) / {len(poll)} (arq polling, defaults)")
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'Ferry push':24}{percentile(push, 50):>10.2f}{percentile(push, 99):>10.2f}")
    print(f"{'arq Job.result() poll':24}{percentile(poll, 50):>10.2f}{percentile(poll, 99):>10.2f}")
    print(f"ratio at p50: {percentile(poll, 50) / percentile(push, 50):.0f}x faster with push")
    print(f"ratio at p99: {percentile(poll, 99) / percentile(push, 99):.0f}x faster with push")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per method (default 200)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--serve", nargs=2, metavar=("SCHEMA", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, [Queue.chat], [JobHandler(StampJob, run_stamp)], worker_max_jobs=100)
    else:
        asyncio.run(main(args.jobs, args.concurrency))
