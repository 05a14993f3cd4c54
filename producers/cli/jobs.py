"""`ferry jobs`: the ledger, seen from the ops desk."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from producers.cli.stores import with_client
from producers.client import FerryClient
from producers.errors import JobFailed, ResultTimeout
from schemas.results import JobStatus
from store.ledger import LedgerJob

app = typer.Typer(help="Jobs in the ledger: list, show, wait.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

_STYLE = {
    JobStatus.queued: "yellow",
    JobStatus.running: "cyan",
    JobStatus.succeeded: "green",
    JobStatus.failed: "red",
    JobStatus.cancelled: "magenta",
}


def _status(status: JobStatus) -> str:
    return f"[{_STYLE[status]}]{status.value}[/]"


@app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """The newest jobs first."""
    rows = with_client(lambda c: c.jobs(status=status, kind=kind, limit=limit))
    table = Table(title=f"{len(rows)} job(s)")
    for column in ("id", "kind", "queue", "status", "tries", "created", "finished"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.id,
            row.kind,
            row.queue,
            _status(row.status),
            str(row.attempts),
            f"{row.created_at:%Y-%m-%d %H:%M:%S}",
            f"{row.finished_at:%H:%M:%S}" if row.finished_at else "",
        )
    console.print(table)


def _show(row: LedgerJob) -> None:
    console.print(f"[bold]{row.id}[/bold]  {row.kind} on {row.queue}  {_status(row.status)}")
    console.print(f"attempts {row.attempts}, timeout {row.timeout_s} s")
    console.print(f"created {row.created_at:%Y-%m-%d %H:%M:%S%z}", highlight=False)
    if row.finished_at:
        console.print(f"finished {row.finished_at:%Y-%m-%d %H:%M:%S%z}", highlight=False)
    console.print_json(json.dumps({"payload": row.payload}))
    if row.result is not None:
        console.print_json(json.dumps({"result": row.result}))
    if row.error is not None:
        console.print_json(json.dumps({"error": row.error}))


@app.command()
def show(job_id: str) -> None:
    """One job: payload, status, result or error."""
    row = with_client(lambda c: c.ledger_row(job_id))
    if row is None:
        console.print(f"[red]no job {job_id!r} in the ledger[/red]")
        raise typer.Exit(1)
    _show(row)


@app.command()
def wait(
    job_id: str,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = 300.0,
) -> None:
    """Wait for a job to finish; exit 0 if it succeeded, 1 if it failed, 2 on time-out."""

    async def action(client: FerryClient) -> LedgerJob | None:
        if await client.ledger_row(job_id) is None:
            return None
        with contextlib.suppress(JobFailed):
            await client.handle(job_id).result(timeout=timeout)
        return await client.ledger_row(job_id)

    try:
        row = with_client(action)
    except ResultTimeout as error:
        console.print(f"[yellow]{error}[/yellow]")
        raise typer.Exit(2) from None
    if row is None:
        console.print(f"[red]no job {job_id!r} in the ledger[/red]")
        raise typer.Exit(1)
    _show(row)
    raise typer.Exit(0 if row.status is JobStatus.succeeded else 1)
