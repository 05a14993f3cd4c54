"""Clone throughput against the sandbox: Ferry's clone jobs vs seed 000's naive algorithm.

A source project (v2 style) holds N assistants, F files and S vector stores (assistant i uses
store i mod S; file j sits in store j mod S). The destination (v2 style, so both runs make
the same remote objects) has a requests-per-minute limit and a per-request latency, and so
has the source: a clone goes from one OpenAI project to another, and each answers in its
own time under its own limit (`--src-rpm`, `--src-latency-ms`; by default the destination's;
`--src-rpm 0 --src-latency-ms 0` gives the instant, unlimited source of earlier runs). Each
project's request bucket is emptied before each run starts, so a run works at the limits,
not off full buckets. In one run: Ferry (plan + apply, one worker process in this process,
MAX_CONCURRENCY across it), then seed 000's replicator (`Naive`) on a fresh destination.

    python bench/clone_throughput.py [--assistants 50] [--files 150] [--stores 10]
        [--rpm 600] [--latency-ms 250] [--src-rpm RPM] [--src-latency-ms MS]
        [--concurrency 8] [--naive-tries 3] [--naive-runs 10]

The defaults: 600 requests a minute is of the order of OpenAI's tier-1 request limits, and
250 ms a plausible answer time for an upload or a create; with them the whole bench takes
about five minutes. The full 50/150/10 is the default size.

Prints wall time; the lower bound: per project, (the requests Ferry sent there that were
admitted, minus what its bucket held at the start) ÷ its limit, the larger of the two, with
the requests per route and the bound of the destination's writes alone; their ratio; the
share of requests answered 429 (both projects), from the sandbox's counters; the speed-up
over seed 000 run to the end (its failed assistants re-run, as its report recommends); the
duplicate objects Ferry left (0 expected). The sandboxes run in threads of this process
(noisy figures on a loaded machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

import asyncpg
import openai
from openai import AsyncOpenAI

from producers.client import FerryClient
from producers.settings import ClientSettings
from sandbox.faults import Fault
from sandbox.server import ThreadedSandbox
from sandbox.state import SandboxState
from schemas.clone import CloneOptions, ClonePlanJob
from schemas.keys import Queue
from worker.app import WorkerProcess
from worker.handlers import PRODUCT_HANDLERS
from worker.settings import Profile, Settings

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def project(server: ThreadedSandbox, name: str) -> tuple[str, str]:
    """A new project on `server`: its key and id."""
    key, pid = f"sk-proj-bench{secrets.token_hex(20)}", f"proj_{name}_{secrets.token_hex(4)}"
    server.state.add_key(key, f"org-{name}", pid)
    server.state.set_ingestion_seconds(0.05, pid)
    return key, pid


async def seed(client: AsyncOpenAI, n: int, files: int, stores: int) -> None:
    made = [
        await client.files.create(
            file=(f"doc-{j}.txt", f"doc {j}\n".encode() * 50), purpose="assistants"
        )
        for j in range(files)
    ]
    store_ids = []
    for s in range(stores):
        store = await client.vector_stores.create(name=f"KB {s}", metadata={"n": str(s)})
        ids = [f.id for j, f in enumerate(made) if j % stores == s]
        await client.vector_stores.file_batches.create(store.id, file_ids=ids)
        store_ids.append(store.id)
    for i in range(n):
        await client.beta.assistants.create(
            name=f"Assistant {i}",
            model="gpt-4o",
            instructions=f"You are assistant {i}.",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [store_ids[i % stores]]}},
        )


async def drain(client: AsyncOpenAI, server: ThreadedSandbox, project_id: str) -> None:
    """Empty the destination's request bucket, so a run starts at the limit, not a burst.

    Until a burst meets a 429 (what refills during a burst's answer time stays: the bound
    subtracts the level at the start)."""
    while True:
        burst = (client.models.list() for _ in range(int(bucket_level(server, project_id)) + 1))
        answers = await asyncio.gather(*burst, return_exceptions=True)
        if any(isinstance(a, openai.RateLimitError) for a in answers):
            return


def bucket_level(server: ThreadedSandbox, project_id: str) -> float:
    """Requests the project's bucket holds now: sent at once, before the limit bites."""
    bucket = server.state.projects[project_id].limiter.requests
    bucket.refresh(time.monotonic())
    return bucket.level


def counts(server: ThreadedSandbox) -> tuple[int, int]:
    """Requests a project's server answered, and how many were 429s."""
    snap = server.state.counters.snapshot()
    return snap["total"], sum(r["count"] for r in snap["requests"] if r["status"] == 429)


