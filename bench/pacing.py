"""Shared pacing against a rate limit: Ferry's call layer vs plain SDK clients, in one run.

The sandbox runs in its own process with a request and a token limit per project and 50 ms
of latency on every call. Each phase gets a fresh project whose request bucket is drained
first, so both measure the steady state (a bucket starts full: its first minute's burst
would flatter any client). Then 3 worker processes x 20 concurrent tasks call
`responses.create` for the phase's length:

- ferry: through `OpenAIClients.call` (shared budget in Redis, headers read after every
  answer, retries by kind);
- naive: plain `AsyncOpenAI` clients with the SDK's defaults (`max_retries=2`), no shared state.

Printed for each: requests answered 200 per minute as a share of the limit, the share of
answers that were 429, and the p50/p99 of the time a call waited for its slot (ferry: in the
shared budget; naive: in the SDK's retry sleeps). The last line is the summary.

    .venv/bin/python bench/pacing.py [--seconds 60] [--rpm 600] [--tpm 60000]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

# run as a script, this folder is on sys.path: the sandbox starter is shared with sandbox_rps
from sandbox_rps import free_port, start_sandbox

PROCESSES, TASKS = 3, 20
MODEL = "gpt-4o-mini"
REDIS_URL = os.environ.get("FERRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# ~100 tokens a call at the sandbox's 4 bytes a token
PROMPT = "Summarise the shipping policy for a customer in one sentence, please. " * 5


@dataclass
class Phase:
    name: str
    key: str
    base: str
    seconds: float
    rpm: int
    tpm: int
    warmup: float = 5.0
    start_at: float = 0.0
    waits_ms: list[float] = field(default_factory=list)
    ok_in_window: int = 0
    failed: dict[str, int] = field(default_factory=dict)


def admin(base: str, method: str, path: str, body: dict | None = None) -> dict:
    root = base.removesuffix("/v1")
    answer = httpx.request(method, f"{root}/_sandbox{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json()


def new_project(base: str, rpm: int, tpm: int) -> str:
    """A fresh key and project with the limits set."""
    token = secrets.token_hex(6)
    key, project = f"sk-proj-bench{token}{'0' * 16}", f"proj_{token}"
    admin(base, "POST", "/keys", {"key": key, "org_id": f"org-{token}", "project_id": project})
    limits = {"requests_per_minute": rpm, "tokens_per_minute": tpm}
    admin(base, "PATCH", f"/projects/{project}", {"limits": limits})
    return key


def drain(base: str, key: str) -> None:
    """Spend the project's request bucket: from now on it admits the limit's rate, no burst."""

    async def spend() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, trust_env=False) as http:
            refused = 0

            async def one() -> None:
                nonlocal refused
                while refused == 0:
                    if (await http.get("/files")).status_code == 429:
                        refused += 1

            await asyncio.gather(*(one() for _ in range(20)))

    asyncio.run(spend())


def responses_counts(base: str) -> tuple[int, int]:
    """(200s, 429s) the sandbox has answered to POST /v1/responses so far."""
    rows = admin(base, "GET", "/counters")["requests"]
    mine = [r for r in rows if r["method"] == "POST" and r["route"] == "/v1/responses"]
    return (
        sum(r["count"] for r in mine if r["status"] == 200),
        sum(r["count"] for r in mine if r["status"] == 429),
    )


async def ferry_worker(phase: Phase) -> Phase:
    from arq.connections import RedisSettings, create_pool
    from pydantic import SecretStr

    from schemas.keys import RedisKeys
    from worker.openai.clients import OpenAIClients
    from worker.openai.pacing import Pacer, estimate_tokens
    from worker.settings import Profile, Settings

    class TimedPacer(Pacer):
        async def acquire(self, profile: str, model: str | None = None, tokens: int = 0) -> float:
            waited = await super().acquire(profile, model, tokens)
            phase.waits_ms.append(waited * 1000)
            return waited

    profile = Profile(name="bench", api_key=SecretStr(phase.key), base_url=phase.base)
    # Long waits would become arq.Retry in a job; here every wait is slept through.
    settings = Settings(_env_file=None, profiles={"bench": profile}, openai_max_inline_wait_s=120)
    # a loaded machine can take over arq's 1 s default to connect
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    redis_settings.conn_timeout = 10
    redis = await create_pool(redis_settings)
    keys = RedisKeys(f"ferry-bench-{phase.key[-24:]}")
    clients = OpenAIClients(settings, redis, keys)
    clients.pacer = (
        limits_pacer(phase, redis, keys)  # type: ignore[assignment]
        if phase.name == "limits"
        else TimedPacer(redis, keys, max_wait_s=120)
    )
    params = {"model": MODEL, "input": PROMPT}
    tokens = estimate_tokens(params)

    async def call() -> None:
        await clients.call(
            "bench", lambda c: c.responses.create(**params), model=MODEL, tokens=tokens
        )

    try:
        await run_tasks(phase, call)
    finally:
        await clients.aclose()
        await redis.aclose()
    return phase


def limits_pacer(phase: Phase, redis: object, keys: object) -> object:
    """The `limits` package's sliding-window counter in Redis, honouring Ferry's 429 pause.

    What Ferry would have built on `limits`: one per-minute item for requests and one for
    tokens (cost per hit), the profile's limits given up front (`limits` cannot learn them
    from headers, nor be told what the server says remains).
    """
    from limits import RateLimitItemPerMinute
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import SlidingWindowCounterRateLimiter

    from worker.openai.pacing import Pacer

    storage = RedisStorage(
        "async+" + REDIS_URL,
        implementation="redispy",
        key_prefix=keys.prefix,  # type: ignore[attr-defined]
    )
    limiter = SlidingWindowCounterRateLimiter(storage)
    per_minute = {
        "requests": RateLimitItemPerMinute(phase.rpm),
        "tokens": RateLimitItemPerMinute(phase.tpm),
    }

    class LimitsPacer(Pacer):
        async def acquire(self, profile: str, model: str | None = None, tokens: int = 0) -> float:
            started = time.perf_counter()
            while True:
                paused_ms = (await self.state(profile, model)).get("pu", 0.0)
                if paused_ms > time.time() * 1000:
                    await asyncio.sleep(paused_ms / 1000 - time.time())
                    continue
                if await limiter.test(per_minute["tokens"], profile, cost=tokens) and (
                    await limiter.hit(per_minute["requests"], profile)
                ):
                    await limiter.hit(per_minute["tokens"], profile, cost=max(1, tokens))
                    break
                stats = await limiter.get_window_stats(per_minute["requests"], profile)
                await asyncio.sleep(max(0.005, stats.reset_time - time.time()))
            waited = time.perf_counter() - started
            phase.waits_ms.append(waited * 1000)
            return waited

    return LimitsPacer(redis, keys, max_wait_s=120)  # type: ignore[arg-type]


async def naive_worker(phase: Phase) -> Phase:
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    sent: ContextVar[float] = ContextVar("sent", default=0.0)

    async def on_request(request: object) -> None:
        sent.set(time.perf_counter())

    http = DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
    client = AsyncOpenAI(api_key=phase.key, base_url=phase.base, http_client=http)

    async def call() -> None:
        started = time.perf_counter()
        try:
            await client.responses.create(model=MODEL, input=PROMPT)
        finally:
            # time before the last attempt left: the SDK's retry sleeps (and earlier tries)
            phase.waits_ms.append((sent.get() - started) * 1000)

    try:
        await run_tasks(phase, call)
    finally:
        await client.close()
    return phase


async def run_tasks(phase: Phase, call: object) -> None:
    """Once every process is ready and the bucket drained, call in a loop until the end."""
    ready, go, start = _SYNC
    ready.put(os.getpid())
    await asyncio.to_thread(go.wait)
    phase.start_at = start.value
    await asyncio.sleep(max(0.0, phase.start_at - time.time()))
    deadline = phase.start_at + phase.seconds
    window_start = phase.start_at + phase.warmup

    async def task() -> None:
        while time.time() < deadline:
            try:
                await call()  # type: ignore[operator]
            except Exception as error:
                name = f"{type(error).__name__}: {str(error)[:60]}"
                phase.failed[name] = phase.failed.get(name, 0) + 1
            else:
                if window_start <= time.time() < deadline:
                    phase.ok_in_window += 1

    await asyncio.gather(*(task() for _ in range(TASKS)))


_SYNC: tuple = ()


def _process(phase: Phase, ready: Any, go: Any, start: Any, results: Any) -> None:
    global _SYNC
    _SYNC = (ready, go, start)
    worker = naive_worker if phase.name == "naive" else ferry_worker
    results.put(asyncio.run(worker(phase)))


def forget_budget(key: str) -> None:
    """Drop the pacing keys the ferry phase left in the shared Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        stale = list(client.scan_iter(match=f"ferry-bench-{key[-24:]}*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


def run_phase(name: str, base: str, args: argparse.Namespace) -> dict[str, float]:
    key = new_project(base, args.rpm, args.tpm)
    context = multiprocessing.get_context("spawn")
    ready, results, go, start = (
        context.Queue(),
        context.Queue(),
        context.Event(),
        context.Value("d"),
    )
    phases = [Phase(name, key, base, args.seconds, args.rpm, args.tpm) for _ in range(PROCESSES)]
    processes = [
        context.Process(target=_process, args=(phase, ready, go, start, results))
        for phase in phases
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)  # imported, connected
    drain(base, key)
    ok_before, refused_before = responses_counts(base)
    start.value = time.time() + 0.2
    go.set()
    done = [results.get(timeout=args.seconds + 300) for _ in processes]
    for process in processes:
        process.join()
    ok_after, refused_after = responses_counts(base)
    if name != "naive":
        forget_budget(done[0].key)
    ok, refused = ok_after - ok_before, refused_after - refused_before
    waits = sorted(w for p in done for w in p.waits_ms)
    failed: dict[str, int] = {}
    for p in done:
        for kind, n in p.failed.items():
            failed[kind] = failed.get(kind, 0) + n
    in_window = sum(p.ok_in_window for p in done)
    return {
        "share": in_window / (args.seconds - phases[0].warmup) * 60 / args.rpm,
        "failed": failed,
        "pct429": 100 * refused / max(1, ok + refused),
        "ok": ok,
        "refused": refused,
        "failed_calls": sum(failed.values()),
        "wait_p50": statistics.median(waits) if waits else 0.0,
        "wait_p99": waits[int(0.99 * (len(waits) - 1))] if waits else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--tpm", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--with-limits",
        action="store_true",
        help="a third phase: the call layer paced by `limits` (pip install -e '.[bench]')",
    )
    args = parser.parse_args()
    port = free_port()
    proc = start_sandbox(port)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        admin(base, "POST", "/faults", {"kind": "latency", "latency_ms": args.latency_ms})
        names = ("ferry", "naive", "limits") if args.with_limits else ("ferry", "naive")
        results = {name: run_phase(name, base, args) for name in names}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(
        f"{PROCESSES} processes x {TASKS} tasks, {args.seconds:g} s per client, limit "
        f"{args.rpm} requests/min and {args.tpm} tokens/min, {args.latency_ms:g} ms latency, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'client':<8}{'share':>8}{'429 %':>8}{'200s':>7}{'429s':>7}{'failed':>8}"
        f"{'wait p50 ms':>13}{'wait p99 ms':>13}"
    )
    for name, r in results.items():
        print(
            f"{name:<8}{r['share']:>8.3f}{r['pct429']:>8.2f}{r['ok']:>7}{r['refused']:>7}"
            f"{r['failed_calls']:>8}{r['wait_p50']:>13.1f}{r['wait_p99']:>13.1f}"
        )
    for name, r in results.items():
        if r["failed"]:
            print(f"{name} calls that raised: {r['failed']}")
    ferry, naive = results["ferry"], results["naive"]
    print(
        f"summary: ferry_share={ferry['share']:.3f} ferry_429_pct={ferry['pct429']:.2f} "
        f"naive_share={naive['share']:.3f} naive_429_pct={naive['pct429']:.2f} "
        f"wait_p99_ms={ferry['wait_p99']:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
