"""An export file as a clone's source: the assistants it holds, and what Ferry knows of its files.

The producer parsed the file and kept its bytes in the blob store; the job reads them back
by hash and parses them again with the same parser. An export has no source API behind it:
a file it names can only be carried when Ferry's blob store has its bytes (Ferry uploaded
it) or when `--originals DIR` maps a path to its id in `gpt_id.json`. It lists no vector
store's contents: a store it names is only reused where an earlier clone copied it to the
same destination.
"""

from __future__ import annotations

import hashlib
from typing import Any

from openai.types import FileObject

from schemas.assistants import SpecError
from schemas.clone_export import ExportRef, parse_export
from store import blob_rows
from worker.backends.port import AssistantBackend, RemoteAssistant
from worker.blobs import BlobStore
from worker.clone.originals import MANIFEST, OriginalsDirectory
from worker.kinds import JobContext, JobFailure

EXPORT_STYLE = "export"


def missing_file_problem(file_id: str, originals: OriginalsDirectory | None) -> str:
    """Why an export's file can't be carried, and the fix."""
    where = (
        f"{MANIFEST} in {originals.root} maps no path to it"
        if originals is not None
        else "no --originals DIR was given"
    )
    return (
        f"file {file_id}: the export names it but has no source API to download it from; "
        f"Ferry's blob store has no copy and {where}. Fix: pass --originals DIR holding the "
        f"file, with {MANIFEST} mapping its path to {file_id} (or clone without "
        "--code-interpreter)"
    )


def vector_store_problem(store_id: str) -> str:
    """Why an export's vector store can't be re-created, and the fix."""
    return (
        f"vector store {store_id}: an export names the store but not its files, and no "
        "earlier clone copied it to this destination, so it cannot be re-created. Fix: clone "
        "with --no-file-search, or clone from the source profile (--from PROFILE) while its "
        "vector stores are still reachable"
    )


class ExportFiles:
    """The files an export names: known only through the blob store and the originals."""

    def __init__(self, blobs: BlobStore, originals: OriginalsDirectory | None) -> None:
        self._blobs, self._originals = blobs, originals

    async def get(self, file_id: str) -> FileObject | None:
        """The file as Ferry knows it (name, size, purpose), or None if Ferry can't carry it."""
        link = await self._blobs.file_blob(file_id)
        if link is not None:
            return _file(file_id, link.filename, link.blob.size, link.purpose)
        if self._originals is not None:
            path = await self._originals.named(file_id)
            if path is not None:
                return _file(file_id, path.name, path.stat().st_size, "assistants")
        return None


class ExportVectorStores:
    """An export lists no vector store contents: every store is unknown."""

    async def get(self, store_id: str) -> None:
        return None

    async def list_files(self, store_id: str) -> list[Any]:
        return []

    async def parsed_text(self, store_id: str, file_id: str) -> str | None:
        return None


class ExportKnowledge:
    """The part of `Knowledge` a clone reads from its source, for an export."""

    def __init__(self, label: str, blobs: BlobStore, originals: OriginalsDirectory | None) -> None:
        self.profile = label
        self.blobs = blobs
        self.files = ExportFiles(blobs, originals)
        self.vector_stores = ExportVectorStores()


class ExportBackend:
    """A clone's source side over an export file (read only)."""

    style = EXPORT_STYLE

    def __init__(self, assistants: list[RemoteAssistant], knowledge: ExportKnowledge) -> None:
        self._assistants = assistants
        self.knowledge = knowledge

    async def list_all(self) -> list[RemoteAssistant]:
        """Every assistant of the export, in the file's order."""
        return list(self._assistants)

    async def get(self, assistant_id: str) -> RemoteAssistant | None:
        return next((a for a in self._assistants if a.id == assistant_id), None)


async def load_export(
    ctx: JobContext, ref: ExportRef, originals: OriginalsDirectory | None
) -> ExportBackend:
    """The export the producer kept, read back by hash and parsed; `JobFailure` otherwise."""
    data = await blob_rows.read_blob(ctx.db, ref.sha256)
    if data is None or hashlib.sha256(data).hexdigest() != ref.sha256:
        raise JobFailure(
            f"export {ref.filename}: its bytes (sha256 {ref.sha256[:12]}…) are not in Ferry's "
            "blob store; plan again with --from-file",
            detail={"code": "export_missing", "sha256": ref.sha256},
        )
    try:
        parsed = parse_export(data)
    except SpecError as error:
        raise JobFailure(f"export {ref.filename}: {error}", detail={"code": "bad_export"}) from None
    assistants = [RemoteAssistant(id=a.source_id, spec=a.spec) for a in parsed.assistants]
    return ExportBackend(assistants, ExportKnowledge(ref.label, ctx.blobs, originals))


async def source_backend(
    ctx: JobContext,
    source: str,
    export: ExportRef | None,
    originals: OriginalsDirectory | None,
) -> AssistantBackend | ExportBackend:
    """A clone's source: the profile's backend, or the export file's."""
    if export is None:
        return ctx.backend(source)
    return await load_export(ctx, export, originals)


def _file(file_id: str, filename: str, size: int, purpose: str) -> FileObject:
    # Built, not validated: a purpose Ferry recorded stays as recorded.
    return FileObject.model_construct(
        id=file_id,
        bytes=size,
        created_at=0,
        filename=filename,
        object="file",
        purpose=purpose,
        status="processed",
    )
