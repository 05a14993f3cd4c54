"""A profile's files (`/v1/files`): list, retrieve, upload, download, delete.

The same API in both styles, so both adapters share this. Every upload keeps the original
bytes in the blob store first and links the new file id to them: OpenAI refuses to hand back
files of purpose `assistants` and `user_data`, and a later clone needs those bytes. A refused
download is `DownloadRefused`, a condition of its own, never a generic 400. Requests go
through a caller (`worker.backends.calls`), so the call layer can pace and retry them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from openai.types import FileObject

from worker.backends.calls import Caller, message_of, status_of, unless_missing
from worker.backends.pages import Page, every_page, page_of, page_size
from worker.blobs import BlobRef, BlobStore, FileBlob

# `GET /v1/files` takes up to 10,000 a page (the spec), the other lists 100.
MAX_FILES_PAGE = 10_000
DEFAULT_PAGE = 100
NO_DOWNLOAD_PURPOSES = frozenset({"assistants", "user_data"})
_REFUSAL = re.compile(r"Not allowed to download files of purpose:?\s*'?([A-Za-z_-]+)")


class DownloadRefused(Exception):
    """OpenAI will not give back this file's bytes (its purpose forbids downloads)."""

    def __init__(self, file_id: str, purpose: str) -> None:
        super().__init__(
            f"file {file_id}: OpenAI does not allow downloading files of purpose {purpose!r}; "
            "its bytes must come from Ferry's blob store, a directory of originals "
            "(--originals DIR) or the vector store's parsed text"
        )
        self.file_id, self.purpose = file_id, purpose


class RemoteFiles:
    """The files of one profile's project."""

    def __init__(self, profile: str, call: Caller, blobs: BlobStore) -> None:
        self._profile, self._call, self._blobs = profile, call, blobs

    async def list_page(
        self, *, purpose: str | None = None, limit: int = DEFAULT_PAGE, after: str | None = None
    ) -> Page[FileObject]:
        """One page, oldest first; pass the page's `after` to get the next."""
        args: dict[str, Any] = {"limit": page_size(limit, MAX_FILES_PAGE), "order": "asc"}
        if purpose:
            args["purpose"] = purpose
        if after:
            args["after"] = after
        answer = await self._call(lambda c: c.files.list(**args))
        return page_of(list(answer.data), bool(answer.has_more))

    async def list_all(
        self, *, purpose: str | None = None, limit: int = DEFAULT_PAGE
    ) -> list[FileObject]:
        """Every file (of `purpose`, if given), across pages of `limit`, oldest first."""
        return await every_page(
            lambda after: self.list_page(purpose=purpose, limit=limit, after=after)
        )

    async def find_uploaded(
        self, filename: str, size: int, *, purpose: str, since: int
    ) -> list[FileObject]:
        """Files matching an upload whose answer was lost: same name, size and purpose, made
        at or after `since` (Unix seconds), newest first. Files have no metadata to tag, so
        this is how an ambiguous upload is reconciled before it is tried again.
        """
        found: list[FileObject] = []
        after: str | None = None
        while True:
            args: dict[str, Any] = {"limit": DEFAULT_PAGE, "order": "desc", "purpose": purpose}
            if after:
                args["after"] = after
            answer = await self._call(lambda c, args=args: c.files.list(**args))
            for file in answer.data:
                if file.created_at < since:
                    return found
                if file.filename == filename and file.bytes == size:
                    found.append(file)
            if not answer.has_more or not answer.data:
                return found
            after = answer.data[-1].id

    async def get(self, file_id: str) -> FileObject | None:
        """One file by id; None if the project has no such file."""
        return await unless_missing(self._call, lambda c: c.files.retrieve(file_id), None)

    async def upload(self, filename: str, blob: BlobRef, *, purpose: str) -> FileObject:
        """Upload a stored blob as `filename` and link the new file id to it."""

        async def create(client: AsyncOpenAI) -> FileObject:
            # Spooled per attempt, so a retried upload sends every byte again.
            async with self._blobs.spool(blob.sha256) as spooled:
                return await client.files.create(file=(filename, spooled), purpose=purpose)  # type: ignore[arg-type]

        created = await self._call(create)
        await self._blobs.link_file(FileBlob(created.id, self._profile, blob, filename, purpose))
        return created

    async def upload_bytes(self, filename: str, data: bytes, *, purpose: str) -> FileObject:
        """Keep `data` in the blob store, then upload it."""
        return await self.upload(filename, await self._blobs.put_bytes(data), purpose=purpose)

    async def upload_path(
        self, path: Path, *, purpose: str, filename: str | None = None
    ) -> FileObject:
        """Keep a local file in the blob store (streamed), then upload it."""
        blob = await self._blobs.put_path(path)
        return await self.upload(filename or path.name, blob, purpose=purpose)

    async def download(self, file: FileObject) -> FileBlob:
        """Stream a file's bytes into the blob store and link them; `DownloadRefused` if barred."""

        async def fetch(client: AsyncOpenAI) -> BlobRef:
            async with client.files.with_streaming_response.content(file.id) as response:
                return await self._blobs.put(response.iter_bytes())

        try:
            blob = await self._call(fetch)
        except Exception as error:
            if status_of(error) == 400 and (match := _REFUSAL.search(message_of(error))):
                raise DownloadRefused(file.id, match[1]) from None
            raise
        link = FileBlob(file.id, self._profile, blob, file.filename, file.purpose)
        await self._blobs.link_file(link)
        return link

    async def delete(self, file_id: str) -> bool:
        """Delete a file; False if there was no such file."""
        deleted = await unless_missing(self._call, lambda c: c.files.delete(file_id), None)
        return deleted is not None and deleted.deleted