async def run_ferry(
    args: Any, src: tuple[str, str], dst: tuple[str, str], bases: tuple[str, str], start: Any
) -> float:
    schema, prefix = f"bench_clone_{secrets.token_hex(4)}", f"ferry-bench-{secrets.token_hex(4)}"
    env = {
        name: Profile(name=name, api_key=key, base_url=base, api_style="assistants")  # type: ignore[arg-type]
        for name, key, base in (("src", src[0], bases[0]), ("dst", dst[0], bases[1]))
    }
    settings = Settings(
        _env_file=None,
        database_url=DATABASE_URL,
        database_schema=schema,
        redis_url=REDIS_URL,
        redis_key_prefix=prefix,
        profiles=env,
        max_concurrency=args.concurrency,
        worker_max_jobs=args.concurrency,
        output_dir=Path("/tmp") / schema,
        openai_max_attempts=10,
    )
    process = WorkerProcess([Queue.clone], settings, PRODUCT_HANDLERS)
    task = asyncio.create_task(process.run())
    await process.ready.wait()
    ferry = await FerryClient.connect(
        ClientSettings(
            _env_file=None,
            database_url=DATABASE_URL,
            database_schema=schema,
            redis_url=REDIS_URL,
            redis_key_prefix=prefix,
        )
    )
    try:
        await start()  # after the worker's start-up, so the bucket cannot refill meanwhile
        started = time.monotonic()
        job = ClonePlanJob(
            source="src",
            destination="dst",
            request_id=schema,
            options=CloneOptions(include_file_search=True),
        )
        plan = await ferry.clones.plan(job, timeout=3600)
        handles = await ferry.clones.apply(plan.plan_id)
        for handle in handles:
            await handle.outcome(timeout=3600)
        return time.monotonic() - started
    finally:
        await ferry.aclose()
        process.stop()
        await task
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def naive_call(fn: Any, tries: int) -> Any:
    """Seed 000's `retryWithBackoff(fn, maxRetries)`: a 429 waits 2^i s (1, 2, …) and tries
    again, blind to `retry-after` and the rate-limit headers; the last 429, or any other
    error, is thrown (the assistant fails with it)."""
    for i in range(tries):
        try:
            return await fn()
        except openai.RateLimitError:
            if i == tries - 1:
                raise
            await asyncio.sleep(2**i)
    return None


class Naive:
    """Seed 000's replicator, step by step (Passo 2), over the OpenAI SDK.

    Per assistant, sequentially: list every source assistant and retrieve this one
    (extractSnapshot); list every destination assistant to find `cloned_from`
    (findByMetadata), then create or update; for each of its vector stores list the source
    store's files and, per file, download it, retrieve its metadata and upload it (the seed
    keeps no file map: every assistant copies its store again), then create a store
    `Clone of …` with those files and point the assistant at it; last, Passo 3's
    validation reads both assistants back. Three assistants at a time (MAX_CONCURRENCY=3).
    """

    def __init__(self, src: AsyncOpenAI, dst: AsyncOpenAI, tries: int) -> None:
        self.src, self.dst, self.tries = src, dst, tries
        self.gate = asyncio.Semaphore(3)

    async def call(self, fn: Any) -> Any:
        return await naive_call(fn, self.tries)

    async def every(self, page_fn: Any) -> list[Any]:
        """A whole list, page by page (100 a page, the most the API gives)."""
        found, after = [], None
        while True:
            kw = {"limit": 100, **({"after": after} if after else {})}
            page = await self.call(lambda kw=kw: page_fn(**kw))
            found += page.data
            if not page.has_more:
                return found
            after = page.data[-1].id

    async def clone(self, assistant_id: str) -> None:
        async with self.gate:
            src, dst = self.src, self.dst
            await self.every(src.beta.assistants.list)
            a = await self.call(lambda: src.beta.assistants.retrieve(assistant_id))
            definition = {
                "name": a.name,
                "description": a.description,
                "instructions": a.instructions,
                "model": a.model,
                "temperature": a.temperature,
                "top_p": a.top_p,
                "response_format": a.response_format,
                "tools": [t.model_dump(exclude_none=True) for t in a.tools],
            }
            existing = [
                d
                for d in await self.every(dst.beta.assistants.list)
                if (d.metadata or {}).get("cloned_from") == assistant_id
            ]
            now = {"cloned_from": assistant_id, "cloned_at": str(time.time())}
            if existing:
                made = await self.call(
                    lambda: dst.beta.assistants.update(
                        existing[0].id, **definition, metadata={**(a.metadata or {}), **now}
                    )
                )
            else:
                made = await self.call(
                    lambda: dst.beta.assistants.create(
                        **definition, metadata={**(a.metadata or {}), **now}
                    )
                )
            resources = a.tool_resources.file_search if a.tool_resources else None
            new_stores = []
            for store_id in resources.vector_store_ids if resources else []:
                new_files = []
                for f in await self.every(
                    lambda store_id=store_id, **kw: src.vector_stores.files.list(store_id, **kw)
                ):
                    data = await self.call(lambda f=f: src.files.content(f.id))
                    info = await self.call(lambda f=f: src.files.retrieve(f.id))
                    body = (info.filename, data.content)
                    up = await self.call(
                        lambda body=body: dst.files.create(file=body, purpose="assistants")
                    )
                    new_files.append(up.id)
                store = await self.call(
                    lambda store_id=store_id, ids=new_files: dst.vector_stores.create(
                        name=f"Clone of {store_id}", file_ids=ids
                    )
                )
                new_stores.append(store.id)
            if new_stores:
                await self.call(
                    lambda: dst.beta.assistants.update(
                        made.id,
                        tool_resources={"file_search": {"vector_store_ids": new_stores}},
                    )
                )
            await self.call(lambda: src.beta.assistants.retrieve(assistant_id))
            await self.call(lambda: dst.beta.assistants.retrieve(made.id))


