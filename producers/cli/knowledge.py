"""`ferry assistants apply`'s knowledge syncs: enqueue, live progress, then what each did."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from producers import knowledge as local_knowledge
from producers.client import FerryClient
from producers.knowledge import LocalKnowledge
from schemas.knowledge import KnowledgeSyncResult
from schemas.results import JobOutcome, JobStatus

console = Console()
PHASES = {
    "upload": "uploading",
    "detach": "detaching",
    "attach": "attaching",
    "ingest": "ingesting",
}


async def sync_knowledge(
    client: FerryClient, profile: str, items: list[LocalKnowledge], *, timeout: float
) -> bool:
    """Enqueue each assistant's sync, follow it with a bar each, print the results; False if
    a job failed or a file was not ingested."""
    handles = [await local_knowledge.enqueue(client, profile, item) for item in items]
    names = {h.job_id: item.assistant for h, item in zip(handles, items, strict=True)}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, TaskID] = {
            h.job_id: progress.add_task(f"{escape(names[h.job_id])}: queued", total=len(item.paths))
            for h, item in zip(handles, items, strict=True)
        }

        def seen(job_id: str, data: dict[str, Any]) -> None:
            phase = PHASES.get(str(data.get("phase")), str(data.get("phase")))
            label = f"{escape(names[job_id])}: {phase}"
            if data.get("file"):
                label += f" {escape(str(data['file']))}"
            if data.get("failed"):
                label += f" ([red]{data['failed']} failed[/red])"
            progress.update(
                tasks[job_id],
                description=label,
                completed=int(data.get("done", 0)),
                total=max(int(data.get("total", 0)), 1),
            )

        try:
            outcomes = await local_knowledge.follow(client, handles, seen, timeout=timeout)
        except TimeoutError:
            console.print(
                f"[yellow]still syncing after {timeout:g} s; the jobs go on: "
                f"{', '.join(h.job_id for h in handles)} (`ferry jobs wait ID`)[/yellow]"
            )
            return False
    return all([_show(names[job_id], outcome) for job_id, outcome in outcomes.items()])


def _show(name: str, outcome: JobOutcome) -> bool:
    if outcome.status is not JobStatus.succeeded or outcome.result is None:
        message = outcome.error.message if outcome.error else outcome.status.value
        console.print(f"[red]{escape(name)}: knowledge sync failed: {escape(message)}[/red]")
        return False
    result = KnowledgeSyncResult.model_validate(outcome.result)
    uploaded = sum(f.uploaded for f in result.files)
    attached = sum(f.attached for f in result.files)
    store = "created" if result.store_created else "reused"
    wired = (
        f"wired into version {result.wired_version}"
        if result.wired_version is not None
        else "already wired"
    )
    if result.remote_wired:
        wired += " and into the remote v2 assistant"
    console.print(
        f"[bold]{escape(name)}[/bold]: vector store {result.vector_store_id} ({store}), "
        f"{len(result.files)} file(s): {uploaded} uploaded, {len(result.files) - uploaded} "
        f"reused, {attached} attached, {len(result.detached)} detached; {wired}; "
        f"{result.write_requests} write request(s)",
        highlight=False,
    )
    table = Table("file", "status", "file id", "bytes", "upload")
    for file in result.files:
        status = file.status if file.status == "completed" else f"[red]{file.status}[/red]"
        table.add_row(
            escape(file.name),
            status,
            file.file_id,
            str(file.bytes),
            "uploaded" if file.uploaded else "reused",
        )
    console.print(table)
    for file in result.failed:
        console.print(
            f"[red]{escape(file.name)}: ingestion {file.status}: {escape(file.error or '')}"
            "[/red]: use a format file_search reads (text, Markdown, PDF, …) and apply again",
            highlight=False,
        )
    return not result.failed
