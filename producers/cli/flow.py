"""`ferry flow`: prompt flows from the ops desk: import, show, patch, history, diff, publish,
restore.

Import, patch and publish run as jobs on the `patch` queue (a worker must be running); the
rest read or write the store directly. A refused request changes nothing and says why.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from producers.cli.stores import with_client
from producers.cli.yaml_text import dump_yaml
from producers.client import FerryClient
from producers.errors import FerryError, JobFailed
from producers.flows import FlowError, StaleFlow
from schemas.flows import PRODUCTION_LABEL, Edit, PatchMode, PatchResult, PublishResult
from schemas.jobs import field_errors

app = typer.Typer(
    help="Prompt flows: canonical prompts, block maps, patches.", no_args_is_help=True
)
console = Console(highlight=False)
T = TypeVar("T")

ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile", "-p", envvar="FERRY_PROFILE", help="Connection profile (OPENAI_<NAME>_…)."
    ),
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", envvar="FERRY_USER", help="Who asks (recorded on the version)."),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the job's result.")
]


def _requester(by: str | None) -> str:
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}")
    console.print("nothing was changed")
    return typer.Exit(1)


def _run(action: Callable[[FerryClient], Awaitable[T]]) -> T:
    try:
        return with_client(action)
    except FlowError as error:
        raise _fail(str(error)) from None
    except StaleFlow as stale:
        raise _fail(f"conflict: the flow changed meanwhile ({stale}): try again") from None
    except ValidationError as error:
        for problem in field_errors(error):
            console.print(f"[red]error:[/red] {escape(f'{problem.loc}: {problem.message}')}")
        console.print("nothing was changed")
        raise typer.Exit(1) from None
    except JobFailed as failed:
        detail = failed.error.detail
        where = f" ({detail['loc']})" if "loc" in detail else ""
        raise _fail(f"{failed.error.message}{where}") from None
    except FerryError as error:
        raise _fail(str(error)) from None


@app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help="The registry assistant the flow belongs to.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="The prompt, as UTF-8 text.")],
    profile: ProfileOption = "default",
    by: ByOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Parse a prompt (globals, blocks in order) into the flow's next version."""
    try:
        # newline="" keeps CRLF line ends: offsets are taken on the text exactly as given.
        with file.open(encoding="utf-8", newline="") as handle:
            prompt = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(f"cannot read {file}: {error}") from None
    result = _run(
        lambda c: c.flows.import_prompt(
            profile, name, prompt, requested_by=_requester(by), timeout=timeout
        )
    )
    verb = "created" if result.created else "replaced"
    sections = ", ".join(result.globals_sections) or "—"
    console.print(
        f"[bold]{escape(name)}[/bold]: flow {verb}, version {result.version}: "
        f"{len(result.mapping)} block(s), globals {escape(sections)}"
        f" ({result.globals_chars} chars), canonical {result.canonical_chars} chars"
    )


@app.command()
def show(
    name: str,
    profile: ProfileOption = "default",
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="An older version (default: head).")
    ] = None,
) -> None:
    """The flow as YAML: globals, the canonical prompt, and each block with its span."""

    view = _run(lambda c: c.flows.show(profile, name, version))
    document = {
        "flow": name,
        "profile": profile,
        "version": view.version,
        "head": view.flow.version,
        "labels": view.labels,
        "globals": view.globals,
        "blocks": [
            {
                "id": span.block_id,
                "type": span.type.value,
                "span": (span.prompt_start, span.prompt_end),
                "line": span.line_number,
                **({"tool": span.tool_name} if span.tool_name else {}),
                "text": view.canonical[span.prompt_start : span.prompt_end],
            }
            for span in view.mapping
        ],
        "canonical": view.canonical,
    }
    rendered = dump_yaml(document)
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        console.print(Syntax(rendered, "yaml", theme="ansi_dark", word_wrap=True))
    else:
        typer.echo(rendered, nl=False)


