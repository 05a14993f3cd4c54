"""What the HTTP API adds: enqueue-to-result over HTTP against the Python client, and GET rps.

In one run, against the local Redis and Postgres: a worker (a subprocess) runs an echo job;
the API (another subprocess, uvicorn) serves it. Jobs are sent one at a time, the three
ways interleaved:

- direct: `FerryClient.enqueue(job)` then `handle.result()` (the baseline);
- HTTP long-poll: `POST /jobs/{kind}` then `GET /jobs/{id}/result?wait=30`;
- HTTP SSE: `POST /jobs/{kind}` then `GET /jobs/{id}/events` until the outcome.

Then `GET /assistants/{id}` with keep-alive connections, warm (pools and plans warmed up),
against the same read done in-process (`store.registry.get_by_id`). Prints p50/p99 and
what HTTP adds at p50.

`--baseline REF` also serves the API of git ref REF (its tree exported with `git archive`,
run as its own process on the same stores and worker) and sends its two HTTP ways in the
same interleaved rounds, and its GETs in alternating rounds: before and after, side by side
under the same load. The baseline's figures join the summary line as `baseline_…`.

    python bench/api_latency.py [--jobs 200] [--gets 2000] [--concurrency 8] [--baseline main]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

import asyncpg
import httpx
from pydantic import BaseModel

from producers.client import FerryClient
from producers.settings import ClientSettings
from schemas.assistants import AssistantSpec
from schemas.jobs import Job
from schemas.keys import Queue
from store import api_tokens, registry
from store.api_tokens import Scope
from store.migrate import migrate
from store.pool import create_pool
from worker.kinds import JobContext, JobHandler

ROOT = Path(__file__).resolve().parents[1]
# The random pause before each job: up to the chat queue's old poll interval. The queue is
# now woken on enqueue (worker/app.py polls only as a fallback); the pause still spreads
# every way over the same phases of the worker's loop.
POLL_S = 0.02
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class Echo(BaseModel):
    n: int


class EchoJob(Job):
    kind: ClassVar[str] = "bench.echo"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 30
    result_model: ClassVar[type[BaseModel]] = Echo

    n: int
    run: str


async def run_echo(ctx: JobContext, job: EchoJob) -> Echo:
    return Echo(n=job.n)


def stores(schema: str, prefix: str) -> dict[str, str]:
    return {
        "database_url": DATABASE_URL,
        "database_schema": schema,
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
    }


def serve_worker(schema: str, prefix: str) -> None:
    """The worker side (runs in a subprocess)."""
    from worker.app import run_workers
    from worker.logs import configure_logging
    from worker.settings import Settings

    configure_logging("error")
    settings = Settings(_env_file=None, log_level="error", **stores(schema, prefix))
    asyncio.run(run_workers([Queue.chat], settings, [JobHandler(EchoJob, run_echo)]))


def serve_api(schema: str, prefix: str, fd: str) -> None:
    """The API (runs in a subprocess) on a socket the parent bound and passed down."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    app = create_app(ApiSettings(_env_file=None, **stores(schema, prefix)), kinds=[EchoJob])
    # socket(fileno=…) detects TCP, so asyncio sets TCP_NODELAY on accepted connections
    # (uvicorn's own `fd=` takes the socket for a Unix one, and Nagle then adds ~40 ms).
    listening = socket.socket(fileno=int(fd))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    asyncio.run(server.serve(sockets=[listening]))


async def direct(client: FerryClient, job: EchoJob, http: httpx.AsyncClient) -> None:
    handle = await client.enqueue(job)
    assert await handle.result(timeout=30) == Echo(n=job.n)


async def long_poll(client: FerryClient, job: EchoJob, http: httpx.AsyncClient) -> None:
    posted = await http.post(f"/jobs/{job.kind}", json={"payload": job.model_dump()})
    result = await http.get(f"/jobs/{posted.json()['id']}/result", params={"wait": 30})
    assert result.status_code == 200 and result.json()["result"] == {"n": job.n}


