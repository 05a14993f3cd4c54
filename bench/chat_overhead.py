"""Ferry's own latency per chat turn, against the plain SDK loop doing the same turns.

In one run: the sandbox (a subprocess; no injected latency by default), a chat worker (a
subprocess), and this producer. Users send turns one after another (every other turn calls
a Python tool), first through Ferry (`client.chat`: ledger, queue, lock, background response
streamed, tool loop, outcome pushed), then with the plain SDK loop (`responses.create` on the
user's conversation, the tool run inline, `function_call_output` sent back), in two phases:

- one user x `--solo-turns`: nothing else queues for a CPU, so what a turn takes beyond the
  sandbox's time is the latency Ferry adds (the targets: overhead under 10 ms at p50, the
  result at the producer within 5 ms of the turn's end);
- `--users` concurrent users x `--turns`: throughput. Past what the machine's cores serve,
  every turn also waits behind the others' (the SDK loop's own turn too), which the
  `loaded_` figures show.

Per Ferry turn:

- overhead = the producer's wall time - the worker's time in OpenAI calls (stream reads
  included; booking the rate budget before each call is Ferry's pacing, not OpenAI's time)
  - tool time;
- push = the producer holding the reply - the handler finishing it.

It also prints the CPU time each process spent per turn (worker, producer, sandbox; from
/proc), which is what concurrent turns queue for on a small machine.

    python bench/chat_overhead.py [--users 10] [--turns 10] [--solo-turns 40] [--latency-ms 0]

`--latency-ms` makes the sandbox take that long per response (foreground, background and
streamed alike), as a model does; the default, none, leaves Ferry's own costs alone.

The last line is `summary: overhead_p50_ms=… overhead_p99_ms=… push_p50_ms=… turns_per_s=…`
(overhead and push from the one-user phase, turns per second from the concurrent one), then
the baseline's figures and the concurrent phase's `loaded_overhead_p50_ms`,
`loaded_push_p50_ms` and `loaded_baseline_turn_p50_ms`. On the shared 2-core dev machine
the figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx
from harness import isolated_ferry, serve  # bench/harness.py (this folder is on sys.path)
from openai import AsyncOpenAI

from producers.client import FerryClient
from schemas.assistants import parse_spec
from schemas.keys import Queue
from store import registry_writes

PROFILE = "bench"
KEY = "sk-bench-" + "0" * 40
ASSISTANT = {
    "name": "bench",
    "model": "gpt-4o",
    "instructions": "You answer briefly.",
    "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
}


def lookup(**_: Any) -> dict[str, str]:
    """The bench's tool: instant, so the figures are Ferry's and the sandbox's alone."""
    return {"status": "ok"}


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def text_of(turn: int) -> str:
    return "call lookup {}" if turn % 2 else f"turn {turn}: hello"


def cpu_ms(pid: int | str) -> float:
    """The process's CPU time so far (user + system), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def worker_pid() -> int:
    """The bench's worker subprocess (started by `isolated_ferry` with `--serve`)."""
    for path in os.scandir(f"/proc/{os.getpid()}/task"):
        with open(f"{path.path}/children") as children:
            for pid in children.read().split():
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"--serve" in cmdline.read():
                        return int(pid)
    raise RuntimeError("no worker subprocess found")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "sandbox", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--key", f"{KEY}:org-bench:proj_bench"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def until_up(base: str) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while True:
            try:
                if (await http.get(f"{base}/_sandbox/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def ferry_user(
    client: FerryClient, user: str, turns: int, samples: dict[str, list[float]]
) -> None:
    for turn in range(turns):
        started = time.perf_counter()
        reply = await client.chat(user, "bench", text_of(turn), profile=PROFILE)
        received = time.time()
        wall_ms = (time.perf_counter() - started) * 1000
        timings = reply.timings
        samples["overhead"].append(wall_ms - timings.openai_ms - timings.tools_ms)
        samples["push"].append((received - timings.finished_at) * 1000)
        samples["wall"].append(wall_ms)
        samples["handler"].append(timings.total_ms - timings.openai_ms - timings.tools_ms)
        samples["openai"].append(timings.openai_ms)
        samples["pacing"].append(timings.pacing_ms)


async def sdk_user(sdk: AsyncOpenAI, user: str, turns: int, samples: list[float]) -> None:
    spec = parse_spec(ASSISTANT)
    params = spec.to_responses_params()
    conversation = (await sdk.conversations.create()).id
    for turn in range(turns):
        started = time.perf_counter()
        response = await sdk.responses.create(
            **params,
            conversation=conversation,
            input=[{"role": "user", "content": text_of(turn)}],
            safety_identifier=user,
        )
        calls = [item for item in response.output if item.type == "function_call"]
        if calls:
            outputs = [
                {"type": "function_call_output", "call_id": c.call_id, "output": str(lookup())}
                for c in calls
            ]
            await sdk.responses.create(**params, conversation=conversation, input=outputs)
        samples.append((time.perf_counter() - started) * 1000)


async def set_latency(base: str, latency_ms: float) -> None:
    """Every response of the bench's project takes `latency_ms` (background ones too)."""
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{base}/_sandbox/projects/proj_bench/model/timing",
            json={"response_latency_seconds": latency_ms / 1000},
        )
        answer.raise_for_status()


@dataclass
class Phase:
    """One way of running `users` x `turns`: Ferry's samples, or the SDK loop's walls."""

    users: int
    turns: int
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    turns_per_s: float = 0.0
    # CPU ms per turn: worker, sandbox, producer (Ferry); sandbox, client (SDK loop).
    cpu: list[float] = field(default_factory=list)

    def p(self, name: str, q: int) -> float:
        return percentile(self.samples[name], q)