async def run_naive(
    args: Any, src: AsyncOpenAI, dst: AsyncOpenAI, start: Any
) -> tuple[float, int, int]:
    """Seed 000 run to the end: each run's failed assistants ("Retry: Recommended") are run
    again (CLONE_MODE=by_id), as its users would, until none fails or `--naive-runs` ran.
    The wall time, the runs made, and the assistants still failed after the last."""
    naive = Naive(src, dst, args.naive_tries)
    await start()
    started, runs = time.monotonic(), 0
    todo = [a.id for a in await naive.every(src.beta.assistants.list)]
    while todo and runs < args.naive_runs:
        runs += 1
        outcomes = await asyncio.gather(*(naive.clone(a) for a in todo), return_exceptions=True)
        todo = [a for a, o in zip(todo, outcomes, strict=True) if isinstance(o, BaseException)]
        print(f"naive run {runs}: {len(outcomes) - len(todo)} cloned, {len(todo)} failed")
    return time.monotonic() - started, runs, len(todo)


WRITES = {
    ("POST", "/v1/files"),
    ("POST", "/v1/vector_stores"),
    ("POST", "/v1/vector_stores/{id}"),
    ("POST", "/v1/vector_stores/{id}/file_batches"),
    ("POST", "/v1/vector_stores/{id}/files"),
    ("POST", "/v1/assistants"),
    ("POST", "/v1/assistants/{id}"),
}


