"""`ferry clone`: seed 000's replicator: plan (stored, nothing written), apply, show.

The source is a profile (`--from NAME`) or an export file (`--from-file EXPORT.json`: Ferry's
snapshot or a raw Assistants-API dump). The producer checks the export and keeps its bytes
in the blob store before anything is enqueued; the plan job reads them by hash.

The seed's environment variables (CLONE_MODE, CLONE_IDS, CLONE_NAMES, CLONE_NAME_PREFIX,
INCLUDE_FILE_SEARCH, INCLUDE_CODE_INTERPRETER, DRY_RUN) are the flags' defaults. A worker
serving the `clone` queue does the work: the producer holds no keys.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from producers.cli.clone_inputs import (
    CodeOption,
    ExportFile,
    FileSearchOption,
    FromFileOption,
    FromOption,
    IdsOption,
    ModelMapOption,
    ModeOption,
    NamesOption,
    OriginalsOption,
    PrefixOption,
    ThreadsFromOption,
    ThreadsOption,
    ToOption,
    fail,
    source_of,
    thread_rows,
)
from producers.cli.clone_output import console, print_plan, print_result, size_text
from producers.cli.stores import with_client
from producers.client import FerryClient
from producers.clone import UnknownPlan, new_request_id
from producers.errors import FerryError, JobFailed
from schemas.clone import (
    CloneOptions,
    ClonePlan,
    ClonePlanJob,
    Selection,
    SelectionMode,
)
from schemas.clone_export import ExportRef
from schemas.jobs import field_errors

app = typer.Typer(
    help="Clone assistants (from a profile or an export file): plan, apply, show.",
    no_args_is_help=True,
)
POLL_S = 0.5


class CloneDefaults(BaseSettings):
    """Seed 000's variables, as the defaults of the flags."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    clone_mode: SelectionMode = SelectionMode.all
    clone_ids: str = ""
    clone_names: str = ""
    clone_name_prefix: str = ""
    include_file_search: bool = False
    include_code_interpreter: bool = False
    dry_run: bool = False


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _run(action: Any) -> Any:
    try:
        return with_client(action)
    except UnknownPlan as error:
        raise fail(str(error)) from None
    except JobFailed as error:
        raise fail(error.outcome.error.message if error.outcome.error else str(error)) from None
    except FerryError as error:
        raise fail(str(error)) from None


async def planned(client: FerryClient, job: ClonePlanJob, export: ExportFile | None) -> ClonePlan:
    """Keep the export (if any) where the plan job reads it, then run the plan job."""
    if export is not None:
        await client.clones.keep_export(export.data, export.ref.filename)
    return await client.clones.plan(job)


def plan_job(
    source: str | None,
    destination: str | None,
    mode: SelectionMode | None,
    ids: str | None,
    names: str | None,
    prefix: str | None,
    file_search: bool | None,
    code_interpreter: bool | None,
    model_map: list[str] | None,
    originals: str | None,
    threads: bool = False,
    threads_from: Path | None = None,
    export: ExportRef | None = None,
) -> ClonePlanJob:
    """The plan job the flags (and the seed's variables under them) describe."""
    defaults = CloneDefaults()
    if export is not None:
        source = export.label
    if not source or not destination:
        raise fail(
            "--from (a profile) or --from-file (an export) names the source, --to the "
            "destination profile"
        )
    mapping: dict[str, str] = {}
    for item in model_map or []:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise fail(f"--model-map {item!r}: write it as old=new (e.g. gpt-4=gpt-4.1)")
        mapping[old.strip()] = new.strip()
    chosen_mode = mode or defaults.clone_mode
    id_list = _split(ids if ids is not None else defaults.clone_ids)
    name_list = _split(names if names is not None else defaults.clone_names)
    if mode is None and (ids or names):
        chosen_mode = SelectionMode.by_id if ids else SelectionMode.by_name
    rows = thread_rows(threads_from)
    try:
        return ClonePlanJob(
            source=source,
            source_export=export,
            destination=destination,
            selection=Selection(mode=chosen_mode, ids=id_list, names=name_list),
            options=CloneOptions(
                name_prefix=prefix if prefix is not None else defaults.clone_name_prefix,
                include_file_search=defaults.include_file_search
                if file_search is None
                else file_search,
                include_code_interpreter=defaults.include_code_interpreter
                if code_interpreter is None
                else code_interpreter,
                model_map=mapping,
                originals_dir=originals,
                threads=threads or bool(rows),
                thread_rows=rows,
                threads_from=threads_from.name if threads_from else None,
            ),
            request_id=new_request_id(),
        )
    except ValidationError as error:
        for problem in field_errors(error):
            console.print(f"[red]error:[/red] {escape(f'{problem.loc}: {problem.message}')}")
        console.print("nothing was changed")
        raise typer.Exit(1) from None


