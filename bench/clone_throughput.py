"""Clone throughput against the sandbox: Ferry's clone jobs vs seed 000's naive algorithm.

A source project (v2 style) holds N assistants, F files and S vector stores (assistant i uses
store i mod S; file j sits in store j mod S). The destination (v2 style, so both runs make
the same remote objects) has a requests-per-minute limit and a per-request latency. In one
run: Ferry (plan + apply, one worker process in this process, MAX_CONCURRENCY across it),
then the naive baseline on a fresh destination project: three assistants at a time, each
sequential, 1/2/4 s backoff blind to headers, and a full list for every lookup.

    python bench/clone_throughput.py [--assistants 50] [--files 150] [--stores 10]
                                     [--rpm 600] [--latency-ms 20] [--concurrency 8]

Prints wall time, the lower bound (the destination requests Ferry needed ÷ the limit), their
ratio, the share of requests answered 429, the speed-up over the baseline and the duplicate
objects Ferry left (0 expected). The sandbox runs in threads of this process (noisy figures
on a loaded machine).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
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


async def drain(client: AsyncOpenAI, rpm: int) -> None:
    """Empty the destination's request bucket, so the run starts at the limit, not a burst."""
    await asyncio.gather(*(client.models.list() for _ in range(rpm)), return_exceptions=True)


def dst_counts(server: ThreadedSandbox) -> tuple[int, int]:
    """Requests the destination answered, and how many were 429s."""
    snap = server.state.counters.snapshot()
    return snap["total"], sum(r["count"] for r in snap["requests"] if r["status"] == 429)


async def run_ferry(
    args: Any, src: tuple[str, str], dst: tuple[str, str], bases: tuple[str, str]
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


async def naive_call(fn: Any) -> Any:
    """Seed 000's retryWithBackoff: 1, 2, 4 s after a 429 or 5xx, headers ignored."""
    for attempt in range(4):
        try:
            return await fn()
        except (openai.RateLimitError, openai.InternalServerError):
            if attempt == 3:
                raise
            await asyncio.sleep(2**attempt)
    return None


async def run_naive(args: Any, src: AsyncOpenAI, dst: AsyncOpenAI) -> float:
    """Three assistants at a time; every lookup lists everything."""
    started = time.monotonic()
    gate = asyncio.Semaphore(3)

    async def every(page_fn: Any) -> list[Any]:
        found, after = [], None
        while True:
            kw = {"limit": 100, **({"after": after} if after else {})}
            page = await naive_call(lambda kw=kw: page_fn(**kw))
            found += page.data
            if not page.has_more:
                return found
            after = page.data[-1].id

    async def clone(assistant: Any) -> None:
        async with gate:
            [store_id] = assistant.tool_resources.file_search.vector_store_ids
            source_store = await naive_call(lambda: src.vector_stores.retrieve(store_id))
            stores = await every(dst.vector_stores.list)
            mine = [s for s in stores if (s.metadata or {}).get("cloned_from") == store_id]
            if mine:
                target = mine[0]
            else:
                target = await naive_call(
                    lambda: dst.vector_stores.create(
                        name=source_store.name, metadata={"cloned_from": store_id}
                    )
                )
            for f in await every(lambda **kw: src.vector_stores.files.list(store_id, **kw)):
                meta = await naive_call(lambda f=f: src.files.retrieve(f.id))
                existing = [d for d in await every(dst.files.list) if d.filename == meta.filename]
                if not existing:
                    data = await naive_call(lambda f=f: src.files.content(f.id))
                    body = (meta.filename, data.content)
                    up = await naive_call(
                        lambda body=body: dst.files.create(file=body, purpose="assistants")
                    )
                    await naive_call(
                        lambda up=up: dst.vector_stores.files.create(target.id, file_id=up.id)
                    )
            assistants = await every(dst.beta.assistants.list)
            if not [a for a in assistants if (a.metadata or {}).get("cloned_from") == assistant.id]:
                await naive_call(
                    lambda: dst.beta.assistants.create(
                        name=assistant.name,
                        model=assistant.model,
                        instructions=assistant.instructions,
                        tools=[{"type": "file_search"}],
                        tool_resources={"file_search": {"vector_store_ids": [target.id]}},
                        metadata={"cloned_from": assistant.id},
                    )
                )

    source = await every(src.beta.assistants.list)
    await asyncio.gather(*(clone(a) for a in source), return_exceptions=True)
    return time.monotonic() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assistants", type=int, default=50)
    parser.add_argument("--files", type=int, default=150)
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    state = SandboxState()
    state.allow_all_downloads = True
    with ThreadedSandbox(state) as src_server, ThreadedSandbox(SandboxState()) as dst_server:
        src = project(src_server, "src")
        src_client = AsyncOpenAI(api_key=src[0], base_url=src_server.base_url, max_retries=0)
        await seed(src_client, args.assistants, args.files, args.stores)
        src_server.state.set_allow_all_downloads(True, src[1])

        results = {}
        for label in ("ferry", "naive"):
            dst = project(dst_server, label)
            dst_server.state.set_limits(dst[1], requests_per_minute=args.rpm)
            dst_server.state.add_fault(
                Fault(kind="latency", latency_ms=args.latency_ms, project_id=dst[1])
            )
            dst_client = AsyncOpenAI(api_key=dst[0], base_url=dst_server.base_url, max_retries=0)
            await drain(dst_client, args.rpm)
            dst_server.state.counters.clear()
            if label == "ferry":
                wall = await run_ferry(args, src, dst, (src_server.base_url, dst_server.base_url))
            else:
                dst_client = AsyncOpenAI(
                    api_key=dst[0], base_url=dst_server.base_url, max_retries=0
                )
                wall = await run_naive(args, src_client, dst_client)
            total, limited = dst_counts(dst_server)
            objects = dst_server.state.projects[dst[1]].object_counts()
            results[label] = (wall, total, limited, objects)
            print(
                f"{label}: wall {wall:.1f} s, {total} destination requests, "
                f"{limited} answered 429, objects {objects}"
            )

    wall, total, limited, objects = results["ferry"]
    needed = total - limited
    bound = needed / args.rpm * 60
    expected = {"file": args.files, "vector_store": args.stores, "assistant": args.assistants}
    duplicates = sum(max(0, objects.get(k, 0) - v) for k, v in expected.items())
    missing = sum(max(0, v - objects.get(k, 0)) for k, v in expected.items())
    ratio = wall / bound if bound else float("inf")
    pct = 100 * limited / total if total else 0.0
    speedup = results["naive"][0] / wall
    print(f"wall time (Ferry): {wall:.1f} s; naive: {results['naive'][0]:.1f} s")
    print(f"lower bound: {needed} requests ÷ {args.rpm}/min = {bound:.1f} s (ratio {ratio:.2f})")
    print(f"share answered 429: {pct:.2f} %; Ferry's missing objects: {missing}")
    print(
        f"summary: bound_ratio={ratio:.2f} pct_429={pct:.2f} "
        f"speedup_vs_naive={speedup:.2f} duplicates={duplicates}"
    )


if __name__ == "__main__":
    asyncio.run(main())