async def sse(client: FerryClient, job: EchoJob, http: httpx.AsyncClient) -> None:
    posted = await http.post(f"/jobs/{job.kind}", json={"payload": job.model_dump()})
    async with http.stream("GET", f"/jobs/{posted.json()['id']}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("data:") and '"outcome"' in line:
                assert json.loads(line[5:])["data"]["result"] == {"n": job.n}
                return
    raise AssertionError("the event stream ended without the outcome")


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def rps(call, total: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    left = iter(range(total))

    async def loop() -> None:
        for _ in left:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def export_ref(ref: str, into: Path) -> Path:
    """The tree of git ref `ref` written under `into`."""
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


Way = Callable[[FerryClient, EchoJob, httpx.AsyncClient], Awaitable[None]]


def over(way: Way, http: httpx.AsyncClient) -> Callable[[FerryClient, EchoJob], Awaitable[None]]:
    """A way bound to the HTTP client of one server."""
    return lambda client, job: way(client, job, http)


async def main(jobs: int, gets: int, concurrency: int, baseline: str | None) -> None:
    schema, prefix, run = (
        f"bench_{secrets.token_hex(4)}",
        f"ferry-bench{secrets.token_hex(4)}",
        secrets.token_hex(4),
    )
    admin = await asyncpg.connect(DATABASE_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pool = await create_pool(DATABASE_URL, schema=schema)
    await migrate(pool)
    token, _ = await api_tokens.create(
        pool, deployment=prefix, name="bench", scopes={Scope.read, Scope.jobs_write}
    )
    entry = (await registry.upsert(pool, "default", AssistantSpec(name="b", model="m"))).entry
    me = [sys.executable, __file__]
    worker = await asyncio.create_subprocess_exec(*me, "--serve-worker", schema, prefix)
    # Each server: (label, root of its tree); ours first.
    roots = [("HTTP", ROOT)]
    exported = tempfile.TemporaryDirectory(prefix="api-baseline-") if baseline else None
    if baseline and exported:
        roots.append((f"HTTP {baseline}", export_ref(baseline, Path(exported.name))))
    servers, sockets, https = [], [], {}
    for label, root in roots:
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listening.bind(("127.0.0.1", 0))
        listening.listen(1024)
        sockets.append(listening)
        servers.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(root / "bench" / "api_latency.py"),
                "--serve-api",
                schema,
                prefix,
                str(listening.fileno()),
                pass_fds=[listening.fileno()],
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
            )
        )
        https[label] = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{listening.getsockname()[1]}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=httpx.Limits(max_keepalive_connections=concurrency),
        )
    client = await FerryClient.connect(ClientSettings(_env_file=None, **stores(schema, prefix)))

    async def in_process(client: FerryClient, job: EchoJob) -> None:
        await direct(client, job, https["HTTP"])

    ways: dict[str, Callable[[FerryClient, EchoJob], Awaitable[None]]] = {
        "direct (Python client)": in_process
    }
    for label in https:
        ways[f"{label} long-poll"] = over(long_poll, https[label])
        ways[f"{label} SSE"] = over(sse, https[label])
    samples: dict[str, list[float]] = {name: [] for name in ways}
    get_rps: dict[str, list[float]] = {label: [] for label in https}
    try:
        for n in range(-10 * len(ways), 0):  # warm up every path (connections, the worker, plans)
            await list(ways.values())[n % len(ways)](client, EchoJob(n=n, run=run))
        for n in range(jobs * len(ways)):
            name = list(ways)[n % len(ways)]
            # Each job is sent when the last one's result arrived: a random pause keeps every
            # way from starting at the same phase of the worker's loop (figures measured while
            # the chat queue was polled every 20 ms swung 3-33 ms without it).
            await asyncio.sleep(random.uniform(0, POLL_S))
            started = time.perf_counter()
            await ways[name](client, EchoJob(n=n, run=run))
            samples[name].append((time.perf_counter() - started) * 1000)

        # What each request costs by itself, without the queue: accept a job (the worker
        # runs it later), and read the result of a finished one.
        finished = [EchoJob(n=n, run=run).job_id() for n in range(jobs)]
        requests: dict[str, list[float]] = {}

        async def timed(name: str, call: Awaitable[object]) -> None:
            started = time.perf_counter()
            await call
            requests.setdefault(name, []).append((time.perf_counter() - started) * 1000)

        for n in range(jobs):
            # a new job for each way: none finds one another way accepted
            await timed("direct enqueue", client.enqueue(EchoJob(n=n, run=f"{run}-direct")))
            await timed("direct finished result", client.handle(finished[n]).outcome(timeout=5))
            for label, http in https.items():
                job = EchoJob(n=n, run=f"{run}-{label}")
                await timed(
                    f"{label} POST /jobs",
                    http.post(f"/jobs/{job.kind}", json={"payload": job.model_dump()}),
                )
                await timed(
                    f"{label} GET result (finished)", http.get(f"/jobs/{finished[n]}/result")
                )

        def getter(http: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
            async def get_http() -> None:
                response = await http.get(f"/assistants/{entry.id}")
                assert response.status_code == 200

            return get_http

        async def get_direct() -> None:
            assert await registry.get_by_id(pool, entry.id) is not None

        rounds = 4
        for http in https.values():
            await rps(getter(http), 200, concurrency)  # warm
        for _ in range(rounds):  # alternating rounds: the load moves, both see it
            for label, http in https.items():
                get_rps[label].append(await rps(getter(http), gets // rounds, concurrency))
        direct_rps = await rps(get_direct, gets, concurrency)
    finally:
        for process in (*servers, worker):
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        for http in https.values():
            await http.aclose()
        await client.aclose()
        await pool.close()
        for listening in sockets:
            listening.close()
        if exported:
            exported.cleanup()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()

    base = p(samples["direct (Python client)"], 50)
    print(f"enqueue-to-result, {jobs} jobs per way, one at a time, interleaved")
    print(f"{'':30}{'p50 ms':>10}{'p99 ms':>10}{'added p50':>12}")
    for name, values in samples.items():
        added = p(values, 50) - base
        print(f"{name:30}{p(values, 50):>10.2f}{p(values, 99):>10.2f}{added:>12.2f}")
    print(f"one request by itself, {jobs} each, interleaved")
    for name, values in requests.items():
        print(f"{name:36}{p(values, 50):>10.2f}{p(values, 99):>10.2f}")
    print(f"GET /assistants/{{id}} warm, {gets} requests each, {concurrency} connections")
    mean_rps = {label: statistics.mean(values) for label, values in get_rps.items()}
    for label, value in mean_rps.items():
        print(f"{label:30}{value:>10.0f} req/s")
    print(f"{'in-process registry read':30}{direct_rps:>10.0f} req/s (baseline)")
    figures = {
        "post_p50_ms": p(requests["HTTP POST /jobs"], 50),
        "get_result_p50_ms": p(requests["HTTP GET result (finished)"], 50),
        "http_added_p50_ms": p(samples["HTTP long-poll"], 50) - base,
        "sse_added_p50_ms": p(samples["HTTP SSE"], 50) - base,
        "get_rps": mean_rps["HTTP"],
    }
    if baseline:
        label = f"HTTP {baseline}"
        figures |= {
            "baseline_post_p50_ms": p(requests[f"{label} POST /jobs"], 50),
            "baseline_get_result_p50_ms": p(requests[f"{label} GET result (finished)"], 50),
            "baseline_http_added_p50_ms": p(samples[f"{label} long-poll"], 50) - base,
            "baseline_sse_added_p50_ms": p(samples[f"{label} SSE"], 50) - base,
            "baseline_get_rps": mean_rps[label],
        }
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    print(
        "summary: "
        + " ".join(
            f"{key}={value:.0f}" if key.endswith("rps") else f"{key}={value:.2f}"
            for key, value in figures.items()
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per way (default 200)")
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline", metavar="REF", help="also serve and measure git REF's API")
    parser.add_argument("--serve-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve-api", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_worker:
        serve_worker(*args.serve_worker)
    elif args.serve_api:
        serve_api(*args.serve_api)
    else:
        asyncio.run(main(args.jobs, args.gets, args.concurrency, args.baseline))
