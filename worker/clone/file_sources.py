"""Where a cloned file's bytes come from: the first of four sources that has them.

OpenAI refuses to download files of purpose `assistants` and `user_data`, so a clone tries,
in order: (a) Ferry's blob store (every file a Ferry job uploaded); (b) a directory of
originals (`--originals DIR`); (c) a direct download, where the source allows it; (d) the
vector store's parsed text, re-uploaded as a text file and flagged. Every way ends with the
bytes in the blob store, so the upload to the destination streams from there. A file no way
can carry is `FileUnavailable`, naming the file, every way tried and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from openai.types import FileObject

from worker.backends.calls import status_of
from worker.backends.files import DownloadRefused
from worker.backends.knowledge import Knowledge
from worker.blobs import BlobRef, FileBlob
from worker.clone.originals import NoMatch, OriginalsDirectory

# Parsed text keeps the name when it already is text; anything else gains `.txt`.
_TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".html", ".xml")


class Travel(StrEnum):
    """How a file's bytes reached the destination (the plan and the report say it)."""

    blob_store = "blob_store"
    originals = "originals"
    download = "download"
    # Not the original bytes: the source vector store's parsed text, flagged in the report.
    parsed_text = "parsed_text"


@dataclass(frozen=True)
class ResolvedFile:
    """A source file's bytes, now in the blob store, and how they travelled."""

    file_id: str
    filename: str  # the name to upload under (parsed text gains `.txt`)
    purpose: str
    blob: BlobRef
    travel: Travel
    # Why each earlier way could not carry the file, in order.
    tried: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when the bytes are not the original's (parsed text)."""
        return self.travel is Travel.parsed_text


class FileUnavailable(Exception):
    """No way could carry a file's bytes; the message names the file and the fix."""

    def __init__(self, file: FileObject, tried: list[str], *, from_export: bool = False) -> None:
        # An export has no vector store to take parsed text from: only the originals help.
        fix = (
            "(matched by name and size, or by its id in the directory's gpt_id.json)"
            if from_export
            else "(matched by name and size), or attach the file to a vector store at the "
            "source so its parsed text can stand in"
        )
        super().__init__(
            f"file {file.id} ({file.filename!r}, {file.bytes} bytes, purpose {file.purpose!r}) "
            f"cannot be copied: {'; '.join(tried)}. Fix: pass --originals DIR with the original "
            f"{file.filename!r} {fix}"
        )
        self.file_id, self.filename, self.tried = file.id, file.filename, tried


class FileSourceResolver:
    """Finds the bytes of a source profile's files, for one clone run."""

    def __init__(
        self,
        source: Knowledge,
        *,
        originals: OriginalsDirectory | None = None,
        downloads: bool = True,
    ) -> None:
        self._source, self._blobs, self._originals = source, source.blobs, originals
        # False for an export file: there is no source API to download from.
        self._downloads = downloads
        # Purposes the source refused to download: asked once per run, not once per file.
        self._refused_purposes: set[str] = set()

    async def resolve(
        self, file: FileObject, *, vector_store_ids: Sequence[str] = ()
    ) -> ResolvedFile:
        """The file's bytes from the first way that has them; `FileUnavailable` if none."""
        tried: list[str] = []
        for way in (self._from_blob_store, self._from_originals, self._download):
            found = await way(file, tried)
            if found is not None:
                return found
        return await self._from_parsed_text(file, vector_store_ids, tried)

    async def _from_blob_store(self, file: FileObject, tried: list[str]) -> ResolvedFile | None:
        link = await self._blobs.file_blob(file.id)
        if link is None:
            tried.append("the blob store has no copy (not uploaded by Ferry)")
            return None
        if link.blob.size != file.bytes:
            tried.append(f"the blob store's copy is {link.blob.size} bytes, the file {file.bytes}")
            return None
        return self._resolved(file, link.blob, Travel.blob_store, tried)

    async def _from_originals(self, file: FileObject, tried: list[str]) -> ResolvedFile | None:
        if self._originals is None:
            tried.append("no --originals directory given")
            return None
        match = await self._originals.match(file.id, file.filename, file.bytes)
        if isinstance(match, NoMatch):
            tried.append(match.reason)
            return None
        blob = await self._blobs.put_path(match.path)
        if blob.sha256 != match.sha256:
            tried.append(f"{match.path} changed while it was read")
            return None
        # Linked, so the next clone of this file finds it in the blob store.
        await self._blobs.link_file(
            FileBlob(file.id, self._source.profile, blob, file.filename, file.purpose)
        )
        return self._resolved(file, blob, Travel.originals, tried)

    async def _download(self, file: FileObject, tried: list[str]) -> ResolvedFile | None:
        if not self._downloads:
            tried.append("an export file has no source API to download from")
            return None
        if file.purpose in self._refused_purposes:
            tried.append(f"the source refuses downloads of purpose {file.purpose!r}")
            return None
        try:
            link = await self._source.files.download(file)
        except DownloadRefused as refused:
            self._refused_purposes.add(refused.purpose)
            tried.append(f"the source refuses downloads of purpose {refused.purpose!r}")
            return None
        except Exception as error:
            if status_of(error) != 404:
                raise
            tried.append("the source no longer has the file")
            return None
        return self._resolved(file, link.blob, Travel.download, tried)

    async def _from_parsed_text(
        self, file: FileObject, vector_store_ids: Sequence[str], tried: list[str]
    ) -> ResolvedFile:
        if not vector_store_ids:
            tried.append("the file is in no vector store, so there is no parsed text")
        for vector_store_id in vector_store_ids:
            try:
                text = await self._source.vector_stores.parsed_text(vector_store_id, file.id)
            except Exception as error:
                if status_of(error) != 404:
                    raise
                tried.append(f"vector store {vector_store_id} does not hold the file")
                continue
            if not text:
                tried.append(f"vector store {vector_store_id} has no parsed text of it")
                continue
            blob = await self._blobs.put_bytes(text.encode("utf-8"))
            name = file.filename
            if not name.lower().endswith(_TEXT_SUFFIXES):
                name += ".txt"
            return ResolvedFile(file.id, name, file.purpose, blob, Travel.parsed_text, tuple(tried))
        raise FileUnavailable(file, tried, from_export=not self._downloads)

    @staticmethod
    def _resolved(
        file: FileObject, blob: BlobRef, travel: Travel, tried: list[str]
    ) -> ResolvedFile:
        return ResolvedFile(file.id, file.filename, file.purpose, blob, travel, tuple(tried))
