"""Copying knowledge to the destination: each file once, each vector store once.

Every object is recorded in Postgres right after it exists, under a lock per object, so two
jobs (or a job run again after its worker died) find it instead of making it twice. A create
whose answer was lost (the call layer's `Ambiguous`) is reconciled before it is tried again:
files by name, size and time window, vector stores by `metadata.cloned_from`. An upload and a
store create are marked before they are sent (`created_once`), so one that landed before its
worker died, its id never recorded, is found by the next attempt instead of made again (an
untagged store, its 16 metadata keys full: by name and metadata since the mark).
"""

from __future__ import annotations

from datetime import datetime

from openai.types import FileObject

from schemas.assistants import METADATA_MAX_KEYS
from schemas.clone import CLONED_FROM_KEY, FileOutcome, PlannedFile, PlannedVectorStore
from store import clone_state
from worker.backends.intents import created_once, unrecorded_upload
from worker.backends.port import AssistantBackend
from worker.backends.vector_stores import DONE, FileToAttach, IngestionTimedOut
from worker.clone.file_sources import FileSourceResolver
from worker.kinds import JobContext, JobFailure

# Purposes a file can be uploaded with; others (`assistants_output`) go up as `assistants`.
UPLOAD_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})


class KnowledgeCopier:
    """Copies one plan's files and vector stores from the source to the destination."""

    def __init__(
        self,
        ctx: JobContext,
        src: AssistantBackend,
        dst: AssistantBackend,
        destination: str,
        resolver: FileSourceResolver,
        *,
        since: datetime | None = None,
        planned_files: dict[str, PlannedFile] | None = None,
    ) -> None:
        self.ctx, self.src, self.dst, self.destination = ctx, src, dst, destination
        self.resolver = resolver
        # Copies recorded after this moment (the plan's) were made by this run: not checked.
        self.since = since
        self.planned_files = planned_files or {}
        self.outcomes: dict[str, FileOutcome] = {}
        # Each destination store's files as this job last listed them, after its own writes
        # to the store: what validation checks, so it costs no list of its own.
        self.store_files: dict[str, list[str]] = {}
        self.writes = 0

    async def file(self, source_id: str, store_ids: list[str]) -> str:
        """The destination id of a source file, copying it the first time."""
        db, dst = self.ctx.db, self.dst.knowledge.files
        # Copied during this run (by another assistant's job): it is there, no lock needed.
        if (done := await self._copied_this_run(source_id)) is not None:
            return done
        dsn = self.ctx.settings.database_url
        async with clone_state.copy_lock(dsn, "file", self.destination, source_id):
            if (done := await self._copied_this_run(source_id)) is not None:
                return done
            copy = await clone_state.copied_file(db, self.destination, source_id)
            if copy is not None:
                existing = await dst.get(copy.destination_file_id)
                if existing is not None:
                    self._note(source_id, copy.destination_file_id, existing, copy.travel)
                    return copy.destination_file_id
                await clone_state.forget_file(db, self.destination, source_id)
            source = await self._source_file(source_id)
            if source is None:
                raise JobFailure(
                    f"file {source_id}: the source no longer has it; plan again",
                    detail={"code": "file_gone", "file": source_id},
                )
            resolved = await self.resolver.resolve(source, vector_store_ids=store_ids)
            purpose = resolved.purpose if resolved.purpose in UPLOAD_PURPOSES else "assistants"

            async def find(since: int) -> FileObject | None:
                return await unrecorded_upload(
                    db,
                    dst,
                    self.destination,
                    resolved.filename,
                    resolved.blob.size,
                    purpose=purpose,
                    since=since,
                )

            async def record(uploaded: FileObject) -> None:
                await clone_state.record_file(
                    db,
                    self.destination,
                    source_id,
                    uploaded.id,
                    sha256=resolved.blob.sha256,
                    size=resolved.blob.size,
                    travel=resolved.travel.value,
                )

            uploaded, sent = await created_once(
                db,
                "file",
                self.destination,
                source_id,
                create=lambda: dst.upload(resolved.filename, resolved.blob, purpose=purpose),
                find=find,
                record=record,
            )
            self.writes += sent
            self._note(source_id, uploaded.id, uploaded, resolved.travel.value)
            return uploaded.id

    async def _source_file(self, source_id: str) -> FileObject | None:
        """The source file as the plan read it (no request), else as the source says now.

        A file deleted at the source since the plan is still copied when its bytes are at
        hand (blob store, originals); a download names it gone (`FileUnavailable`)."""
        planned = self.planned_files.get(source_id)
        if planned is None or planned.created_at is None:
            return await self.src.knowledge.files.get(source_id)
        return FileObject(
            id=source_id,
            object="file",
            bytes=planned.bytes,
            created_at=planned.created_at,
            filename=planned.filename,
            purpose=planned.purpose,  # type: ignore[arg-type]  # a source's purpose as it was
            status="processed",
        )

    async def _copied_this_run(self, source_id: str) -> str | None:
        """The destination id of a file this run already copied (its record is newer than
        the plan), noted for the report; None if it has still to be checked or copied."""
        copy = await clone_state.copied_file(self.ctx.db, self.destination, source_id)
        if copy is None or self.since is None or copy.created_at < self.since:
            return None
        self._note_copy(source_id, copy)
        return copy.destination_file_id

    def _note_copy(self, source_id: str, copy: clone_state.FileCopy) -> None:
        planned = self.planned_files.get(source_id)
        self.outcomes[source_id] = FileOutcome(
            source_id=source_id,
            destination_id=copy.destination_file_id,
            filename=planned.filename if planned else source_id,
            bytes=copy.size,
            travel=copy.travel,
            flagged=copy.travel == "parsed_text",
        )

    def _note(self, source_id: str, destination_id: str, file: FileObject, travel: str) -> None:
        self.outcomes[source_id] = FileOutcome(
            source_id=source_id,
            destination_id=destination_id,
            filename=file.filename,
            bytes=file.bytes,
            travel=travel,
            flagged=travel == "parsed_text",
        )

    async def vector_store(self, planned: PlannedVectorStore, deadline_s: float) -> str:
        """The destination copy of a source vector store, with every file attached and ingested."""
        db, stores = self.ctx.db, self.dst.knowledge.vector_stores
        metadata = dict(planned.metadata)
        if CLONED_FROM_KEY in metadata or len(metadata) < METADATA_MAX_KEYS:
            metadata[CLONED_FROM_KEY] = planned.source_id
        dsn = self.ctx.settings.database_url
        async with clone_state.copy_lock(dsn, "vector_store", self.destination, planned.source_id):
            copy = await clone_state.vector_store_copy(db, self.destination, planned.source_id)
            store_id = copy.destination_vector_store_id if copy else None
            if copy is not None and self.since is not None and copy.created_at >= self.since:
                # Made (or found) during this run by another assistant's job: it is there.
                store = None
            else:
                store = await stores.get(store_id) if store_id else None
                store_id = store_id if store is not None else None
            if store_id is None:

                async def find() -> object | None:
                    tagged = await stores.find_by_metadata(CLONED_FROM_KEY, planned.source_id)
                    return tagged[0] if tagged else None

                async def find_since(since: int) -> object | None:
                    if CLONED_FROM_KEY in metadata:
                        return await find()
                    # Untagged (16 metadata keys): the same name and metadata, made since
                    # the mark and mapped to no other source store.
                    made = [
                        s
                        for s in await stores.list_all()
                        if s.created_at >= since
                        and s.name == planned.name
                        and dict(s.metadata or {}) == metadata
                    ]
                    known = await clone_state.recorded_vector_store_ids(
                        db, self.destination, [s.id for s in made]
                    )
                    return next((s for s in reversed(made) if s.id not in known), None)

                async def record(made: object) -> None:
                    await clone_state.record_vector_store(
                        db,
                        self.destination,
                        planned.source_id,
                        made.id,  # type: ignore[attr-defined]
                    )

                found = await find()
                if found is None:
                    found, sent = await created_once(
                        db,
                        "vector_store",
                        self.destination,
                        planned.source_id,
                        create=lambda: stores.create(
                            planned.name, metadata=metadata, expires_after=planned.expires_after
                        ),
                        find=find_since,
                        record=record,
                    )
                    self.writes += sent
                else:
                    await record(found)
                store_id = found.id  # type: ignore[attr-defined]
            elif store is not None and (
                store.name != planned.name or dict(store.metadata or {}) != metadata
            ):
                await stores.update(
                    store_id,
                    name=planned.name,
                    metadata=metadata,
                    expires_after=planned.expires_after,
                )
                self.writes += 1
            # Attached under the lock: two assistants sharing the store attach each file once.
            assert store_id is not None
            wanted: dict[str, str] = {}
            for source_file in planned.file_ids:
                wanted[source_file] = await self.file(source_file, [planned.source_id])
            attributes = await self._attributes(planned)
            files = [
                FileToAttach(
                    destination_id,
                    attributes=attributes.get(source_id),
                    chunking_strategy=planned.chunking_strategy,
                )
                for source_id, destination_id in wanted.items()
            ]
            sent, listed = await stores.attach_missing(store_id, files)
            self.writes += sent
        try:
            if listed is not None and all(listed[d].status in DONE for d in wanted.values()):
                # Every file was attached and ingested already (another assistant's job made
                # the store): the listing just taken is the answer a poll would give.
                statuses = listed
            else:
                statuses = await stores.wait_for_ingestion(
                    store_id, list(wanted.values()), deadline_s=deadline_s
                )
        except IngestionTimedOut as timed_out:
            raise JobFailure(str(timed_out), detail={"code": "ingestion_timeout"}) from None
        self.store_files[store_id] = list(statuses)
        for source_id, destination_id in wanted.items():
            if source_id in self.outcomes:
                outcome = self.outcomes[source_id]
                self.outcomes[source_id] = outcome.model_copy(
                    update={"status": statuses[destination_id].status}
                )
        return store_id

    async def _attributes(self, planned: PlannedVectorStore) -> dict[str, dict | None]:
        """Each source file's attributes in the source store, as the plan read them (a plan
        stored before it kept them: listed again)."""
        if planned.file_attributes is not None:
            return planned.file_attributes
        files = await self.src.knowledge.vector_stores.list_files(planned.source_id)
        return {f.id: f.attributes for f in files}
