"""The knowledge half of a plan: the vector stores and files an assistant needs at the
destination, what an earlier run copied already, and how each file's bytes will travel."""

from __future__ import annotations

from typing import Any

from openai.types import FileObject

from schemas.assistants import AssistantSpec
from schemas.clone import PlannedFile, PlannedVectorStore
from store import clone_state
from worker.backends.files import MAX_FILES_PAGE, NO_DOWNLOAD_PURPOSES
from worker.backends.port import AssistantBackend
from worker.backends.vector_stores import MAX_BATCH_FILES
from worker.clone.export_source import ExportBackend, missing_file_problem, vector_store_problem
from worker.clone.originals import NoMatch, OriginalsDirectory
from worker.clone.specs import resource_ids
from worker.kinds import JobContext


class KnowledgePlanner:
    """Plans the knowledge of one plan's assistants; each source store and file once."""

    def __init__(
        self,
        ctx: JobContext,
        destination: str,
        src: AssistantBackend | ExportBackend,
        originals: OriginalsDirectory | None,
    ) -> None:
        self.ctx, self.destination, self.src, self.originals = ctx, destination, src, originals
        # An export has no source API: no download, no vector store listing.
        self.from_export = isinstance(src, ExportBackend)
        self.files: dict[str, PlannedFile] = {}
        # Stores and files whose writes an earlier assistant of the plan already counts.
        self.counted: set[str] = set()
        # Each source store once per plan (assistants share stores): the planned store (None
        # if the source has none) and the problems that block whoever uses it.
        self._stores: dict[str, tuple[PlannedVectorStore | None, list[str]]] = {}
        # The source's files by id, listed once (10,000 a page) when the first is needed:
        # one request where a get per file made one per file.
        self._source_files: dict[str, FileObject] | None = None

    async def vector_stores(
        self, spec: AssistantSpec, problems: list[str]
    ) -> list[PlannedVectorStore]:
        """The assistant's stores as planned; what blocks them goes to `problems`."""
        store_ids, _ = resource_ids(spec)
        planned = []
        for store_id in store_ids:
            if self.from_export:
                # Only a copy an earlier clone made at this destination can stand in.
                copied = await clone_state.copied_vector_store(
                    self.ctx.db, self.destination, store_id
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

    async def code_interpreter_files(self, spec: AssistantSpec, problems: list[str]) -> list[str]:
        """The assistant's code-interpreter files the source has, each planned."""
        _, file_ids = resource_ids(spec)
        return [f for f in file_ids if await self._file(f, [], problems)]

    def writes(self, stores: list[PlannedVectorStore], ci_files: list[str]) -> int:
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
                self.ctx.db, self.destination, store_id
            ),
            file_attributes={f.id: f.attributes for f in attached if f.id in self.files},
        )

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
        copy = await clone_state.copied_file(self.ctx.db, self.destination, file_id)
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