async def measure(phase: Phase, pids: list[int | str], users: list[Awaitable[None]]) -> None:
    """Run the phase's users at once: its turns per second and each pid's CPU ms per turn."""
    before = [cpu_ms(pid) for pid in pids]
    started = time.perf_counter()
    await asyncio.gather(*users)
    phase.turns_per_s = phase.users * phase.turns / (time.perf_counter() - started)
    after = [cpu_ms(pid) for pid in pids]
    phase.cpu = [(a - b) / (phase.users * phase.turns) for a, b in zip(after, before, strict=True)]


async def run_ferry(client: FerryClient, sandbox: int, phase: Phase, tag: str) -> None:
    samples = phase.samples
    users = [ferry_user(client, f"{tag}{u}", phase.turns, samples) for u in range(phase.users)]
    await measure(phase, [worker_pid(), sandbox, "self"], users)


async def run_sdk(sdk: AsyncOpenAI, sandbox: int, phase: Phase, tag: str) -> None:
    walls = phase.samples["wall"]
    users = [sdk_user(sdk, f"{tag}{u}", phase.turns, walls) for u in range(phase.users)]
    await measure(phase, [sandbox, "self"], users)


def report(title: str, ferry: Phase, sdk: Phase) -> None:
    users = f"{ferry.users} user{'s' if ferry.users > 1 else ''}"
    print(f"{title}: {users} x {ferry.turns} turns each way")
    print(f"{'':30}{'p50 ms':>10}{'p99 ms':>10}{'turns/s':>10}")
    rows = [
        ("Ferry turn (producer wall)", ferry.samples["wall"], ferry.turns_per_s),
        ("plain SDK loop (baseline)", sdk.samples["wall"], sdk.turns_per_s),
        ("Ferry overhead", ferry.samples["overhead"], None),
        ("  of it in the handler", ferry.samples["handler"], None),
        ("  of it pacing", ferry.samples["pacing"], None),
        ("Ferry's time in OpenAI calls", ferry.samples["openai"], None),
        ("push (turn end -> producer)", ferry.samples["push"], None),
    ]
    for label, values, rate in rows:
        shown = f"{rate:>10.1f}" if rate is not None else ""
        print(f"{label:30}{percentile(values, 50):>10.2f}{percentile(values, 99):>10.2f}{shown}")
    worker_cpu, sandbox_cpu, producer_cpu = ferry.cpu
    print(
        f"CPU per turn (ms): Ferry: worker {worker_cpu:.1f}, producer {producer_cpu:.1f}, "
        f"sandbox {sandbox_cpu:.1f}; SDK loop: client {sdk.cpu[1]:.1f}, sandbox {sdk.cpu[0]:.1f}"
    )
    print()


async def main(users: int, turns: int, solo_turns: int, latency_ms: float) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(port)
    os.environ.update(
        OPENAI_BENCH_API_KEY=KEY,
        OPENAI_BENCH_BASE_URL=f"{base}/v1",
        OPENAI_BENCH_API_STYLE="responses",
    )
    alone, together = Phase(1, solo_turns), Phase(users, turns)
    alone_sdk, together_sdk = Phase(1, solo_turns), Phase(users, turns)
    try:
        await until_up(base)
        await set_latency(base, latency_ms)
        async with isolated_ferry(__file__) as client:
            await registry_writes.write(
                client.db, client.redis, client.keys, PROFILE, parse_spec(ASSISTANT)
            )
            run = secrets.token_hex(3)
            # Warm-up: connections, the config cache, the sandbox's first answers.
            await run_ferry(client, sandbox.pid, Phase(users, 2), f"w{run}")
            await run_ferry(client, sandbox.pid, alone, f"a{run}")
            await run_ferry(client, sandbox.pid, together, f"u{run}")
        # The worker has stopped: the SDK loop has the machine to itself.
        sdk = AsyncOpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
        await run_sdk(sdk, sandbox.pid, Phase(users, 2), "w")
        await run_sdk(sdk, sandbox.pid, alone_sdk, "a")
        await run_sdk(sdk, sandbox.pid, together_sdk, "s")
        await sdk.close()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print(
        f"every other turn calls a tool; the sandbox answers each response in {latency_ms:g} ms\n"
    )
    report("one user (nothing else queues: the latency Ferry adds)", alone, alone_sdk)
    report("concurrent users (throughput; turns queue for the CPU)", together, together_sdk)
    print(
        f"summary: overhead_p50_ms={alone.p('overhead', 50):.2f} "
        f"overhead_p99_ms={alone.p('overhead', 99):.2f} push_p50_ms={alone.p('push', 50):.2f} "
        f"turns_per_s={together.turns_per_s:.1f} "
        f"baseline_turn_p50_ms={alone_sdk.p('wall', 50):.2f} "
        f"baseline_turns_per_s={together_sdk.turns_per_s:.1f} "
        f"loaded_overhead_p50_ms={together.p('overhead', 50):.2f} "
        f"loaded_push_p50_ms={together.p('push', 50):.2f} "
        f"loaded_baseline_turn_p50_ms={together_sdk.p('wall', 50):.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument(
        "--solo-turns",
        type=int,
        default=40,
        help="turns of the one-user phase, run first (default 40)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="how long the sandbox takes per response (default 0: Ferry's costs alone)",
    )
    parser.add_argument("--serve", nargs=2, metavar=("SCHEMA", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(
            *args.serve,
            [Queue.chat],
            chat_python_tools={"lookup": "chat_overhead.lookup"},
            worker_max_jobs=50,
        )
    else:
        asyncio.run(main(args.users, args.turns, args.solo_turns, args.latency_ms))
