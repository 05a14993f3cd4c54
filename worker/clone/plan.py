"""The plan job: read the source and the destination, say what apply will do, store it.

Nothing is written remotely. Per selected assistant the plan says create, update (with the
fields that differ) or unchanged; the vector stores and files to copy, and those an earlier
run copied already; how each file's bytes will travel; and the write requests apply will
make, with an estimate of their duration at the destination's request limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

from schemas.assistants import AssistantSpec
from schemas.clone import (
    CLONED_FROM_KEY,
    ClonePlan,
    ClonePlanJob,
    FieldChange,
    Operation,
    PlannedAssistant,
    PlannedThread,
    Selection,
    SelectionMode,
)
from store import clone_state
from worker.backends.port import AssistantBackend, RemoteAssistant
from worker.clone.export_source import (
    ExportBackend,
    source_backend,
)
from worker.clone.history import STYLE_PAIR, plan_thread, threads_of
from worker.clone.originals import OriginalsDirectory, OriginalsError
from worker.clone.plan_knowledge import KnowledgePlanner
from worker.clone.specs import covers, destination_spec, with_destination_resources
from worker.kinds import JobContext, JobFailure
from worker.settings import SettingsError

# The fields a plan compares: every field of a definition, in the spec's order.
COMPARED = tuple(AssistantSpec.model_fields)


def select(
    listed: list[RemoteAssistant],
    selection: Selection,
    *,
    ids_hint: str = "`ferry assistants list --profile SOURCE` shows its ids",
) -> list[RemoteAssistant]:
    """The selected source assistants; unknown ids and an empty selection are errors."""
    if selection.mode is SelectionMode.by_id:
        by_id = {a.id: a for a in listed}
        unknown = [i for i in selection.ids if i not in by_id]
        if unknown:
            raise JobFailure(
                f"selection.ids: the source has no assistant {', '.join(unknown)}; {ids_hint}",
                detail={"code": "unknown_ids", "ids": unknown},
            )
        chosen = [by_id[i] for i in dict.fromkeys(selection.ids)]
    elif selection.mode is SelectionMode.by_name:
        wanted = [n.lower() for n in selection.names]
        chosen = [a for a in listed if any(w in a.spec.name.lower() for w in wanted)]
    else:
        chosen = list(listed)
    if not chosen:
        raise JobFailure(
            f"the selection ({selection.mode.value}"
            + (f": {', '.join(selection.names)}" if selection.names else "")
            + ") matches no assistant of the source: nothing to clone",
            detail={"code": "empty_selection"},
        )
    return chosen


def changes(current: AssistantSpec, wanted: AssistantSpec) -> list[FieldChange]:
    """The fields where the destination's definition differs from the wanted one."""
    before = current.model_dump(mode="json", by_alias=True)
    after = wanted.model_dump(mode="json", by_alias=True)
    return [
        FieldChange(field=f, before=before.get(f), after=after.get(f))
        for f in COMPARED
        if not covers(after.get(f), before.get(f))
    ]


async def find_existing(
    ctx: JobContext,
    dst: AssistantBackend,
    source: str,
    destination: str,
    source_id: str,
    *,
    tagged: Callable[[str], Awaitable[list[RemoteAssistant]]] | None = None,
) -> RemoteAssistant | None:
    """The destination's copy: through the mapping tables first, then `metadata.cloned_from`
    (`tagged`: the destination's assistants tagged with a source id, if the caller keeps
    an index; else one search of the destination)."""
    mapped = await clone_state.latest_destination(ctx.db, source, destination, source_id)
    if mapped is not None and (found := await dst.get(mapped)) is not None:
        return found
    if tagged is not None:
        found_tagged = await tagged(source_id)
    else:
        found_tagged = await dst.find_by_metadata(CLONED_FROM_KEY, source_id)
    return found_tagged[0] if found_tagged else None