def by_route(server: ThreadedSandbox) -> dict[tuple[str, str], int]:
    """Admitted (not 429) requests per route."""
    routes: Counter[tuple[str, str]] = Counter()
    for r in server.state.counters.snapshot()["requests"]:
        if r["status"] != 429:
            routes[(r["method"], r["route"])] += r["count"]
    return dict(routes)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assistants", type=int, default=50)
    parser.add_argument("--files", type=int, default=150)
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--src-rpm", type=int, help="the source's limit (default: --rpm; 0: none)")
    parser.add_argument(
        "--src-latency-ms", type=float, help="the source's answer time (default: --latency-ms)"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--naive-tries", type=int, default=3, help="seed 000's maxRetries")
    parser.add_argument("--naive-runs", type=int, default=10, help="re-runs of failed ones")
    args = parser.parse_args()
    src_rpm = args.rpm if args.src_rpm is None else args.src_rpm
    src_latency = args.latency_ms if args.src_latency_ms is None else args.src_latency_ms
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"destination: {args.rpm} requests/min, {args.latency_ms:g} ms an answer; source: "
        f"{f'{src_rpm} requests/min' if src_rpm else 'no limit'}, {src_latency:g} ms an answer"
    )
    state = SandboxState()
    state.allow_all_downloads = True
    with ThreadedSandbox(state) as src_server, ThreadedSandbox(SandboxState()) as dst_server:
        src = project(src_server, "src")
        src_client = AsyncOpenAI(api_key=src[0], base_url=src_server.base_url, max_retries=0)
        await seed(src_client, args.assistants, args.files, args.stores)
        src_server.state.set_allow_all_downloads(True, src[1])
        # Limited and slowed after the seeding: it stands for a project filled long ago.
        if src_rpm:
            src_server.state.set_limits(src[1], requests_per_minute=src_rpm)
        if src_latency:
            src_server.state.add_fault(
                Fault(kind="latency", latency_ms=src_latency, project_id=src[1])
            )

        results: dict[str, Any] = {}
        for label in ("ferry", "naive"):
            dst = project(dst_server, label)
            dst_server.state.set_limits(dst[1], requests_per_minute=args.rpm)
            dst_server.state.add_fault(
                Fault(kind="latency", latency_ms=args.latency_ms, project_id=dst[1])
            )
            dst_client = AsyncOpenAI(api_key=dst[0], base_url=dst_server.base_url, max_retries=0)
            level: list[float] = []

            async def start(
                dst_client: AsyncOpenAI = dst_client, pid: str = dst[1], level: list = level
            ) -> None:
                # Both at once: a bucket drained first would refill while the other drains.
                await asyncio.gather(
                    drain(dst_client, dst_server, pid),
                    *([drain(src_client, src_server, src[1])] if src_rpm else []),
                )
                dst_server.state.counters.clear()
                src_server.state.counters.clear()
                level.append(bucket_level(dst_server, pid))
                level.append(bucket_level(src_server, src[1]) if src_rpm else 0.0)

            extra = ""
            if label == "ferry":
                bases = (src_server.base_url, dst_server.base_url)
                wall = await run_ferry(args, src, dst, bases, start)
            else:
                wall, runs, unfinished = await run_naive(args, src_client, dst_client, start)
                extra = f", {runs} run(s), {unfinished} assistant(s) never cloned"
            total, limited = counts(dst_server)
            src_total, src_limited = counts(src_server)
            objects = dst_server.state.projects[dst[1]].object_counts()
            results[label] = (
                wall,
                (total, limited, level[0], by_route(dst_server)),
                (src_total, src_limited, level[1], by_route(src_server)),
                objects,
            )
            print(
                f"{label}: wall {wall:.1f} s, {total} destination requests ({limited} answered "
                f"429), {src_total} source requests ({src_limited} answered 429), "
                f"objects {objects}{extra}"
            )
            if label == "naive":
                results["naive_unfinished"] = unfinished
            await dst_client.close()

    wall, (total, limited, level0, routes), source, objects = results["ferry"]
    src_total, src_limited, src_level0, src_routes = source
    writes = sum(n for route, n in routes.items() if route in WRITES)
    # What a bucket held when the clock started goes at once; the rest at the limit.
    dst_bound = max(0.0, total - limited - level0) / args.rpm * 60
    src_bound = max(0.0, src_total - src_limited - src_level0) / src_rpm * 60 if src_rpm else 0.0
    bound = max(dst_bound, src_bound)
    expected = {"file": args.files, "vector_store": args.stores, "assistant": args.assistants}
    duplicates = sum(max(0, objects.get(k, 0) - v) for k, v in expected.items())
    missing = sum(max(0, v - objects.get(k, 0)) for k, v in expected.items())
    ratio = wall / bound if bound else float("inf")
    answered = total + src_total
    pct = 100 * (limited + src_limited) / answered if answered else 0.0
    naive_wall = results["naive"][0]
    speedup = naive_wall / wall
    for side, counted in (("destination", routes), ("source", src_routes)):
        print(f"Ferry's admitted {side} requests by route:")
        for (method, route), n in sorted(counted.items(), key=lambda kv: -kv[1]):
            print(f"  {n:5d}  {method} {route}{'  (write)' if (method, route) in WRITES else ''}")
    print(f"wall time (Ferry): {wall:.1f} s; naive (seed 000): {naive_wall:.1f} s")
    print(
        f"lower bound: destination ({total - limited} requests - {level0:.1f} in the bucket "
        f"at the start) ÷ {args.rpm}/min = {dst_bound:.1f} s; source "
        + (
            f"({src_total - src_limited} - {src_level0:.1f}) ÷ {src_rpm}/min = {src_bound:.1f} s"
            if src_rpm
            else "unlimited"
        )
        + f"; the larger: {bound:.1f} s (ratio {ratio:.2f}); "
        f"the {writes} destination writes alone: "
        f"{max(0.0, writes - level0) / args.rpm * 60:.1f} s"
    )
    print(
        f"share answered 429: {pct:.2f} % ({limited} of {total} at the destination, "
        f"{src_limited} of {src_total} at the source)"
    )
    print(f"Ferry's missing objects: {missing}; duplicates: {duplicates}")
    if results["naive_unfinished"]:
        print(
            f"naive never cloned {results['naive_unfinished']} assistant(s): its wall time "
            "is a floor, the speed-up understated"
        )
    print(f"speed-up over seed 000's algorithm: {speedup:.2f}x")
    print(
        f"summary: bound_ratio={ratio:.2f} pct_429={pct:.2f} "
        f"speedup_vs_naive={speedup:.2f} duplicates={duplicates}"
    )


if __name__ == "__main__":
    asyncio.run(main())
