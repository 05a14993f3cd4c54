"""`knowledge.sync`: make one assistant's vector store hold exactly the files of its apply file.

Seed 004's manager kept a path → file-id cache in a JSON file; here the map is by content
(a file's sha256 → its file id in the profile, `clone_files`), so a file is uploaded once
however many assistants, paths or applies name it, and a changed file is a new hash. Each
remote object is recorded right after it exists and a create whose answer was lost is
reconciled first (files by name, size and time; the store by its metadata tag), so a job run
again never duplicates; an upload is marked before it is sent (`created_once`), so one that
landed before its worker died unrecorded is found, not uploaded again. A second sync with
nothing changed makes no write request.
"""

from __future__ import annotations

from typing import Any

from openai.types import FileObject, VectorStore
from openai.types.vector_stores import VectorStoreFile

from schemas.knowledge import (
    KNOWLEDGE_OF_KEY,
    FileSynced,
    KnowledgeFile,
    KnowledgeSyncJob,
    KnowledgeSyncResult,
    wired,
)
from store import clone_state, knowledge_stores, registry, registry_writes
from store.knowledge_stores import local_source_id
from worker.backends.calls import reconciled
from worker.backends.intents import created_once, unrecorded_upload
from worker.backends.knowledge import Knowledge
from worker.backends.port import AssistantBackend
from worker.backends.vector_stores import FileToAttach, IngestionTimedOut
from worker.kinds import JobContext, JobFailure

LOCAL_TRAVEL = "local"
STORE_NAME_SUFFIX = " knowledge"


