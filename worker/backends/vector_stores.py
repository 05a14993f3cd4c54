"""A profile's vector stores: list, create, attach files (one or in batches), ingestion, text.

The same API in both styles, so both adapters share this. Ingestion is asynchronous: a file
attached is `in_progress` until it turns `completed`, `failed` or `cancelled`, and the SDK's
own poll helpers wait forever, so `wait_for_ingestion` polls under a deadline and says which
files were still pending when it passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI
from openai.types import VectorStore
from openai.types.vector_stores import VectorStoreFile, VectorStoreFileBatch

from worker.backends.calls import Caller, call_errors, unless_missing
from worker.backends.pages import MAX_PAGE_SIZE, Page, every_page, page_of, page_size

MAX_BATCH_FILES = 2000  # `file_batches.create` takes 1 to 2,000 files (the spec)
DONE = frozenset({"completed", "failed", "cancelled"})


class IngestionTimedOut(Exception):
    """Files still `in_progress` when the deadline passed; `statuses` has every file seen."""

    def __init__(
        self, vector_store_id: str, pending: list[str], statuses: dict[str, VectorStoreFile]
    ) -> None:
        super().__init__(
            f"vector store {vector_store_id}: {len(pending)} file(s) still in progress at the "
            f"deadline ({', '.join(pending)}); wait longer or check the files' formats"
        )
        self.vector_store_id, self.pending, self.statuses = vector_store_id, pending, statuses


class FileNotAttached(LookupError):
    """A file awaited in a vector store is not attached to it."""

    def __init__(self, vector_store_id: str, file_ids: list[str]) -> None:
        super().__init__(
            f"vector store {vector_store_id} has no file(s) {', '.join(file_ids)}: "
            "attach them first"
        )
        self.vector_store_id, self.file_ids = vector_store_id, file_ids


@dataclass(frozen=True)
class FileToAttach:
    """A file to attach, with its attributes and chunking strategy (None: the server's)."""

    file_id: str
    attributes: dict[str, str | float | bool] | None = None
    chunking_strategy: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The `files[]` entry of a batch (the same fields as a single attach)."""
        entry: dict[str, Any] = {"file_id": self.file_id}
        if self.attributes is not None:
            entry["attributes"] = self.attributes
        if self.chunking_strategy is not None:
            entry["chunking_strategy"] = self.chunking_strategy
        return entry


class RemoteVectorStores:
    """The vector stores of one profile's project."""

    def __init__(self, call: Caller) -> None:
        self._call = call

    async def list_page(
        self, *, limit: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> Page[VectorStore]:
        """One page of stores, oldest first."""
        args: dict[str, Any] = {"limit": page_size(limit), "order": "asc"}
        if after:
            args["after"] = after
        answer = await self._call(lambda c: c.vector_stores.list(**args))
        return page_of(list(answer.data), bool(answer.has_more))

    async def list_all(self) -> list[VectorStore]:
        """Every store, across every page, oldest first."""
        return await every_page(lambda after: self.list_page(after=after))

    async def get(self, vector_store_id: str) -> VectorStore | None:
        """One store by id; None if there is no such store."""
        return await unless_missing(
            self._call, lambda c: c.vector_stores.retrieve(vector_store_id), None
        )

    async def create(
        self,
        name: str | None,
        *,
        metadata: dict[str, str] | None = None,
        expires_after: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> VectorStore:
        """An empty store; files are attached afterwards, each with its own settings."""
        args: dict[str, Any] = {}
        for key, value in (
            ("name", name),
            ("metadata", metadata),
            ("expires_after", expires_after),
            ("description", description),
        ):
            if value is not None:
                args[key] = value
        return await self._call(lambda c: c.vector_stores.create(**args))

    async def update(
        self,
        vector_store_id: str,
        *,
        name: str | None,
        metadata: dict[str, str],
        expires_after: dict[str, Any] | None,
    ) -> VectorStore:
        """Make a store's name, metadata and expiry equal these (None expiry: never)."""
        return await self._call(
            lambda c: c.vector_stores.update(
                vector_store_id,
                name=name,
                metadata=metadata,
                expires_after=expires_after,  # type: ignore[arg-type]
            )
        )

    async def find_by_metadata(self, key: str, value: str) -> list[VectorStore]:
        """Stores whose metadata has `key` = `value` (e.g. `cloned_from`), oldest first."""
        return [s for s in await self.list_all() if (s.metadata or {}).get(key) == value]

    async def delete(self, vector_store_id: str) -> bool:
        """Delete a store (its files stay in the project); False if there was none."""
        deleted = await unless_missing(
            self._call, lambda c: c.vector_stores.delete(vector_store_id), None
        )
        return deleted is not None and deleted.deleted

    async def list_files_page(
        self,
        vector_store_id: str,
        *,
        status: str | None = None,
        limit: int = MAX_PAGE_SIZE,
        after: str | None = None,
    ) -> Page[VectorStoreFile]:
        """One page of a store's files (of `status`, if given), oldest first."""
        args: dict[str, Any] = {"limit": page_size(limit), "order": "asc"}
        if status:
            args["filter"] = status
        if after:
            args["after"] = after
        answer = await self._call(lambda c: c.vector_stores.files.list(vector_store_id, **args))
        return page_of(list(answer.data), bool(answer.has_more))

    async def list_files(
        self, vector_store_id: str, *, status: str | None = None
    ) -> list[VectorStoreFile]:
        """Every file of a store (of `status`, if given), across every page."""
        return await every_page(
            lambda after: self.list_files_page(vector_store_id, status=status, after=after)
        )

    async def attach(self, vector_store_id: str, file: FileToAttach) -> VectorStoreFile:
        """Attach one file; ingestion starts (see `wait_for_ingestion`)."""
        return await self._call(
            lambda c: c.vector_stores.files.create(vector_store_id, **file.body())
        )

    async def detach(self, vector_store_id: str, file_id: str) -> bool:
        """Detach a file (it stays in the project); False if it was not attached."""
        deleted = await unless_missing(
            self._call,
            lambda c: c.vector_stores.files.delete(file_id, vector_store_id=vector_store_id),
            None,
        )
        return deleted is not None and deleted.deleted

    async def attach_batch(
        self, vector_store_id: str, files: Sequence[FileToAttach]
    ) -> list[VectorStoreFileBatch]:
        """Attach files in batches of at most 2,000, each file with its own settings."""
        batches = []
        for start in range(0, len(files), MAX_BATCH_FILES):
            body = [f.body() for f in files[start : start + MAX_BATCH_FILES]]
            batches.append(
                await self._call(
                    lambda c, body=body: c.vector_stores.file_batches.create(
                        vector_store_id,
                        files=body,  # type: ignore[arg-type]
                    )
                )
            )
        return batches

    async def attach_missing(
        self, vector_store_id: str, files: Sequence[FileToAttach]
    ) -> tuple[int, dict[str, VectorStoreFile] | None]:
        """Attach, in batches, those of `files` the store lacks: the batches sent, and the
        store's files as listed when none was missing (None after a batch).

        A batch whose answer was lost (the call layer's `Ambiguous`) may have landed: the
        store is listed again and only what is still missing is attached.
        """
        for last_try in (False, True):
            listed = {f.id: f for f in await self.list_files(vector_store_id)}
            missing = [f for f in files if f.file_id not in listed]
            if not missing:
                return 0, listed
            try:
                return len(await self.attach_batch(vector_store_id, missing)), None
            except call_errors.Ambiguous:
                if last_try:
                    raise
        raise AssertionError("unreachable: the last try returns or raises")

    async def get_batch(self, vector_store_id: str, batch_id: str) -> VectorStoreFileBatch:
        """A batch with its file counts."""
        return await self._call(
            lambda c: c.vector_stores.file_batches.retrieve(
                batch_id, vector_store_id=vector_store_id
            )
        )

    async def list_batch_files(self, vector_store_id: str, batch_id: str) -> list[VectorStoreFile]:
        """Every file of a batch, with its status."""

        async def fetch(after: str | None) -> Page[VectorStoreFile]:
            args: dict[str, Any] = {"limit": MAX_PAGE_SIZE, "order": "asc"}
            if after:
                args["after"] = after
            answer = await self._call(
                lambda c: c.vector_stores.file_batches.list_files(
                    batch_id, vector_store_id=vector_store_id, **args
                )
            )
            return page_of(list(answer.data), bool(answer.has_more))

        return await every_page(fetch)

    async def wait_for_ingestion(
        self,
        vector_store_id: str,
        file_ids: Sequence[str],
        *,
        deadline_s: float,
        poll_s: float = 1.0,
        on_round: Callable[[dict[str, VectorStoreFile]], Awaitable[None]] | None = None,
    ) -> dict[str, VectorStoreFile]:
        """Poll until every file is `completed`, `failed` or `cancelled`; the last state of
        every file the store lists (the awaited ones done, and any others it holds).

        One list request a round covers 100 files, so a large store costs few requests.
        Raises `IngestionTimedOut` at the deadline and `FileNotAttached` for a file that is
        not in the store (it would never finish). `on_round` sees each round's statuses
        (for progress).
        """
        wanted = list(dict.fromkeys(file_ids))
        deadline = time.monotonic() + deadline_s
        while True:
            listed = {f.id: f for f in await self.list_files(vector_store_id)}
            if missing := [f for f in wanted if f not in listed]:
                raise FileNotAttached(vector_store_id, missing)
            statuses = {f: listed[f] for f in wanted}
            pending = [f for f in wanted if statuses[f].status not in DONE]
            if on_round is not None:
                await on_round(statuses)
            if not pending:
                return listed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IngestionTimedOut(vector_store_id, pending, statuses)
            await asyncio.sleep(min(poll_s, remaining))

    async def parsed_text(self, vector_store_id: str, file_id: str) -> str:
        """The text the store parsed out of a file (empty until ingestion completes)."""

        async def read(client: AsyncOpenAI) -> str:
            content = client.vector_stores.files.content(file_id, vector_store_id=vector_store_id)
            return "".join([part.text or "" async for part in content])

        return await self._call(read)
