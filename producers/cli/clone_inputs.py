"""What `ferry clone` reads before it enqueues anything: its options, an export, a threads CSV.

Every refusal here prints what is wrong, says nothing was changed, and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from producers.cli.clone_output import console
from schemas.assistants import SpecError
from schemas.clone import SelectionMode, ThreadRow, ThreadRowsError, parse_thread_rows
from schemas.clone_export import ExportRef, export_ref


def fail(message: str) -> typer.Exit:
    """Print `message` and that nothing changed; the exit (status 1) to raise."""
    console.print(f"[red]error:[/red] {escape(message)}")
    console.print("nothing was changed")
    return typer.Exit(1)


FromOption = Annotated[str | None, typer.Option("--from", help="Source profile.")]
FromFileOption = Annotated[
    Path | None,
    typer.Option(
        "--from-file",
        help="Source export file instead of a profile: `ferry assistants export` output or a "
        "raw Assistants-API dump.",
    ),
]
ToOption = Annotated[str | None, typer.Option("--to", help="Destination profile.")]
ModeOption = Annotated[
    SelectionMode | None, typer.Option("--mode", help="all, by_id or by_name [CLONE_MODE].")
]
IdsOption = Annotated[
    str | None, typer.Option("--ids", help="Comma-separated assistant ids [CLONE_IDS].")
]
NamesOption = Annotated[
    str | None,
    typer.Option("--names", help="Comma-separated name fragments, any case [CLONE_NAMES]."),
]
PrefixOption = Annotated[
    str | None, typer.Option("--prefix", help="Prefix for names at the destination.")
]
FileSearchOption = Annotated[
    bool | None,
    typer.Option("--file-search/--no-file-search", help="Copy vector stores and their files."),
]
CodeOption = Annotated[
    bool | None,
    typer.Option("--code-interpreter/--no-code-interpreter", help="Copy code-interpreter files."),
]
ModelMapOption = Annotated[
    list[str] | None, typer.Option("--model-map", help="old=new; repeat for several.")
]
OriginalsOption = Annotated[
    str | None,
    typer.Option("--originals", help="A directory of original files (on the worker's machine)."),
]

ThreadsOption = Annotated[
    bool,
    typer.Option(
        "--threads/--no-threads",
        help="Copy every user thread of each assistant into a conversation "
        "(assistants → responses).",
    ),
]
ThreadsFromOption = Annotated[
    Path | None,
    typer.Option(
        "--threads-from",
        help="A CSV of user_id,assistant_id,thread_id (threads Ferry did not make); "
        "implies --threads.",
    ),
]


def thread_rows(path: Path | None) -> list[ThreadRow]:
    """The rows of `--threads-from`; every bad line is printed and nothing is enqueued."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"--threads-from {path}: {error}") from None
    try:
        rows = parse_thread_rows(text, f"--threads-from {path}")
    except ThreadRowsError as error:
        for problem in error.problems:
            console.print(
                f"[red]error:[/red] --threads-from {escape(str(path))}: {escape(problem)}"
            )
        console.print(
            "fix those lines (format: user_id,assistant_id,thread_id); nothing was changed"
        )
        raise typer.Exit(1) from None
    if not rows:
        raise fail(f"--threads-from {path}: no rows (format: user_id,assistant_id,thread_id)")
    return rows


@dataclass(frozen=True)
class ExportFile:
    """An export file read and checked by the producer, before anything is enqueued."""

    data: bytes
    ref: ExportRef


def read_export(path: Path) -> ExportFile:
    """The export's bytes, checked; exit 1 naming each bad field (nothing enqueued)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise fail(f"--from-file {path}: cannot read it ({error.strerror})") from None
    try:
        return ExportFile(data, export_ref(data, path.name))
    except SpecError as error:
        for where, message in error.problems:
            console.print(f"[red]error:[/red] {escape(f'{path}: {where}: {message}')}")
        console.print("nothing was changed")
        raise typer.Exit(1) from None


def source_of(source: str | None, from_file: Path | None) -> ExportFile | None:
    """The export file when the source is one; exit 1 when both or neither are given."""
    if source and from_file:
        raise fail("--from (a profile) and --from-file (an export) both name a source: give one")
    return read_export(from_file) if from_file else None
