"""What the HTTP API adds: enqueue-to-result over HTTP against the Python client, and GET rps.

In one run, against the local Redis and Postgres: a worker (a subprocess) runs an echo job
and chat turns (on the sandbox, another subprocess); the API (another subprocess, uvicorn as
`ferry api` runs it: uvloop, httptools) serves them. Jobs are sent one at a time, the ways
interleaved:

- direct: `FerryClient.enqueue(job)` then `handle.result()` (the baseline);
- HTTP long-poll: `POST /jobs/{kind}` then `GET /jobs/{id}/result?wait=30`;
- HTTP SSE: `POST /jobs/{kind}` then `GET /jobs/{id}/events` until the outcome;
- HTTP one call: `POST /jobs/{kind}?wait=30` (enqueue and await in one request).

Each HTTP way is sent twice: by a lean client (bench/lean_http.py: what the server adds, as
curl or Go would see it) and by httpx (what a Python caller on httpx sees; httpx's own cost
is the difference). Then each request by itself, `GET /assistants/{id}` per second (warm,
keep-alive) against the same read in-process, and chat turns: `client.chat` and
`client.chat_stream` against `POST /chat` and `POST /chat?stream=true` (the sandbox answers
them, so a turn is tens of ms and noisier; what HTTP adds is the difference).

`--baseline REF` also serves the API of git ref REF (its tree exported with `git archive`,
served by this file's `--serve-api`, so both run under the same uvicorn set-up) on the same
stores and worker, and sends its two-request ways, its chat and its GETs in the same rounds.
Its figures join the summary line as `baseline_…`.

    python bench/api_latency.py [--jobs 200] [--gets 2000] [--chats 50] [--baseline main]
"""

from __future__ import annotations

import argparse
import asyncio
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

import asyncpg
import httpx
from api_ways import (  # bench/, on sys.path
    CHAT_ASSISTANT,
    PROFILE,
    EchoJob,
    Server,
    body,
    chat_ways,
    direct,
    httpx_long_poll,
    httpx_one_call,
    httpx_sse,
    lean_long_poll,
    lean_one_call,
    lean_sse,
    run_echo,
)
from chat_overhead import KEY, free_port, start_sandbox, until_up
from lean_http import LeanHttp

from producers.client import FerryClient
from producers.settings import ClientSettings
from schemas.assistants import AssistantSpec, parse_spec
from schemas.keys import Queue
from store import api_tokens, registry, registry_writes
from store.api_tokens import Scope
from store.migrate import migrate
from store.pool import create_pool
from worker.kinds import JobHandler

ROOT = Path(__file__).resolve().parents[1]
# The random pause before each job: it spreads every way over the phases of the worker's
# loop (figures taken while the chat queue was polled every 20 ms swung 3-33 ms without it).
POLL_S = 0.02
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def stores(schema: str, prefix: str) -> dict[str, str]:
    return {
        "database_url": DATABASE_URL,
        "database_schema": schema,
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
    }


def serve_worker(schema: str, prefix: str) -> None:
    """The worker side (runs in a subprocess): the echo job and the product's chat turns."""
    from worker.app import run_workers
    from worker.handlers import PRODUCT_HANDLERS
    from worker.logs import configure_logging
    from worker.settings import Settings

    configure_logging("error")
    settings = Settings(_env_file=None, log_level="error", **stores(schema, prefix))
    handlers = [*PRODUCT_HANDLERS, JobHandler(EchoJob, run_echo)]
    asyncio.run(run_workers([Queue.chat], settings, handlers))


