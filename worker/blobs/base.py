"""The blob store's contract: content-addressed bytes (sha256), streamed in and out.

Every backend keeps the same two things: blobs by hash, written and read as a stream of
chunks so no file ever sits whole in memory, and the link from a remote file id to the blob
holding its bytes (OpenAI will not hand back files of purpose `assistants`, so Ferry keeps
the bytes of every file it uploads). Backends: `postgres` (chunk rows, the default) and
`directory` (one file per blob); `worker.blobs.blob_store_from_url` picks one.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEFAULT_CHUNK_BYTES = 1024 * 1024
# Reading a local file: large enough to be cheap, small enough to never matter in memory.
READ_BYTES = 256 * 1024


class BlobError(Exception):
    """A blob-store failure; the message says what and how to fix it."""


class BlobNotFound(BlobError):
    """No blob has this hash."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob {sha256} in the blob store")
        self.sha256 = sha256


class BlobCorrupt(BlobError):
    """A blob's bytes no longer hash to its name (storage damage): it must be stored again."""

    def __init__(self, sha256: str, actual: str) -> None:
        super().__init__(
            f"blob {sha256} reads back as {actual}: its stored bytes are damaged; "
            "store the original again"
        )
        self.sha256, self.actual = sha256, actual


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: the sha256 of its bytes (hex) and their length."""

    sha256: str
    size: int


@dataclass(frozen=True)
class FileBlob:
    """A remote file whose bytes are a stored blob."""

    file_id: str
    profile: str
    blob: BlobRef
    filename: str
    purpose: str


class BlobStore(ABC):
    """Content-addressed bytes shared by every worker, plus remote file id → blob links."""

    @abstractmethod
    async def put(self, chunks: AsyncIterable[bytes]) -> BlobRef:
        """Store a stream of bytes; the same bytes stored twice are kept once."""

    @abstractmethod
    async def stat(self, sha256: str) -> BlobRef | None:
        """The blob with this hash, or None."""

    @abstractmethod
    async def file_blob(self, file_id: str) -> FileBlob | None:
        """The blob that holds remote file `file_id`'s bytes, or None."""

    @abstractmethod
    def _read(self, sha256: str) -> AsyncIterator[bytes]:
        """The stored chunks as they are (`BlobNotFound` if there is no such blob)."""

    @abstractmethod
    async def _link(self, link: FileBlob) -> None:
        """Store the link of a file id to a blob known to exist."""

    async def get(self, sha256: str) -> AsyncIterator[bytes]:
        """The blob's bytes as chunks, checked against its hash (`BlobNotFound`, `BlobCorrupt`)."""
        hasher = Hasher()
        async for chunk in self._read(sha256):
            hasher.update(chunk)
            yield chunk
        if (actual := hasher.ref().sha256) != sha256:
            raise BlobCorrupt(sha256, actual)

    async def link_file(self, link: FileBlob) -> None:
        """Remember that remote file `link.file_id` holds blob `link.blob` (which must exist)."""
        if await self.stat(link.blob.sha256) is None:
            raise BlobNotFound(link.blob.sha256)
        await self._link(link)

    async def aclose(self) -> None:  # noqa: B027 - most backends hold nothing to close
        """Release what the store holds open (pools of its own)."""

    async def put_bytes(self, data: bytes) -> BlobRef:
        """Store bytes already in memory."""
        return await self.put(_single(data))

    async def put_path(self, path: Path) -> BlobRef:
        """Store a local file, read piece by piece."""
        return await self.put(read_path(path))

    async def read_bytes(self, sha256: str) -> bytes:
        """A whole blob in memory: for small blobs only (tests, text)."""
        return b"".join([chunk async for chunk in self.get(sha256)])

    @asynccontextmanager
    async def spool(self, sha256: str) -> AsyncIterator[IO[bytes]]:
        """The blob as a seekable binary file (on disk, not in memory), e.g. for an upload."""
        with tempfile.TemporaryFile() as spooled:
            async for chunk in self.get(sha256):
                await asyncio.to_thread(spooled.write, chunk)
            spooled.seek(0)
            yield spooled


class Hasher:
    """Counts and hashes bytes as they stream past."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._digest.update(data)
        self.size += len(data)

    def ref(self) -> BlobRef:
        return BlobRef(self._digest.hexdigest(), self.size)


async def rechunk(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """The same bytes in pieces of exactly `size` (the last one shorter; none if empty)."""
    buffer = bytearray()
    async for piece in chunks:
        view = memoryview(piece)
        while view:
            take = min(size - len(buffer), len(view))
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == size:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)


async def read_path(path: Path, piece_bytes: int = READ_BYTES) -> AsyncIterator[bytes]:
    """A local file's bytes, piece by piece, read off the event loop."""
    with path.open("rb") as handle:
        while piece := await asyncio.to_thread(handle.read, piece_bytes):
            yield piece


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data
