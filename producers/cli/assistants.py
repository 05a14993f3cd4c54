"""`ferry assistants`: the registry from the ops desk — list, show, apply, delete, export, import.

`apply` is declarative: it makes the registry match the file and prints what changed, field
by field; applying the same file again changes nothing. Every write is announced to the
workers' config caches. A refused file changes nothing, and the error names the field.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from producers import knowledge as local_knowledge
from producers.cli.knowledge import sync_knowledge
from producers.cli.stores import with_client
from producers.cli.yaml_text import dump_yaml
from producers.client import FerryClient
from producers.knowledge import KnowledgeSettings, LocalKnowledge
from schemas.assistant_changes import FieldChange
from schemas.assistants import AssistantSpec, SpecError, parse_spec
from schemas.knowledge import parse_knowledge
from schemas.profiles import defined_profiles, environment, unknown_profile
from schemas.registry_snapshot import RegistrySnapshot, read_import
from store import registry, registry_writes
from store.registry import WriteResult

app = typer.Typer(help="Assistant definitions in the registry.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile", "-p", envvar="FERRY_PROFILE", help="Connection profile (OPENAI_<NAME>_…)."
    ),
]
_SHOWN_CHARS = 80


def _run(action: Callable[[FerryClient], Awaitable[T]], source: str = "") -> T:
    try:
        return with_client(action)
    except SpecError as error:
        _refuse(error, source)
    except registry.RegistryError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
    raise typer.Exit(1)


def _refuse(error: SpecError, source: str = "") -> None:
    for path, message in error.problems:
        console.print(f"[red]error:[/red] {escape(f'{source}{path}: {message}')}", highlight=False)
    console.print("nothing was changed")


def _check_profile(profile: str) -> None:
    defined = defined_profiles(environment())
    if profile not in defined:
        message = f"profile: {unknown_profile(profile, defined)}"
        console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
        console.print("nothing was changed")
        raise typer.Exit(1)


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _print_result(result: WriteResult, *, dry_run: bool = False) -> None:
    name = escape(result.entry.name)
    if not result.changed:
        console.print(f"[bold]{name}[/bold]: no changes (version {result.entry.version})")
        return
    verb = "created" if result.created else "updated"
    if dry_run:
        verb = f"would be {verb}"
    console.print(f"[bold]{name}[/bold]: {verb}, version {result.entry.version}")
    console.print(_changes_table(result.changes))


def _changes_table(changes: list[FieldChange]) -> Table:
    table = Table("field", "before", "after", show_lines=False)
    for change in changes:
        table.add_row(
            escape(change.field), escape(_shown(change.before)), escape(_shown(change.after))
        )
    return table


def _read_specs(path: Path) -> tuple[list[AssistantSpec], list[str], list[LocalKnowledge]]:
    """The specs of an apply file, where each sits in it (for error paths), and the
    `knowledge:` blocks (taken out of the specs: knowledge is not part of a definition)."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SpecError([("file", f"cannot read it: {error}")]) from None
    if isinstance(data, dict) and isinstance(data.get("assistants"), list):
        entries, prefix = data["assistants"], "assistants"
    elif isinstance(data, list):
        entries, prefix = data, ""
    else:
        entries, prefix = [data], None
    specs, labels, problems, knowledge = [], [], [], []
    for index, entry in enumerate(entries):
        label = "" if prefix is None else f"{prefix}[{index}]"
        block = None
        if isinstance(entry, dict) and "knowledge" in entry:
            entry = dict(entry)
            where = f"{label}.knowledge" if label else "knowledge"
            try:
                block = parse_knowledge(entry.pop("knowledge"), where)
            except SpecError as error:
                problems.extend(error.problems)
        try:
            spec = parse_spec(entry, prefix=label)
        except SpecError as error:
            problems.extend(error.problems)
            continue
        specs.append(spec)
        labels.append(label)
        if block is not None:
            knowledge.append(LocalKnowledge(spec.name, label, block))
    seen: set[str] = set()
    for spec, label in zip(specs, labels, strict=True):
        if spec.name in seen:
            problems.append((f"{label}.name", f"{spec.name!r} appears twice"))
        seen.add(spec.name)
    if problems:
        raise SpecError(problems)
    return specs, labels, knowledge


@app.command("list")
def list_assistants(
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Only this profile (default: all).")
    ] = None,
) -> None:
    """Every assistant in the registry."""
    entries = _run(lambda s: registry.list_entries(s.db, profile))
    table = Table("profile", "name", "model", "tools", "version", "updated")
    for entry in entries:
        table.add_row(
            escape(entry.profile),
            escape(entry.name),
            escape(entry.spec.model),
            escape(", ".join(tool.name for tool in entry.spec.tools) or "—"),
            str(entry.version),
            entry.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)
    console.print(f"{len(entries)} assistant(s)")