def serve_api(schema: str, prefix: str, fd: str) -> None:
    """The API (runs in a subprocess) on a socket the parent bound and passed down."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    app = create_app(ApiSettings(_env_file=None, **stores(schema, prefix)), kinds=[EchoJob])
    # socket(fileno=…) detects TCP, so the loop sets TCP_NODELAY on accepted connections
    # (uvicorn's own `fd=` takes the socket for a Unix one, and Nagle then adds ~40 ms).
    listening = socket.socket(fileno=int(fd))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    # `run`, not asyncio.run(serve()): uvicorn picks its loop (uvloop) as `uvicorn.run` does.
    server.run(sockets=[listening])


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def rps(calls: list[Callable[[], Awaitable[None]]], total: int) -> float:
    """Requests per second: each of `calls` (one per connection) in a loop, `total` in all."""
    left = iter(range(total))

    async def loop(call: Callable[[], Awaitable[None]]) -> None:
        for _ in left:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(loop(call) for call in calls))
    return total / (time.perf_counter() - started)


def export_ref(ref: str, into: Path) -> Path:
    """The tree of git ref `ref` written under `into`."""
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def interleaved(
    ways: dict[str, Callable[[int], Awaitable[None]]], rounds: int, pause_s: float
) -> dict[str, list[float]]:
    """Each way `rounds` times, every way once a round in a new random order (so no way
    always follows the same one, and pays for its trailing work), each call after a random
    pause; ms per call."""
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for n in range(-3 * len(ways), 0):  # warm up every path (connections, the worker, plans)
        await list(ways.values())[n % len(ways)](n)
    n = 0
    for _ in range(rounds):
        for name in random.sample(list(ways), len(ways)):
            await asyncio.sleep(random.uniform(0, pause_s))
            started = time.perf_counter()
            await ways[name](n)
            samples[name].append((time.perf_counter() - started) * 1000)
            n += 1
    return samples


async def main(jobs: int, gets: int, concurrency: int, chats: int, baseline: str | None) -> None:
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
    sandbox_port = free_port()
    sandbox = start_sandbox(sandbox_port)
    os.environ.update(  # the worker's profile `bench`: the sandbox
        OPENAI_BENCH_API_KEY=KEY,
        OPENAI_BENCH_BASE_URL=f"http://127.0.0.1:{sandbox_port}/v1",
        OPENAI_BENCH_API_STYLE="responses",
    )
    me = [sys.executable, __file__]
    worker = await asyncio.create_subprocess_exec(*me, "--serve-worker", schema, prefix)
    # Each server: (label, root of the tree whose `api` it serves); ours first.
    roots = [("HTTP", ROOT)]
    exported = tempfile.TemporaryDirectory(prefix="api-baseline-") if baseline else None
    if baseline and exported:
        roots.append((f"{baseline}", export_ref(baseline, Path(exported.name))))
    processes, sockets, servers = [worker], [], []
    for label, root in roots:
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listening.bind(("127.0.0.1", 0))
        listening.listen(1024)
        sockets.append(listening)
        fd = str(listening.fileno())
        processes.append(
            await asyncio.create_subprocess_exec(
                *me,
                "--serve-api",
                schema,
                prefix,
                fd,
                pass_fds=[listening.fileno()],
                cwd=root,
                env={**os.environ, "PYTHONPATH": str(root)},
            )
        )
        servers.append(Server(label, listening.getsockname()[1], token, concurrency))
    ours = servers[0]
    client = await FerryClient.connect(ClientSettings(_env_file=None, **stores(schema, prefix)))
    await registry_writes.write(
        client.db, client.redis, client.keys, PROFILE, parse_spec(CHAT_ASSISTANT)
    )

    def job(n: int, way: str = "") -> EchoJob:
        return EchoJob(n=n, run=run + way)

    ways: dict[str, Callable[[int], Awaitable[None]]] = {
        "direct (Python client)": lambda n: direct(client, job(n))
    }
    for server in servers:
        plan = [("long-poll", lean_long_poll, httpx_long_poll), ("SSE", lean_sse, httpx_sse)]
        if server is ours:  # the one-call form is new: the baseline answers it 202 at once
            plan.append(("POST ?wait", lean_one_call, httpx_one_call))
        for name, lean, over_httpx in plan:
            ways[f"{server.label} {name}"] = lambda n, s=server, w=lean: w(s, job(n))
            ways[f"{server.label} {name} (httpx)"] = lambda n, s=server, w=over_httpx: w(s, job(n))
    requests: dict[str, list[float]] = {}
    get_rps: dict[str, list[float]] = {}
    chat_samples: dict[str, list[float]] = {}
    try:
        await until_up(f"http://127.0.0.1:{sandbox_port}")
        samples = await interleaved(ways, jobs, POLL_S)

        # What each request costs by itself, without the queue: accept a job (the worker
        # runs it later), and read the result of a finished one.
        finished = [job(n).job_id() for n in range(jobs)]

        async def timed(name: str, call: Awaitable[object]) -> None:
            # A pause first: the worker has run the job the last request accepted, so no
            # request is timed while the worker takes the CPU (2 cores) for the one before.
            await asyncio.sleep(POLL_S)
            started = time.perf_counter()
            await call
            requests.setdefault(name, []).append((time.perf_counter() - started) * 1000)

        for n in range(jobs):
            # a new job for each way: none finds one another way accepted
            await timed("client: enqueue", client.enqueue(job(n, "-direct")))
            await timed("client: finished outcome", client.handle(finished[n]).outcome(timeout=5))
            for server in servers:
                accept = job(n, f"-{server.label}")
                lean, hx = server.lean, server.httpx
                await timed(
                    f"{server.label} POST /jobs",
                    lean.request("POST", f"/jobs/{accept.kind}", body(accept)),
                )
                await timed(
                    f"{server.label} GET result", lean.request("GET", f"/jobs/{finished[n]}/result")
                )
                accept = job(n, f"-{server.label}-httpx")
                await timed(
                    f"{server.label} POST /jobs (httpx)",
                    hx.post(f"/jobs/{accept.kind}", json=body(accept)),
                )
                await timed(
                    f"{server.label} GET result (httpx)", hx.get(f"/jobs/{finished[n]}/result")
                )

        path = f"/assistants/{entry.id}"

        def lean_get(lean: LeanHttp) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                assert (await lean.request("GET", path))[0] == 200

            return call

        async def httpx_get(http: httpx.AsyncClient) -> None:
            assert (await http.get(path)).status_code == 200

        getters = {}
        for server in servers:
            getters[server.label] = [lean_get(lean) for lean in server.leans]
            getters[f"{server.label} (httpx)"] = [
                lambda h=server.httpx: httpx_get(h) for _ in range(concurrency)
            ]
        for calls in getters.values():
            await rps(calls, 200)  # warm
        for _ in range(4):  # alternating rounds: the load moves, all see it
            for label, calls in getters.items():
                get_rps.setdefault(label, []).append(await rps(calls, gets // 4))

        async def get_direct() -> None:
            assert await registry.get_by_id(pool, entry.id) is not None

        direct_rps = await rps([get_direct] * concurrency, gets)
        if chats:
            chat_samples = await interleaved(chat_ways(client, servers, run), chats, 0)
    finally:
        for process in processes:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        sandbox.terminate()
        sandbox.wait(timeout=10)
        for server in servers:
            await server.aclose()
        await client.aclose()
        await pool.close()
        for listening in sockets:
            listening.close()
        if exported:
            exported.cleanup()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    report(samples, requests, get_rps, direct_rps, chat_samples, baseline, jobs, gets, concurrency)


def report(
    samples: dict[str, list[float]],
    requests: dict[str, list[float]],
    get_rps: dict[str, list[float]],
    direct_rps: float,
    chat_samples: dict[str, list[float]],
    baseline: str | None,
    jobs: int,
    gets: int,
    concurrency: int,
) -> None:
    """Print the tables and the summary line."""
    base = p(samples["direct (Python client)"], 50)
    print(f"enqueue-to-result, {jobs} jobs per way, one at a time, interleaved")
    print(f"{'':36}{'p50 ms':>10}{'p99 ms':>10}{'added p50':>12}")
    for name, values in samples.items():
        added = p(values, 50) - base
        print(f"{name:36}{p(values, 50):>10.2f}{p(values, 99):>10.2f}{added:>12.2f}")
    print(f"one request by itself, {jobs} each, interleaved")
    for name, values in requests.items():
        print(f"{name:36}{p(values, 50):>10.2f}{p(values, 99):>10.2f}")
    print(f"GET /assistants/{{id}} warm, {gets} requests each, {concurrency} connections")
    mean_rps = {label: statistics.mean(values) for label, values in get_rps.items()}
    for label, value in mean_rps.items():
        print(f"{label:36}{value:>10.0f} req/s")
    print(f"{'in-process registry read':36}{direct_rps:>10.0f} req/s")
    chat_added: dict[str, float] = {}
    if chat_samples:
        print(f"chat turns on the sandbox, {len(chat_samples['client.chat'])} per way, interleaved")
        for name, values in chat_samples.items():
            against = "client.chat_stream" if "stream" in name else "client.chat"
            added = p(values, 50) - p(chat_samples[against], 50)
            chat_added[name] = added
            print(f"{name:36}{p(values, 50):>10.2f}{p(values, 99):>10.2f}{added:>12.2f}")

    def added(way: str) -> float:
        return p(samples[way], 50) - base

    figures = {
        "http_added_p50_ms": added("HTTP long-poll"),
        "sse_added_p50_ms": added("HTTP SSE"),
        "one_call_added_p50_ms": added("HTTP POST ?wait"),
        "httpx_added_p50_ms": added("HTTP long-poll (httpx)"),
        "httpx_sse_added_p50_ms": added("HTTP SSE (httpx)"),
        "httpx_one_call_added_p50_ms": added("HTTP POST ?wait (httpx)"),
        "post_p50_ms": p(requests["HTTP POST /jobs"], 50),
        "get_result_p50_ms": p(requests["HTTP GET result"], 50),
        "get_rps": mean_rps["HTTP"],
        "get_rps_httpx": mean_rps["HTTP (httpx)"],
    }
    if chat_samples:
        figures["chat_added_p50_ms"] = chat_added["HTTP POST /chat"]
        figures["chat_stream_added_p50_ms"] = chat_added["HTTP POST /chat?stream=true"]
    if baseline:
        figures |= {
            "baseline_http_added_p50_ms": added(f"{baseline} long-poll"),
            "baseline_sse_added_p50_ms": added(f"{baseline} SSE"),
            "baseline_httpx_added_p50_ms": added(f"{baseline} long-poll (httpx)"),
            "baseline_post_p50_ms": p(requests[f"{baseline} POST /jobs"], 50),
            "baseline_get_result_p50_ms": p(requests[f"{baseline} GET result"], 50),
            "baseline_get_rps": mean_rps[baseline],
        }
        if chat_samples:
            figures["baseline_chat_added_p50_ms"] = chat_added[f"{baseline} POST /chat"]
    load = os.getloadavg()
    print(
        f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (1, 5, 15 min)"
        f" on {os.cpu_count()} cores"
    )
    print(
        "summary: "
        + " ".join(
            f"{key}={value:.0f}" if "rps" in key else f"{key}={value:.2f}"
            for key, value in figures.items()
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per way (default 200)")
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=50, help="chat turns per way (0: none)")
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
        asyncio.run(main(args.jobs, args.gets, args.concurrency, args.chats, args.baseline))
