"""What `ferry clone` prints: a plan (per assistant, then the totals) and a run's summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas.clone import ClonePlan

console = Console(highlight=False)


def size_text(n: int) -> str:
    """Bytes in B, KiB, MiB or GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def print_plan(plan: ClonePlan) -> None:
    """Per assistant: the operation, its diff, knowledge, travel, writes; then the totals."""
    source = f"{plan.source} ({plan.source_style})"
    if (export := plan.source_export) is not None:
        kind = (
            f"Ferry snapshot of profile {export.profile}"
            if export.format == "snapshot"
            else "raw Assistants-API dump"
        )
        source = f"export file {export.filename} ({kind})"
    console.print(
        f"[bold]Plan {plan.plan_id}[/bold]: {escape(source)} → "
        f"{plan.destination} ({plan.destination_style})"
    )
    style = {"create": "green", "update": "yellow", "unchanged": "dim", "blocked": "red"}
    for a in plan.assistants:
        op = a.operation.value
        console.print(
            f"\n[{style[op]}]{op:9}[/] {escape(a.name)}  [dim]{a.source_id}"
            + (f" → {a.destination_id}" if a.destination_id else "")
            + "[/dim]"
        )
        for change in a.changes:
            console.print(
                f"    ~ {change.field}: {escape(_short(change.before))} → "
                f"{escape(_short(change.after))}"
            )
        for store in a.vector_stores:
            size = sum(plan.files[f].bytes for f in store.file_ids)
            reused = f" (reused: {store.reused_as})" if store.reused_as else ""
            console.print(
                f"    vector store {escape(store.name or store.source_id)}: "
                f"{len(store.file_ids)} file(s), {size_text(size)}{reused}"
            )
        ci = a.code_interpreter_files
        if ci:
            size = sum(plan.files[f].bytes for f in ci)
            console.print(f"    code interpreter: {len(ci)} file(s), {size_text(size)}")
        if not a.tagged:
            console.print(
                "    [yellow]the source uses all 16 metadata keys: cloned_from can't be added; "
                "the mapping table alone carries the link[/yellow]"
            )
        if a.threads:
            left = sum(t.messages - t.copied for t in a.threads)
            copied = sum(t.copied for t in a.threads)
            console.print(
                f"    threads: {len(a.threads)} → conversations, "
                f"{sum(t.messages for t in a.threads)} message(s)"
                + (f" ({copied} copied before, {left} left)" if copied else "")
            )
        elif plan.options.threads:
            console.print("    threads: none found")
        for problem in a.problems:
            console.print(f"    [red]✗ {escape(problem)}[/red]")
        console.print(f"    write requests: {a.write_requests}")
    if plan.files:
        table = Table(title="files and how their bytes travel")
        for column in ("file", "name", "bytes", "travel"):
            table.add_column(column)
        for f in plan.files.values():
            travel = f"reused ({f.reused_as})" if f.reused_as else f.travel
            table.add_row(f.source_id, escape(f.filename), str(f.bytes), travel)
        console.print(table)
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    eta = (
        f"≈ {plan.estimated_seconds:.0f} s at {plan.requests_per_minute:.0f} requests/min"
        if plan.estimated_seconds is not None
        else "the destination's limit is not known yet (it sent no rate-limit headers)"
    )
    console.print(
        f"\n[bold]{len(plan.assistants)} assistant(s), {len(plan.files)} file(s) "
        f"({size_text(sum(f.bytes for f in plan.files.values()))}), "
        f"{plan.write_requests} write request(s)[/bold], {eta}"
    )
    if plan.options.threads:
        console.print(
            f"chat history: {plan.thread_count} thread(s), {plan.thread_messages} message(s), "
            "20 per append"
        )
    console.print(f"apply it with: ferry clone apply {plan.plan_id}")


def _short(value: Any, width: int = 70) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_result(result: dict[str, Any] | None, plan_id: str) -> None:
    """The summary table and the report paths."""
    if result is None:
        console.print(f"plan {plan_id}: no result yet (is a worker serving the clone queue?)")
        return
    table = Table(title=f"clone {plan_id}")
    for column in ("assistant", "destination", "operation", "files", "writes", "error"):
        table.add_column(column)
    mark = {"success": "green", "failed": "red"}
    for m in result["mappings"]:
        table.add_row(
            escape(m["name"] or ""),
            m["dst_id"] or "",
            f"[{mark.get(m['status'], 'yellow')}]{m['operation']}[/]",
            str(len(m["files"])),
            str(m["write_requests"]),
            escape(m["error"] or ""),
        )
    console.print(table)
    s = result["summary"]
    console.print(
        f"{s['success']} of {s['total']} cloned, {s['failed']} failed, "
        f"{s['files_copied']} file(s), {s['write_requests']} write request(s)"
    )
    th = s.get("threads") or {}
    if th.get("copied") or th.get("failed"):
        console.print(
            f"threads: {th['copied']} copied, {th['failed']} failed; {th['messages']} message(s), "
            f"{th['annotations_dropped']} annotation(s) dropped, {th['images_remapped']} image(s) "
            f"re-mapped, {th['images_dropped']} assistant image(s) kept as text"
        )
    console.print(f"reports: OUTPUT_DIR/{plan_id}/mapping.json and report.md (latest: OUTPUT_DIR/)")
