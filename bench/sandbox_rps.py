"""Requests per second the sandbox serves: simple GETs over loopback, no injected latency.

The sandbox runs in a subprocess (`python -m sandbox`, uvicorn with uvloop/httptools when
installed) so the client does not share its GIL. Concurrent httpx clients alternate
`GET /v1/files/{id}` and `GET /v1/vector_stores` for a bounded time and count answers.

    .venv/bin/python bench/sandbox_rps.py [--seconds 10] [--concurrency 4] [--clients 1] [--raw]
        [--baseline main]

`--baseline REF` also serves the sandbox of git ref REF (exported with `git archive` into a
temporary folder) and measures both in alternating rounds, so a loaded machine weighs on both
alike. The last line is `summary: rps=… [baseline_rps=… ratio=…]`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "sk-bench-0000000000000000000000000000"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(port: int, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """The sandbox in its own process, answering once `/_sandbox/health` does."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(port),
            "--key",
            f"{KEY}:org-bench:proj_bench",
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sandbox/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(
        f"the sandbox did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
    )


def prepare(base: str) -> str:
    """One file and one vector store to read back; the file's id."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base, headers=headers) as http:
        made = http.post(
            "/files", files={"file": ("a.txt", b"hello")}, data={"purpose": "assistants"}
        )
        made.raise_for_status()
        http.post("/vector_stores", json={"name": "bench"}).raise_for_status()
        return made.json()["id"]


async def hammer(base: str, file_id: str, seconds: float, concurrency: int) -> tuple[int, int]:
    """(ok answers, other answers) in `seconds` from `concurrency` concurrent loops.

    Each loop has its own one-connection client: httpx's shared pool serialises on a lock
    and slows down as concurrency grows, which would measure the client, not the sandbox.
    """
    headers = {"Authorization": f"Bearer {KEY}"}
    paths = [f"/files/{file_id}", "/vector_stores"]
    ok = bad = 0
    clients = [
        # trust_env=False: no proxy/netrc look-ups, which cost the client, not the sandbox
        httpx.AsyncClient(
            base_url=base,
            headers=headers,
            limits=httpx.Limits(max_connections=1),
            trust_env=False,
        )
        for _ in range(concurrency)
    ]
    deadline = time.monotonic() + seconds

    async def loop(http: httpx.AsyncClient, n: int) -> None:
        nonlocal ok, bad
        while time.monotonic() < deadline:
            answer = await http.get(paths[n % 2])
            n += 1
            if answer.status_code == 200:
                ok += 1
            else:
                bad += 1

    try:
        await asyncio.gather(*(loop(http, i) for i, http in enumerate(clients)))
    finally:
        for http in clients:
            await http.aclose()
    return ok, bad


async def hammer_raw(base: str, file_id: str, seconds: float, concurrency: int) -> tuple[int, int]:
    """The same load from a bare keep-alive HTTP/1.1 client: the sandbox's own ceiling."""
    host, port = base.removeprefix("http://").split("/")[0].split(":")
    requests = [
        f"GET /v1{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode()
        for path in (f"/files/{file_id}", "/vector_stores")
    ]
    deadline = time.monotonic() + seconds

    async def loop(n: int) -> tuple[int, int]:
        reader, writer = await asyncio.open_connection(host, int(port))
        ok = bad = 0
        while time.monotonic() < deadline:
            writer.write(requests[n % 2])
            n += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                bad += 1
        writer.close()
        return ok, bad

    results = await asyncio.gather(*(loop(i) for i in range(concurrency)))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _client(args: tuple[str, str, float, int, bool]) -> tuple[int, int]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    *work, raw = args
    return asyncio.run((hammer_raw if raw else hammer)(*work))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used: robust to a loaded machine, unlike
    wall-clock throughput. Linux only (/proc); 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(root: Path, args: argparse.Namespace, seconds: float) -> tuple[float, int, int, float]:
    """(answers per second, ok, non-200, server CPU µs per answer) of `root`'s sandbox."""
    port = free_port()
    proc = start_sandbox(port, root)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        file_id = prepare(base)
        _client((base, file_id, 1.0, args.concurrency, args.raw))  # warm-up, not counted
        started = time.monotonic()
        cpu_before = cpu_seconds(proc.pid)
        work = [(base, file_id, seconds, args.concurrency, args.raw)] * args.clients
        if args.clients == 1:
            results = [_client(work[0])]
        else:
            with multiprocessing.Pool(args.clients) as pool:
                results = pool.map(_client, work)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(proc.pid) - cpu_before
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ok = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    return ok / elapsed, ok, bad, cpu * 1e6 / max(1, ok + bad)


def export_ref(ref: str, into: Path) -> Path:
    """The tree of git ref `ref` written under `into` (sandbox/ is all the baseline needs)."""
    archive = subprocess.run(
        ["git", "archive", ref, "sandbox"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4, help="in-flight requests per client")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument(
        "--raw", action="store_true", help="a bare asyncio HTTP client instead of httpx"
    )
    parser.add_argument("--baseline", metavar="REF", help="also measure the sandbox of git REF")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (baseline)")
    args = parser.parse_args()
    kind = (
        f"{args.clients} {'raw' if args.raw else 'httpx'} client process(es) x "
        f"{args.concurrency} concurrent; {os.cpu_count()} CPUs"
    )
    if not args.baseline:
        rps, ok, bad, cpu_us = measure(ROOT, args, args.seconds)
        print(f"sandbox: {rps:,.0f} req/s ({ok} ok, {bad} non-200 in {args.seconds:.1f} s; {kind})")
        print(f"  server CPU per answer: {cpu_us:.0f} µs")
        print(f"summary: rps={rps:.0f} cpu_us_per_req={cpu_us:.0f} non_200={bad}")
        return 0 if bad == 0 else 1
    with tempfile.TemporaryDirectory(prefix="sandbox-baseline-") as folder:
        baseline_root = export_ref(args.baseline, Path(folder))
        per_round = args.seconds / args.rounds
        ours: list[float] = []
        theirs: list[float] = []
        cpu: dict[Path, list[float]] = {ROOT: [], baseline_root: []}
        bad = 0
        for _ in range(args.rounds):
            for root, figures in ((baseline_root, theirs), (ROOT, ours)):
                rps, _, non_200, cpu_us = measure(root, args, per_round)
                figures.append(rps)
                cpu[root].append(cpu_us)
                bad += non_200
        cpu_us, baseline_cpu_us = (sum(cpu[r]) / args.rounds for r in (ROOT, baseline_root))
    rps, baseline_rps = sum(ours) / len(ours), sum(theirs) / len(theirs)
    print(f"sandbox ({kind}), {args.rounds} alternating rounds of {per_round:.1f} s:")
    print(f"  this tree      {rps:,.0f} req/s  (rounds: {', '.join(f'{r:,.0f}' for r in ours)})")
    print(
        f"  {args.baseline:<14} {baseline_rps:,.0f} req/s  "
        f"(rounds: {', '.join(f'{r:,.0f}' for r in theirs)})"
    )
    print(f"  server CPU per answer: {cpu_us:.0f} µs (baseline {baseline_cpu_us:.0f} µs)")
    print(
        f"summary: rps={rps:.0f} baseline_rps={baseline_rps:.0f} "
        f"ratio={rps / baseline_rps:.3f} cpu_us_per_req={cpu_us:.0f} "
        f"baseline_cpu_us_per_req={baseline_cpu_us:.0f} non_200={bad}"
    )
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
