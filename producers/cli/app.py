"""`ferry`: the ops CLI.

Programs that are not the producer's own (the worker, the sandbox, the doctor, which reads
the worker's settings) are started by module path, as `arq` starts a worker, so this package
never imports `worker/` or `sandbox/`.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from producers.cli import api, assistants, chat, clone, db, flow, jobs

app = typer.Typer(
    name="ferry",
    help="Ferry: clone, patch and run OpenAI assistants through queued jobs.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(db.app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(assistants.app, name="assistants")
app.add_typer(flow.app, name="flow")
app.add_typer(api.app, name="api")
app.command("run")(chat.run)
app.command("chat")(chat.chat)
app.add_typer(clone.app, name="clone")


def _run_module(module: str, args: list[str]) -> None:
    """Replace this process with `python -m module args…` (signals reach it directly)."""
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *args])


@app.command()
def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue", "-q", help="chat, clone or patch; repeat for several (default: all)"
        ),
    ] = None,
    burst: Annotated[bool, typer.Option(help="Exit once the queues are empty.")] = False,
) -> None:
    """Run a worker for one or more queues until SIGTERM."""
    args = [arg for name in queue or [] for arg in ("--queue", name)]
    _run_module("worker", [*args, *(["--burst"] if burst else [])])


@app.command(
    # `--help` too goes to the sandbox's own parser, which lists its options
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    }
)
def sandbox(ctx: typer.Context) -> None:
    """Start the local OpenAI-compatible sandbox (options: `ferry sandbox --help`)."""
    _run_module("sandbox", list(ctx.args))


@app.command()
def doctor() -> None:
    """Check Redis, Postgres, migrations and every connection profile; non-zero on failure."""
    _run_module("worker.doctor", [])


def main() -> None:
    app()
