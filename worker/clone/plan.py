"""The plan job: read the source and the destination, say what apply will do, store it.

Nothing is written remotely. Per selected assistant the plan says create, update (with the
fields that differ) or unchanged; the vector stores and files to copy, and those an earlier
run copied already; how each file's bytes will travel; and the write requests apply will
make, with an estimate of their duration at the destination's request limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from openai.types import FileObject

from schemas.assistants import AssistantSpec
from schemas.clone import (
    CLONED_FROM_KEY,
    ClonePlan,
    ClonePlanJob,
    FieldChange,
    Operation,
    PlannedAssistant,
    PlannedFile,
    PlannedThread,
    PlannedVectorStore,
    Selection,
    SelectionMode,
)
from store import clone_state
from worker.backends.files import MAX_FILES_PAGE, NO_DOWNLOAD_PURPOSES
from worker.backends.port import AssistantBackend, RemoteAssistant
from worker.backends.vector_stores import MAX_BATCH_FILES
from worker.clone.export_source import (
    ExportBackend,
    missing_file_problem,
    source_backend,
    vector_store_problem,
)
from worker.clone.history import STYLE_PAIR, plan_thread, threads_of
from worker.clone.originals import NoMatch, OriginalsDirectory, OriginalsError
from worker.clone.specs import covers, destination_spec, resource_ids, with_destination_resources
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
        self.files: dict[str, PlannedFile] = {}
        # Stores and files whose writes an earlier assistant of the plan already counts.
        self.counted: set[str] = set()
        self.originals = originals
        # The destination's assistants by `cloned_from`, listed once per plan: on a v2
        # destination each search lists everything, once per assistant planned.
        self._by_tag: dict[str, list[RemoteAssistant]] | None = None
        # Each source store once per plan (assistants share stores): the planned store (None
        # if the source has none) and the problems that block whoever uses it.
        self._stores: dict[str, tuple[PlannedVectorStore | None, list[str]]] = {}
        # The source's files by id, listed once (10,000 a page) when the first is needed:
        # one request where a get per file made one per file.
        self._source_files: dict[str, FileObject] | None = None

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
            files=self.files,
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
        stores = await self._vector_stores(wanted, problems)
        ci_files = await self._code_interpreter_files(wanted, problems)
        threads = await self._threads(source.id, problems)
        # A registry's search is one indexed query; a v2 server's lists everything.
        index = self._tagged if self.dst.style == "assistants" else None
        existing = await find_existing(
            self.ctx, self.dst, self.job.source, self.job.destination, source.id, tagged=index
        )
        mapped = await with_destination_resources(self.ctx.db, self.job.destination, wanted)
        writes = self._knowledge_writes(stores, ci_files)
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

    def _knowledge_writes(self, stores: list[PlannedVectorStore], ci_files: list[str]) -> int:
        """Uploads, store creates and batches not counted for an earlier assistant yet."""
        writes = 0
        for store in stores:
            if not store.reused_as and store.source_id not in self.counted:
                writes += 1 + -(-len(store.file_ids) // MAX_BATCH_FILES)
            self.counted.add(store.source_id)
        for file_id in [*ci_files, *(f for s in stores for f in s.file_ids)]:
            if not self.files[file_id].reused_as and file_id not in self.counted:
                writes += 1
            self.counted.add(file_id)
        return writes

    async def _vector_stores(
        self, spec: AssistantSpec, problems: list[str]
    ) -> list[PlannedVectorStore]:
        store_ids, _ = resource_ids(spec)
        planned = []
        for store_id in store_ids:
            if self.from_export:
                # Only a copy an earlier clone made at this destination can stand in.
                copied = await clone_state.copied_vector_store(
                    self.ctx.db, self.job.destination, store_id
                )
                if copied is None:
                    problems.append(vector_store_problem(store_id))
                else:
                    planned.append(
                        PlannedVectorStore(source_id=store_id, name=None, reused_as=copied)
                    )
                continue
            if store_id not in self._stores:
                found: list[str] = []
                self._stores[store_id] = (await self._vector_store(store_id, found), found)
            store, store_problems = self._stores[store_id]
            problems.extend(store_problems)
            if store is not None:
                planned.append(store)
        return planned

    async def _vector_store(self, store_id: str, problems: list[str]) -> PlannedVectorStore | None:
        """One source store as planned, its files planned too; None if the source has none."""
        vector_stores = self.src.knowledge.vector_stores
        store = await vector_stores.get(store_id)
        if store is None:
            problems.append(f"vector store {store_id}: the source has no such store")
            return None
        attached = await vector_stores.list_files(store_id)
        for item in attached:
            await self._file(item.id, [store_id], problems, attributes=item.attributes)
        chunking = attached[0].chunking_strategy if attached else None
        return PlannedVectorStore(
            source_id=store_id,
            name=store.name,
            metadata=dict(store.metadata or {}),
            expires_after=store.expires_after.model_dump(mode="json")
            if store.expires_after
            else None,
            chunking_strategy=chunking.model_dump(mode="json") if chunking else None,
            file_ids=[f.id for f in attached if f.id in self.files],
            reused_as=await clone_state.copied_vector_store(
                self.ctx.db, self.job.destination, store_id
            ),
            file_attributes={f.id: f.attributes for f in attached if f.id in self.files},
        )

    async def _code_interpreter_files(self, spec: AssistantSpec, problems: list[str]) -> list[str]:
        _, file_ids = resource_ids(spec)
        return [f for f in file_ids if await self._file(f, [], problems)]

    async def _file(
        self,
        file_id: str,
        store_ids: list[str],
        problems: list[str],
        *,
        attributes: dict[str, Any] | None = None,
    ) -> bool:
        if file_id in self.files:
            return True
        file = await self._source_file(file_id)
        if file is None:
            problems.append(
                missing_file_problem(file_id, self.originals)
                if self.from_export
                else f"file {file_id}: the source has no such file"
            )
            return False
        copy = await clone_state.copied_file(self.ctx.db, self.job.destination, file_id)
        travel = "reused" if copy else await self._travel(file, store_ids)
        if travel == "unavailable":
            problems.append(
                f"file {file.id} ({file.filename!r}): OpenAI will not hand back files of purpose "
                f"{file.purpose!r}, Ferry's blob store has no copy and it is in no vector store. "
                f"Fix: pass --originals DIR holding {file.filename!r}"
            )
        self.files[file_id] = PlannedFile(
            source_id=file.id,
            filename=file.filename,
            bytes=file.bytes,
            purpose=file.purpose,
            travel=travel,
            reused_as=copy.destination_file_id if copy else None,
            attributes=attributes,
            created_at=file.created_at,
        )
        return True

    async def _source_file(self, file_id: str) -> FileObject | None:
        """A source file's metadata: from one listing of the source's files, else by id."""
        if self.from_export:
            return await self.src.knowledge.files.get(file_id)
        if self._source_files is None:
            listed = await self.src.knowledge.files.list_all(limit=MAX_FILES_PAGE)  # type: ignore[union-attr]
            self._source_files = {f.id: f for f in listed}
        # A file made after the listing, or one a server leaves out of lists: ask for it.
        return self._source_files.get(file_id) or await self.src.knowledge.files.get(file_id)

    async def _travel(self, file: FileObject, store_ids: list[str]) -> str:
        """How the file's bytes will travel: the first way that should have them."""
        link = await self.ctx.blobs.file_blob(file.id)
        if link is not None and link.blob.size == file.bytes:
            return "blob_store"
        if self.originals is not None:
            match = await self.originals.match(file.id, file.filename, file.bytes)
            if not isinstance(match, NoMatch):
                return "originals"
        if not self.from_export and file.purpose not in NO_DOWNLOAD_PURPOSES:
            return "download"
        return "parsed_text" if store_ids else "unavailable"


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