@app.command()
def show(name: str, profile: ProfileOption = "default") -> None:
    """One assistant's spec, as YAML that `apply -f` takes back unchanged."""
    entry = _run(lambda s: registry.get(s.db, profile, name))
    if entry is None:
        console.print(
            f"[red]error:[/red] {escape(f'no assistant {name!r} in profile {profile!r}')}"
        )
        raise typer.Exit(1)
    header = f"# {profile}/{name}: version {entry.version}, id {entry.id}"
    if entry.remote_id:
        header += f", remote {entry.remote_id}"
    data = entry.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    typer.echo(header)
    typer.echo(dump_yaml(data), nl=False)


@app.command()
def apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="YAML or JSON: one spec or a list.")],
    profile: ProfileOption = "default",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and show the changes; write nothing.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to follow knowledge syncs (they go on after).")
    ] = 1800.0,
) -> None:
    """Create or update assistants to match FILE, printing each change.

    An assistant with `knowledge: {files: [...], chunking: ...}` gets its files uploaded
    (once per content) into a vector store of its own by a worker, with progress shown.
    """
    _check_profile(profile)
    try:
        specs, labels, knowledge = _read_specs(file)
        max_mb = KnowledgeSettings().knowledge_max_file_mb
        local_knowledge.resolve(knowledge, file.parent, max_mb)
    except SpecError as error:
        _refuse(error, f"{file}: ")
        raise typer.Exit(1) from None

    async def act(client: FerryClient) -> tuple[list[WriteResult], bool]:
        wired = await local_knowledge.with_stores(client, profile, specs, knowledge)
        results = await registry_writes.write_many(
            client.db, client.redis, client.keys, profile, wired, labels=labels, dry_run=dry_run
        )
        for result in results:
            _print_result(result, dry_run=dry_run)
        if dry_run or not knowledge:
            return results, True
        return results, await sync_knowledge(client, profile, knowledge, timeout=timeout)

    _, ok = _run(act, source=f"{file}: ")
    if dry_run:
        for item in knowledge:
            console.print(
                f"[bold]{escape(item.assistant)}[/bold]: knowledge would sync "
                f"{len(item.paths)} file(s)"
            )
        console.print("dry run: nothing was written")
    if not ok:
        raise typer.Exit(1)


@app.command()
def delete(name: str, profile: ProfileOption = "default") -> None:
    """Delete an assistant (its links, tool resources and user threads go with it)."""
    deleted = _run(lambda s: registry_writes.delete(s.db, s.redis, s.keys, profile, name))
    if not deleted:
        console.print(
            f"[red]error:[/red] {escape(f'no assistant {name!r} in profile {profile!r}')}"
        )
        raise typer.Exit(1)
    console.print(f"deleted [bold]{escape(name)}[/bold] from profile {escape(repr(profile))}")


@app.command()
def export(
    profile: ProfileOption = "default",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """A versioned JSON snapshot of one profile's assistants."""
    entries = _run(lambda s: registry.list_entries(s.db, profile))
    text = RegistrySnapshot.of(profile, [entry.spec for entry in entries]).to_json()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, "utf-8")
        console.print(f"exported {len(entries)} assistant(s) of profile {profile!r} to {output}")


@app.command("import")
def import_(
    file: Path,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Into this profile (default: the snapshot's)."),
    ] = None,
) -> None:
    """Import a snapshot, or a raw Assistants-API dump (a list of v2 assistant objects)."""
    try:
        batch = read_import(json.loads(file.read_text("utf-8")))
    except (OSError, json.JSONDecodeError) as error:
        _refuse(SpecError([("file", f"cannot read {file}: {error}")]))
        raise typer.Exit(1) from None
    except SpecError as error:
        _refuse(error, f"{file}: ")
        raise typer.Exit(1) from None
    target = profile or batch.profile
    if target is None:
        _refuse(SpecError([("profile", "a raw Assistants-API dump needs --profile")]))
        raise typer.Exit(1)
    _check_profile(target)
    results = _run(
        lambda s: registry_writes.write_many(
            s.db, s.redis, s.keys, target, batch.specs, labels=batch.labels
        ),
        source=f"{file}: ",
    )
    for result, source_id in zip(results, batch.source_ids, strict=True):
        if source_id:
            console.print(f"{escape(source_id)} → [bold]{escape(result.entry.name)}[/bold]")
        _print_result(result)
    changed = sum(result.changed for result in results)
    console.print(f"imported {len(results)} assistant(s) into {target!r}: {changed} changed")
