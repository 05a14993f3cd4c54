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

    python bench/api_latency.py [--jobs 200] [--gets 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import sys
import time
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


async def main(jobs: int, gets: int, concurrency: int) -> None:
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
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)
    port = listening.getsockname()[1]
    me = [sys.executable, __file__]
    worker = await asyncio.create_subprocess_exec(*me, "--serve-worker", schema, prefix)
    server = await asyncio.create_subprocess_exec(
        *me, "--serve-api", schema, prefix, str(listening.fileno()), pass_fds=[listening.fileno()]
    )
    client = await FerryClient.connect(ClientSettings(_env_file=None, **stores(schema, prefix)))
    http = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        limits=httpx.Limits(max_keepalive_connections=concurrency),
    )
    ways = {"direct (Python client)": direct, "HTTP long-poll": long_poll, "HTTP SSE": sse}
    samples: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for n in range(-30, 0):  # warm up every path (connections, the worker, plans)
            await list(ways.values())[n % 3](client, EchoJob(n=n, run=run), http)
        for n in range(jobs * len(ways)):
            name = list(ways)[n % len(ways)]
            started = time.perf_counter()
            await ways[name](client, EchoJob(n=n, run=run), http)
            samples[name].append((time.perf_counter() - started) * 1000)

        async def get_http() -> None:
            response = await http.get(f"/assistants/{entry.id}")
            assert response.status_code == 200

        async def get_direct() -> None:
            assert await registry.get_by_id(pool, entry.id) is not None

        await rps(get_http, 200, concurrency)  # warm
        http_rps = await rps(get_http, gets, concurrency)
        direct_rps = await rps(get_direct, gets, concurrency)
    finally:
        for process in (server, worker):
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        await http.aclose()
        await client.aclose()
        await pool.close()
        listening.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()

    base = p(samples["direct (Python client)"], 50)
    print(f"enqueue-to-result, {jobs} jobs per way, one at a time")
    print(f"{'':26}{'p50 ms':>10}{'p99 ms':>10}{'added p50':>12}")
    for name, values in samples.items():
        added = p(values, 50) - base
        print(f"{name:26}{p(values, 50):>10.2f}{p(values, 99):>10.2f}{added:>12.2f}")
    print(f"GET /assistants/{{id}} warm, {gets} requests, {concurrency} connections")
    print(f"{'HTTP':26}{http_rps:>10.0f} req/s")
    print(f"{'in-process registry read':26}{direct_rps:>10.0f} req/s (baseline)")
    http_added = p(samples["HTTP long-poll"], 50) - base
    sse_added = p(samples["HTTP SSE"], 50) - base
    print(
        f"summary: http_added_p50_ms={http_added:.2f} sse_added_p50_ms={sse_added:.2f} "
        f"get_rps={http_rps:.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per way (default 200)")
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve-api", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_worker:
        serve_worker(*args.serve_worker)
    elif args.serve_api:
        serve_api(*args.serve_api)
    else:
        asyncio.run(main(args.jobs, args.gets, args.concurrency))