class KnowledgeSync:
    """One run of the job: uploads, the store, attach/detach, ingestion, wiring."""

    def __init__(self, ctx: JobContext, job: KnowledgeSyncJob, backend: AssistantBackend) -> None:
        self.ctx, self.job, self.backend = ctx, job, backend
        self.knowledge: Knowledge = backend.knowledge
        self.remote_wired = False
        self.writes = 0
        # One entry per distinct content: two paths with the same bytes are one file.
        self.files: dict[str, KnowledgeFile] = {}
        for file in job.files:
            self.files.setdefault(file.sha256, file)

    async def file_id(self, file: KnowledgeFile) -> tuple[str, bool]:
        """The profile's file holding these bytes, uploaded the first time; (id, uploaded)."""
        db, files, profile = self.ctx.db, self.knowledge.files, self.job.profile
        dsn = self.ctx.settings.database_url
        async with clone_state.copy_lock(dsn, "file", profile, local_source_id(file.sha256)):
            copy = await clone_state.file_with_bytes(db, profile, file.sha256)
            if copy is not None:
                if await files.get(copy.destination_file_id) is not None:
                    return copy.destination_file_id, False
                # Deleted remotely since: forget it, upload again.
                await clone_state.forget_file(db, profile, copy.source_file_id)
            blob = await self.ctx.blobs.stat(file.sha256)
            if blob is None:
                raise JobFailure(
                    f"{file.name}: its bytes are not in the blob store "
                    f"({self.ctx.settings.blob_store_url}); apply the file again (the producer "
                    "and the worker must share the blob store)",
                    detail={"code": "blob_missing", "file": file.name},
                )
            name = file.name.rsplit("/", 1)[-1]
            source_id = local_source_id(file.sha256)

            async def find(since: int) -> FileObject | None:
                return await unrecorded_upload(
                    db, files, profile, name, blob.size, purpose="assistants", since=since
                )

            async def record(uploaded: FileObject) -> None:
                await clone_state.record_file(
                    db,
                    profile,
                    source_id,
                    uploaded.id,
                    sha256=file.sha256,
                    size=blob.size,
                    travel=LOCAL_TRAVEL,
                )

            uploaded, sent = await created_once(
                db,
                "file",
                profile,
                source_id,
                create=lambda: files.upload(name, blob, purpose="assistants"),
                find=find,
                record=record,
            )
            self.writes += sent
            return uploaded.id, True

    async def store(self) -> tuple[str, bool, dict[str, Any] | None]:
        """The assistant's vector store, made the first time; (id, created, recorded chunking)."""
        db, stores, job = self.ctx.db, self.knowledge.vector_stores, self.job
        recorded = await knowledge_stores.get(db, job.assistant_id)
        if recorded is not None:
            if await stores.get(recorded.vector_store_id) is not None:
                return recorded.vector_store_id, False, recorded.chunking
            await knowledge_stores.forget(db, job.assistant_id)
        tag = str(job.assistant_id)

        async def find() -> VectorStore | None:
            tagged = await stores.find_by_metadata(KNOWLEDGE_OF_KEY, tag)
            return tagged[0] if tagged else None

        store = await find()
        created = store is None
        if store is None:
            store = await reconciled(
                lambda: stores.create(
                    f"{job.assistant}{STORE_NAME_SUFFIX}", metadata={KNOWLEDGE_OF_KEY: tag}
                ),
                find,
            )
            self.writes += 1
        # Recorded with the chunking wanted: the store has no files attached otherwise yet.
        await knowledge_stores.record(db, job.assistant_id, job.profile, store.id, job.chunking)
        return store.id, created, job.chunking

    async def run(self) -> KnowledgeSyncResult:
        ctx, job, stores = self.ctx, self.job, self.knowledge.vector_stores
        total = len(self.files)
        ids: dict[str, tuple[str, bool]] = {}
        for done, file in enumerate(self.files.values()):
            await ctx.progress(phase="upload", done=done, total=total, file=file.name)
            ids[file.sha256] = await self.file_id(file)
        await ctx.progress(phase="upload", done=total, total=total)
        store_id, created, chunking = await self.store()
        wanted = {file_id for file_id, _ in ids.values()}
        attached = {f.id for f in await stores.list_files(store_id)}
        # Files no longer listed (removed, or replaced by new bytes) go; with new chunking,
        # every file goes and comes back chunked the new way.
        rechunk = chunking != job.chunking
        leaving = sorted(attached if rechunk else attached - wanted)
        for done, file_id in enumerate(leaving):
            await ctx.progress(phase="detach", done=done, total=len(leaving))
            await stores.detach(store_id, file_id)
            self.writes += 1
        if rechunk:
            await knowledge_stores.record(
                ctx.db, job.assistant_id, job.profile, store_id, job.chunking
            )
        present = set() if rechunk else attached & wanted
        await ctx.progress(phase="attach", done=0, total=len(wanted - present))
        sent, _ = await stores.attach_missing(
            store_id,
            [FileToAttach(file_id, chunking_strategy=job.chunking) for file_id in sorted(wanted)],
        )
        self.writes += sent
        statuses = await self._ingested(store_id, sorted(wanted))
        files = []
        for file in job.files:
            file_id, uploaded = ids[file.sha256]
            status = statuses[file_id]
            error = status.last_error.message if status.last_error else None
            files.append(
                FileSynced(
                    name=file.name,
                    sha256=file.sha256,
                    bytes=file.size,
                    file_id=file_id,
                    uploaded=uploaded,
                    attached=file_id not in present,
                    status=status.status,
                    error=error,
                )
            )
        version = await self._wire(store_id)
        return KnowledgeSyncResult(
            profile=job.profile,
            assistant=job.assistant,
            vector_store_id=store_id,
            store_created=created,
            files=files,
            detached=leaving,
            wired_version=version,
            remote_wired=self.remote_wired,
            write_requests=self.writes,
        )

    async def _ingested(self, store_id: str, file_ids: list[str]) -> dict[str, VectorStoreFile]:
        async def report(statuses: dict[str, VectorStoreFile]) -> None:
            finished = [s for s in statuses.values() if s.status != "in_progress"]
            failed = sum(s.status in ("failed", "cancelled") for s in finished)
            await self.ctx.progress(
                phase="ingest", done=len(finished), total=len(file_ids), failed=failed
            )

        try:
            return await self.knowledge.vector_stores.wait_for_ingestion(
                store_id,
                file_ids,
                deadline_s=self.ctx.settings.knowledge_ingestion_deadline_s,
                poll_s=0.5,
                on_round=report,
            )
        except IngestionTimedOut as timed_out:
            raise JobFailure(
                f"{timed_out} (KNOWLEDGE_INGESTION_DEADLINE_S="
                f"{self.ctx.settings.knowledge_ingestion_deadline_s:g}); apply again to resume",
                detail={"code": "ingestion_timeout", "pending": timed_out.pending},
            ) from None

    async def _wire(self, store_id: str) -> int | None:
        """Point the definition's file_search at the store: a new registry version, or None
        when it already does."""
        ctx, job = self.ctx, self.job
        entry = await registry.get_by_id(ctx.db, job.assistant_id)
        if entry is None:
            raise JobFailure(
                f"assistant {job.assistant!r} left the registry of profile {job.profile!r} "
                "while its knowledge was synced; apply it again",
                detail={"code": "assistant_gone"},
            )
        if self.backend.style == "assistants" and entry.remote_id:
            await self._wire_remote(entry.remote_id, store_id)
        spec = wired(entry.spec, store_id)
        if spec == entry.spec:
            return None
        result = await registry_writes.write(ctx.db, ctx.redis, ctx.keys, job.profile, spec)
        return result.entry.version

    async def _wire_remote(self, remote_id: str, store_id: str) -> None:
        """On a v2 profile, the remote assistant's file_search too (only that: the rest of
        the remote definition is left as it is)."""
        remote = await self.backend.get(remote_id)
        if remote is None:
            return  # gone remotely: the registry still gets the store
        target = wired(remote.spec, store_id)
        if target != remote.spec:
            await self.backend.update(remote_id, target)
            self.writes += 1
            self.remote_wired = True


async def run_sync(ctx: JobContext, job: KnowledgeSyncJob) -> KnowledgeSyncResult:
    """The job: one assistant's knowledge, under a lock per assistant (two applies at once
    sync one after the other)."""
    backend = ctx.backend(job.profile)
    dsn = ctx.settings.database_url
    async with clone_state.copy_lock(dsn, "knowledge", job.profile, str(job.assistant_id)):
        result = await KnowledgeSync(ctx, job, backend).run()
    ctx.log.info(
        "knowledge synced",
        assistant=job.assistant,
        files=len(result.files),
        writes=result.write_requests,
    )
    return result