@app.command()
def plan(
    source: FromOption = None,
    from_file: FromFileOption = None,
    destination: ToOption = None,
    mode: ModeOption = None,
    ids: IdsOption = None,
    names: NamesOption = None,
    prefix: PrefixOption = None,
    file_search: FileSearchOption = None,
    code_interpreter: CodeOption = None,
    model_map: ModelMapOption = None,
    originals: OriginalsOption = None,
    threads: ThreadsOption = False,
    threads_from: ThreadsFromOption = None,
) -> None:
    """Plan a clone and store the plan (nothing is written remotely); print it."""
    export = source_of(source, from_file)
    job = plan_job(
        source,
        destination,
        mode,
        ids,
        names,
        prefix,
        file_search,
        code_interpreter,
        model_map,
        originals,
        threads,
        threads_from,
        export.ref if export else None,
    )
    print_plan(_run(lambda c: planned(c, job, export)))


async def _apply_and_watch(client: FerryClient, plan: ClonePlan) -> dict[str, Any] | None:
    await client.clones.apply(plan.plan_id)
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.fields[shown]}"),
        console=console,
    ) as bars:
        first = await client.clones.progress(plan)
        assistants = bars.add_task("assistants", total=first.assistants_total, shown="")
        files = bars.add_task("files", total=max(first.files_total, 1), shown="")
        size = bars.add_task("bytes", total=max(first.bytes_total, 1), shown="")
        messages = (
            bars.add_task("messages", total=max(first.messages_total, 1), shown="")
            if first.messages_total
            else None
        )
        while True:
            now = await client.clones.progress(plan)
            finished = now.assistants_done + now.assistants_failed
            bars.update(
                assistants,
                completed=finished,
                shown=f"{finished}/{now.assistants_total} ({now.assistants_failed} failed)",
            )
            bars.update(
                files, completed=now.files_done, shown=f"{now.files_done}/{now.files_total}"
            )
            bars.update(
                size,
                completed=now.bytes_done,
                shown=f"{size_text(now.bytes_done)} of {size_text(now.bytes_total)}",
            )
            if messages is not None:
                bars.update(
                    messages,
                    completed=now.messages_done,
                    shown=f"{now.messages_done}/{now.messages_total}",
                )
            if now.finished:
                break
            await asyncio.sleep(POLL_S)
    return await _latest_result(client, plan.plan_id)


async def _latest_result(client: FerryClient, plan_id: str) -> dict[str, Any] | None:
    # The last job writes the report just after its row: wait for the final one.
    for _ in range(40):
        result = await client.clones.result(plan_id)
        if result is not None and result["summary"]["pending"] == 0:
            return result
        await asyncio.sleep(0.25)
    return await client.clones.result(plan_id)


@app.command()
def apply(
    plan_id: Annotated[str | None, typer.Argument(help="A stored plan's id.")] = None,
    source: FromOption = None,
    from_file: FromFileOption = None,
    destination: ToOption = None,
    mode: ModeOption = None,
    ids: IdsOption = None,
    names: NamesOption = None,
    prefix: PrefixOption = None,
    file_search: FileSearchOption = None,
    code_interpreter: CodeOption = None,
    model_map: ModelMapOption = None,
    originals: OriginalsOption = None,
    threads: ThreadsOption = False,
    threads_from: ThreadsFromOption = None,
) -> None:
    """Apply a stored plan (or plan first from --from/--from-file and --to); show progress."""
    export = source_of(source, from_file) if plan_id is None else None

    async def action(client: FerryClient) -> tuple[ClonePlan, dict[str, Any] | None]:
        if plan_id is not None:
            plan = await client.clones.stored_plan(plan_id)
        else:
            job = plan_job(
                source,
                destination,
                mode,
                ids,
                names,
                prefix,
                file_search,
                code_interpreter,
                model_map,
                originals,
                threads,
                threads_from,
                export.ref if export else None,
            )
            plan = await planned(client, job, export)
            print_plan(plan)
            if CloneDefaults().dry_run:
                console.print("DRY_RUN is set: planned only, nothing applied")
                return plan, None
        return plan, await _apply_and_watch(client, plan)

    plan, result = _run(action)
    if result is not None or plan_id is not None:
        print_result(result, plan.plan_id)
        if result is not None and result["summary"]["failed"]:
            raise typer.Exit(1)


@app.command()
def show(plan_id: Annotated[str, typer.Argument(help="A plan's id.")]) -> None:
    """A run's result (the plan itself if it was never applied)."""

    async def action(client: FerryClient) -> tuple[ClonePlan, dict[str, Any] | None]:
        return await client.clones.stored_plan(plan_id), await client.clones.result(plan_id)

    plan, result = _run(action)
    if result is None:
        print_plan(plan)
        console.print("(not applied yet)")
    else:
        print_result(result, plan_id)