def profile_checked(ctx: JobContext, name: str, side: str) -> None:
    """Fail naming the missing variable when a profile has no key."""
    try:
        ctx.settings.profile(name)
    except SettingsError as error:
        raise JobFailure(
            f"{side} profile {name!r}: {error}", detail={"code": "missing_profile", "loc": side}
        ) from None


def open_originals(directory: str | None) -> OriginalsDirectory | None:
    """The `--originals` directory, or a failure saying what is wrong with it."""
    if not directory:
        return None
    try:
        return OriginalsDirectory(Path(directory))
    except OriginalsError as error:
        raise JobFailure(f"--originals: {error}", detail={"code": "originals"}) from None


class Planner:
    """Plans one clone job."""

    def __init__(
        self,
        ctx: JobContext,
        job: ClonePlanJob,
        src: AssistantBackend | ExportBackend,
        originals: OriginalsDirectory | None,
    ) -> None:
        self.ctx, self.job, self.options = ctx, job, job.options
        self.src = src
        # An export has no source API: no download, no vector store listing.
        self.from_export = isinstance(src, ExportBackend)
        self.dst = ctx.backend(job.destination)
        self.knowledge = KnowledgePlanner(ctx, job.destination, src, originals)
        # The destination's assistants by `cloned_from`, listed once per plan: on a v2
        # destination each search lists everything, once per assistant planned.
        self._by_tag: dict[str, list[RemoteAssistant]] | None = None

    async def run(self) -> ClonePlan:
        """The plan, stored; its id is the stored row's."""
        self._threads_checked()
        hint = (
            "a Ferry snapshot's ids are its assistants' names, a raw dump's their asst_ ids"
            if self.from_export
            else "`ferry assistants list --profile SOURCE` shows its ids"
        )
        chosen = select(await self.src.list_all(), self.job.selection, ids_hint=hint)
        models = await self._destination_models()
        planned = [await self._assistant(a, models) for a in chosen]
        selected = {a.id for a in chosen}
        unselected = [r for r in self.options.thread_rows if r.assistant_id not in selected]
        notes = [
            f"{self._rows_name} line {r.line}: thread {r.thread_id} of {r.assistant_id}, "
            "an assistant not in the selection: not copied"
            for r in unselected
        ]
        writes = sum(a.write_requests for a in planned)
        rpm = await self._requests_per_minute()
        body = ClonePlan(
            plan_id="",
            source=self.job.source,
            destination=self.job.destination,
            source_export=self.job.source_export,
            source_style=self.src.style,
            destination_style=self.dst.style,
            options=self.options,
            assistants=planned,
            files=self.knowledge.files,
            write_requests=writes,
            requests_per_minute=rpm,
            estimated_seconds=round(writes / rpm * 60, 1) if rpm else None,
            notes=notes,
        )
        stored = await clone_state.save_plan(
            self.ctx.db,
            self.job.source,
            self.job.destination,
            body.model_dump(mode="json", exclude={"plan_id", "created_at"}),
            [a.source_id for a in planned],
        )
        return body.model_copy(update={"plan_id": str(stored.id), "created_at": stored.created_at})

    @property
    def _rows_name(self) -> str:
        return self.options.threads_from or "--threads-from"

    def _threads_checked(self) -> None:
        """Chat history goes from v2 threads to conversations: that pair of styles only."""
        if self.options.threads and self.from_export:
            raise JobFailure(
                "--threads: chat history is read from the source's API, and an export file "
                "has none. Drop --threads/--threads-from, or clone from the source profile",
                detail={"code": "threads_export"},
            )
        styles = (self.src.style, self.dst.style)
        if self.options.threads and styles != STYLE_PAIR:
            raise JobFailure(
                f"--threads: chat history is copied from an assistants-style source to a "
                f"responses-style destination; this clone is {styles[0]} → {styles[1]}. "
                "Drop --threads/--threads-from, or clone into a responses-style profile",
                detail={"code": "threads_styles"},
            )

    async def _threads(self, source_id: str, problems: list[str]) -> list[PlannedThread]:
        if not self.options.threads:
            return []
        found = await threads_of(
            self.ctx, self.job.source, source_id, self.options.thread_rows, self._rows_name
        )
        return [
            await plan_thread(self.ctx, self.job.source, self.job.destination, t, problems)
            for t in found
        ]

    async def _destination_models(self) -> set[str] | None:
        try:
            listed = await self.ctx.openai.call(self.job.destination, lambda c: c.models.list())
        except Exception:
            return None  # a server without a models list: apply finds out per assistant
        return {m.id for m in listed.data}

    async def _requests_per_minute(self) -> float | None:
        state = await self.ctx.openai.pacer.state(self.job.destination)
        limit = state.get("rl", -1.0)
        return limit if limit > 0 else None

    async def _assistant(
        self, source: RemoteAssistant, models: set[str] | None
    ) -> PlannedAssistant:
        wanted, tagged = destination_spec(source, self.options)
        problems: list[str] = []
        if models is not None and wanted.model not in models:
            problems.append(
                f"model_not_found: the destination has no model {wanted.model!r}; "
                f"map it with --model-map {wanted.model}=NEW_MODEL"
            )
        stores = await self.knowledge.vector_stores(wanted, problems)
        ci_files = await self.knowledge.code_interpreter_files(wanted, problems)
        threads = await self._threads(source.id, problems)
        # A registry's search is one indexed query; a v2 server's lists everything.
        index = self._tagged if self.dst.style == "assistants" else None
        existing = await find_existing(
            self.ctx, self.dst, self.job.source, self.job.destination, source.id, tagged=index
        )
        mapped = await with_destination_resources(self.ctx.db, self.job.destination, wanted)
        writes = self.knowledge.writes(stores, ci_files)
        remote_definitions = 1 if self.dst.style == "assistants" else 0
        if existing is None:
            operation, diff = Operation.create, []
            writes += remote_definitions
        else:
            diff = (
                changes(existing.spec, mapped)
                if mapped is not None
                else [
                    FieldChange(
                        field="tool_resources", before="(destination copies)", after="(new)"
                    )
                ]
            )
            operation = Operation.update if diff else Operation.unchanged
            writes += remote_definitions if diff else 0
        writes += sum(t.write_requests for t in threads)
        if problems:
            operation = Operation.blocked
        return PlannedAssistant(
            source_id=source.id,
            name=wanted.name,
            operation=operation,
            destination_id=existing.id if existing else None,
            spec=wanted.model_dump(mode="json", by_alias=True, exclude_none=True),
            changes=diff,
            vector_stores=stores,
            code_interpreter_files=ci_files,
            tagged=tagged,
            write_requests=writes,
            problems=problems,
            threads=threads,
        )

    async def _tagged(self, source_id: str) -> list[RemoteAssistant]:
        """The destination's assistants tagged `cloned_from` = `source_id`, oldest first."""
        if self._by_tag is None:
            self._by_tag = {}
            for remote in await self.dst.list_all():
                if tag := remote.spec.metadata.get(CLONED_FROM_KEY):
                    self._by_tag.setdefault(tag, []).append(remote)
        return self._by_tag.get(source_id, [])


async def run_plan(ctx: JobContext, job: ClonePlanJob) -> ClonePlan:
    """Plan the clone and store the plan; nothing is written remotely."""
    if job.source_export is None:
        profile_checked(ctx, job.source, "source")
    profile_checked(ctx, job.destination, "destination")
    originals = open_originals(job.options.originals_dir)
    src = await source_backend(ctx, job.source, job.source_export, originals)
    return await Planner(ctx, job, src, originals).run()


async def load_plan(ctx: JobContext, plan_id: str) -> ClonePlan:
    """A stored plan, or a failure naming the id."""
    try:
        stored = await clone_state.get_plan(ctx.db, UUID(plan_id))
    except ValueError:
        stored = None
    if stored is None:
        raise JobFailure(f"no clone plan {plan_id}", detail={"code": "unknown_plan"})
    return ClonePlan.model_validate(
        {**stored.body, "plan_id": str(stored.id), "created_at": stored.created_at}
    )
