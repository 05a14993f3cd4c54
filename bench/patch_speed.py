"""Exact patches on a 200 KB prompt with 1,000 blocks: local re-mapping vs re-parsing, and a job.

In one run: the same sequence of exact edits is applied two ways, interleaved edit by edit —
Ferry's patch (`apply_exact`: locate in the block's span, splice, shift the later spans) and
the naive way (splice, then re-parse the whole prompt to find the blocks again); both
results are checked equal. Then, against the local Redis and Postgres with a worker in a
subprocess, patch jobs go end to end through the queue (enqueue → worker → pushed result).

    python bench/patch_speed.py [--patches 2000] [--jobs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from harness import isolated_ferry, serve  # bench/harness.py (this folder is on sys.path)

from schemas.assistants import parse_spec
from schemas.flows import BlockSpan, Edit, PatchPrompt
from schemas.keys import Queue
from store import registry_writes
from worker.flows.parser import parse_prompt
from worker.flows.patch import apply_exact

PROFILE, ASSISTANT = "bench", "sofia"
WORDS = [
    "agenda",
    "consulta",
    "paciente",
    "horário",
    "clínica",
    "sorriso",
    "retorno",
    "exame",
    "лечение",
    "запись",
    "😊",
]


def big_prompt(blocks: int = 1000, rng: random.Random | None = None) -> str:
    """About 200 KB: globals, then steps of filler text, quoted phrases and keyword lines."""
    rng = rng or random.Random(1)
    lines = ["# IDENTIDADE", "Você é a Sofia, recepcionista da Clínica Sorriso Feliz.", ""]
    for n in range(blocks):
        if n % 10 == 0:
            lines += ["", f"# ETAPA {n // 10 + 1}"]
        filler = " ".join(rng.choice(WORDS) for _ in range(14))
        lines.append(f"Observação {n}: {filler}.")
        phrase = " ".join(rng.choice(WORDS) for _ in range(6))
        kind = n % 5
        if kind == 3:
            lines.append(f"AGUARDE a resposta {n}: {phrase}.")
        elif kind == 4:
            lines.append(f"CHAME tool ferramenta_{n} com {phrase}.")
        else:
            lines.append(f'Diga: "Frase {n}: {phrase}."')
    return "\r\n".join(lines) + "\r\n"


def edit_for(canonical: str, span: BlockSpan, rng: random.Random, n: int) -> Edit:
    """Replace the block's unique leading words by a new text of another length."""
    text = canonical[span.prompt_start : span.prompt_end]
    old = text[: text.index(" ", 6)]
    return Edit(
        block_id=span.block_id, old_text=old, new_text=f"{old} v{n}{'!' * rng.randint(0, 5)}"
    )


def naive_patch(canonical: str, mapping: list[BlockSpan], edit: Edit) -> list[BlockSpan]:
    """The way Ferry does not: splice the edit in, then parse the whole prompt again."""
    span = next(s for s in mapping if s.block_id == edit.block_id)
    at = canonical.index(edit.old_text, span.prompt_start, span.prompt_end)
    text = canonical[:at] + edit.new_text + canonical[at + len(edit.old_text) :]
    return parse_prompt(text).blocks


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def in_process(patches: int) -> tuple[float, float, int, int]:
    """p50 of Ferry's patch and of the naive way, in ms; the prompt's size and block count."""
    prompt = big_prompt()
    parsed = parse_prompt(prompt)
    canonical, mapping = parsed.canonical, parsed.canonical_mapping()
    # The naive way sees the canonical prompt alone, so both work on the same text and ids.
    assert parse_prompt(canonical).blocks == mapping
    rng = random.Random(7)
    ours, naive = [], []
    for n in range(patches):
        edit = edit_for(canonical, rng.choice(mapping), rng, n)
        started = time.perf_counter()
        outcome = apply_exact(canonical, mapping, [edit])
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        reparsed = naive_patch(canonical, mapping, edit)
        naive.append((time.perf_counter() - started) * 1000)
        if n % 100 == 0:  # both ways agree (checked outside the timings)
            assert [(s.prompt_start, s.prompt_end) for s in reparsed] == [
                (s.prompt_start, s.prompt_end) for s in outcome.mapping
            ]
        canonical, mapping = outcome.canonical, outcome.mapping
    return percentile(ours, 50), percentile(naive, 50), len(prompt.encode()), len(mapping)


async def through_the_queue(jobs: int) -> tuple[list[float], list[float], list[float]]:
    """Per patch job, one after another: ms from enqueue to result, queued, and running."""
    total, queued, running = [], [], []
    ids: list[str] = []
    async with isolated_ferry(__file__) as client:
        spec = parse_spec({"name": ASSISTANT, "model": "gpt-4o"})
        await registry_writes.write(client.db, client.redis, client.keys, PROFILE, spec)
        ops = client.flows
        await ops.import_prompt(PROFILE, ASSISTANT, big_prompt(), requested_by="bench")
        rng = random.Random(11)
        for n in range(jobs + 5):
            view = await ops.show(PROFILE, ASSISTANT)
            edit = edit_for(view.canonical, rng.choice(view.mapping), rng, n)
            job = PatchPrompt(
                profile=PROFILE,
                assistant=ASSISTANT,
                base_version=view.version,
                edits=[edit],
                requested_by="bench",
            )
            started = time.perf_counter()
            handle = await client.enqueue(job)
            await handle.result(timeout=60)
            if n >= 5:  # the first few warm up connections and the worker
                total.append((time.perf_counter() - started) * 1000)
                ids.append(handle.job_id)
        # The ledger is written just after the result is pushed: read it once all are done.
        for job_id in ids:
            row = await client.ledger_row(job_id)
            if row and row.started_at and row.finished_at:
                queued.append((row.started_at - row.created_at).total_seconds() * 1000)
                running.append((row.finished_at - row.started_at).total_seconds() * 1000)
    return total, queued, running


def main(patches: int, jobs: int) -> None:
    ours, naive, size, blocks = in_process(patches)
    print(f"prompt: {size / 1000:.0f} KB, {blocks} blocks; {patches} exact patches in sequence")
    print(f"{'':34}{'p50 ms':>10}")
    print(f"{'Ferry patch (splice + re-map)':34}{ours:>10.3f}")
    print(f"{'naive (splice + re-parse all)':34}{naive:>10.3f}")
    speedup = naive / ours
    print(f"speed-up at p50: {speedup:.0f}x")
    samples, queued, running = asyncio.run(through_the_queue(jobs))
    job_p50 = percentile(samples, 50)
    print(
        f"patch jobs end to end ({len(samples)}, one at a time, worker in a subprocess): "
        f"p50 {job_p50:.1f} ms, p90 {percentile(samples, 90):.1f} ms"
    )
    wait, run = percentile(queued, 50), percentile(running, 50)
    print(
        f"  of which waiting on the queue (arq polls the patch queue every 0.1 s): p50 "
        f"{wait:.1f} ms; running in the worker: p50 {run:.1f} ms"
    )
    figures = f"patch_p50_ms={ours:.3f} speedup_vs_reparse={speedup:.0f} job_p50_ms={job_p50:.1f}"
    print(f"summary: {figures}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=2000, help="in-process patches")
    parser.add_argument("--jobs", type=int, default=60, help="patch jobs through the queue")
    parser.add_argument("--serve", nargs=2, metavar=("SCHEMA", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve, [Queue.patch])
    else:
        main(args.patches, args.jobs)
