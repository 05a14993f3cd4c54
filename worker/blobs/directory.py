"""Blobs in a local (or shared network) directory: one file per blob, named by its hash.

Layout under the root: `sha256/ab/<hash>` for blobs, `files/<file id>.json` for links,
`tmp/` for writes in progress. A put streams into `tmp/` and renames into place once the hash
is known; renames are atomic, so a reader never sees half a blob and two writers of the same
bytes leave one.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from uuid import uuid4

from worker.blobs.base import (
    BlobNotFound,
    BlobRef,
    BlobStore,
    FileBlob,
    Hasher,
    read_path,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Remote ids become file names: anything else is refused rather than escaped.
_FILE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class DirectoryBlobStore(BlobStore):
    """Blobs as files under `root` (made on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put(self, chunks: AsyncIterable[bytes]) -> BlobRef:
        tmp = self.root / "tmp"
        await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
        partial = tmp / uuid4().hex
        hasher = Hasher()
        try:
            with partial.open("wb") as handle:
                async for chunk in chunks:
                    hasher.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(os.fsync, handle.fileno())
            ref = hasher.ref()
            final = self._blob_path(ref.sha256)
            await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(os.replace, partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return ref

    async def stat(self, sha256: str) -> BlobRef | None:
        if not _SHA256.match(sha256):
            return None
        try:
            size = (await asyncio.to_thread(self._blob_path(sha256).stat)).st_size
        except FileNotFoundError:
            return None
        return BlobRef(sha256, size)

    async def _read(self, sha256: str) -> AsyncIterator[bytes]:
        if await self.stat(sha256) is None:
            raise BlobNotFound(sha256)
        async for piece in read_path(self._blob_path(sha256)):
            yield piece

    async def _link(self, link: FileBlob) -> None:
        record = {
            "file_id": link.file_id,
            "profile": link.profile,
            "sha256": link.blob.sha256,
            "filename": link.filename,
            "purpose": link.purpose,
        }
        path = self._link_path(link.file_id)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        partial = path.with_suffix(f".{uuid4().hex}.tmp")
        await asyncio.to_thread(partial.write_text, json.dumps(record), "utf-8")
        await asyncio.to_thread(os.replace, partial, path)

    async def file_blob(self, file_id: str) -> FileBlob | None:
        try:
            text = await asyncio.to_thread(self._link_path(file_id).read_text, "utf-8")
        except FileNotFoundError:
            return None
        record = json.loads(text)
        blob = await self.stat(record["sha256"])
        if blob is None:
            return None
        return FileBlob(
            record["file_id"], record["profile"], blob, record["filename"], record["purpose"]
        )

    def _blob_path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def _link_path(self, file_id: str) -> Path:
        if not _FILE_ID.match(file_id):
            raise ValueError(
                f"file id {file_id!r} is not an OpenAI-style id (letters, digits, -, _)"
            )
        return self.root / "files" / f"{file_id}.json"