def _read_edits(path: Path) -> tuple[list[Any], dict[str, Any]]:
    """Edits from a YAML file: a list of edits, or a mapping with `edits` and options."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise _fail(f"cannot read {path}: {error}") from None
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and isinstance(data.get("edits"), list):
        options = {k: v for k, v in data.items() if k != "edits"}
        unknown = sorted(set(options) - {"base_version", "mode", "context", "publish"})
        if unknown:
            raise _fail(
                f"{path}: unknown key(s) {', '.join(unknown)}; a patch file holds edits, "
                "base_version, mode, context, publish"
            )
        return data["edits"], options
    raise _fail(f"{path}: expected a list of edits, or a mapping with an `edits` list")


@app.command()
def patch(
    name: str,
    block: Annotated[str | None, typer.Argument(help="The block to edit (e.g. block_3).")] = None,
    old: Annotated[str | None, typer.Option("--old", help="Text inside the block.")] = None,
    new: Annotated[str | None, typer.Option("--new", help="Its replacement.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="YAML edits (instead of BLOCK/--old/--new).")
    ] = None,
    base: Annotated[
        int | None,
        typer.Option("--base", help="The version the edits were made on (default: head)."),
    ] = None,
    mode: Annotated[PatchMode | None, typer.Option("--mode", help="exact or semantic.")] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Guidance for a semantic rewrite.")
    ] = None,
    publish: Annotated[
        str | None, typer.Option("--publish", help="Publish the new version under this label.")
    ] = None,
    profile: ProfileOption = "default",
    by: ByOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Patch one or more blocks; every other byte of the prompt stays as it is."""
    options: dict[str, Any] = {}
    if file is not None:
        if block or old is not None or new is not None:
            raise _fail("give either BLOCK --old --new, or -f FILE, not both")
        raw_edits, options = _read_edits(file)
    elif block and old is not None and new is not None:
        raw_edits = [{"block_id": block, "old_text": old, "new_text": new}]
    else:
        raise _fail("say what to change: BLOCK --old TEXT --new TEXT, or -f edits.yaml")
    try:
        edits = [Edit.model_validate(e) for e in raw_edits]
    except ValidationError as error:
        for problem in field_errors(error):
            console.print(f"[red]error:[/red] {escape(f'edits: {problem.loc}: {problem.message}')}")
        console.print("nothing was changed")
        raise typer.Exit(1) from None
    result = _run(
        lambda c: c.flows.patch(
            profile,
            name,
            edits,
            requested_by=_requester(by),
            base_version=base if base is not None else options.get("base_version"),
            mode=mode or PatchMode(options.get("mode", "exact")),
            context=context or options.get("context"),
            publish_label=publish or options.get("publish"),
            timeout=timeout,
        )
    )
    _print_patch(result)


def _print_patch(result: PatchResult) -> None:
    rebased = f" (rebased onto v{result.rebased_onto})" if result.rebased_onto else ""
    console.print(
        f"[bold]{escape(result.assistant)}[/bold]: v{result.base_version} → "
        f"[bold]v{result.version}[/bold]{rebased}, {result.mode.value}; changed "
        f"{', '.join(result.changed_blocks) or '—'}"
    )
    for block_id in result.deleted_blocks:
        console.print(f"[yellow]deleted block {block_id}: its text is now empty[/yellow]")
    _print_diff(result.diff)
    console.print(_prefix_note(result.unchanged_prefix_chars, result.final_chars))
    if result.published is not None:
        _print_publish(result.published)


def _prefix_note(unchanged: int, total: int) -> str:
    return (
        f"prompt cache: the first {unchanged} of {total} characters are unchanged "
        "(OpenAI reuses only an unchanged prefix)"
    )


def _print_diff(diff: str) -> None:
    for line in diff.splitlines():
        colour = (
            "green"
            if line.startswith("+") and not line.startswith("+++")
            else "red"
            if line.startswith("-") and not line.startswith("---")
            else "cyan"
            if line.startswith("@@")
            else ""
        )
        console.print(f"[{colour}]{escape(line)}[/{colour}]" if colour else escape(line))


def _print_publish(result: PublishResult) -> None:
    was = f" (was v{result.previous_version})" if result.previous_version else ""
    live = (
        f"; the assistant's instructions now are this version ({result.api_style} style)"
        if result.instructions_written
        else ""
    )
    console.print(f"label [bold]{result.label}[/bold] → v{result.version}{was}{live}")
    console.print(_prefix_note(result.unchanged_prefix_chars, result.final_chars))


@app.command()
def history(name: str, profile: ProfileOption = "default") -> None:
    """Every version, newest first: what made it, who asked, when, and its labels."""
    versions = _run(lambda c: c.flows.history(profile, name))
    table = Table("version", "from", "made by", "asked by", "when", "chars", "blocks", "labels")
    for v in versions:
        table.add_row(
            str(v.version),
            f"v{v.base_version}" if v.base_version else "—",
            escape(v.kind),
            escape(v.requested_by),
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(v.canonical_chars),
            str(v.blocks),
            escape(", ".join(v.labels) or ""),
        )
    console.print(table)


@app.command()
def diff(name: str, v1: int, v2: int, profile: ProfileOption = "default") -> None:
    """A unified diff of two versions' final prompts."""
    text = _run(lambda c: c.flows.diff(profile, name, v1, v2))
    if not text:
        console.print(f"v{v1} and v{v2} are identical")
        return
    _print_diff(text)


@app.command()
def publish(
    name: str,
    version: Annotated[int | None, typer.Argument(help="Default: the head.")] = None,
    label: Annotated[
        str, typer.Option("--label", "-l", help="production makes it the instructions.")
    ] = PRODUCTION_LABEL,
    profile: ProfileOption = "default",
    by: ByOption = None,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Point a label at a version; `production` makes it the assistant's instructions."""
    result = _run(
        lambda c: c.flows.publish(
            profile, name, version, label=label, requested_by=_requester(by), timeout=timeout
        )
    )
    _print_publish(result)


@app.command()
def restore(
    name: str, version: int, profile: ProfileOption = "default", by: ByOption = None
) -> None:
    """Make an old version's text the flow's next version (publish it to make it live)."""
    number = _run(lambda c: c.flows.restore(profile, name, version, requested_by=_requester(by)))
    console.print(
        f"[bold]{escape(name)}[/bold]: v{number} restores v{version}; "
        f"`ferry flow publish {name} {number}` makes it live"
    )
