"""The `responses` style: Ferry's registry holds the definition; the remote holds the knowledge.

Today's OpenAI has no assistant object (runs are `responses.create(instructions=…, tools=…)`),
so the registry is the source of truth. Ids are registry ids. Before a definition is written,
the vector stores and files it names are looked up in the profile's project, so a definition
never points at knowledge that is not there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
from openai import AsyncOpenAI
from redis.asyncio import Redis

from schemas.assistants import AssistantSpec, SpecError
from schemas.keys import RedisKeys
from store import registry, registry_writes
from store.registry import RegistryEntry
from worker.backends.calls import Caller, direct
from worker.backends.knowledge import Knowledge
from worker.backends.port import RemoteAssistant
from worker.blobs import PostgresBlobStore


class ResponsesBackend:
    """Assistant definitions of one profile, kept in the registry."""

    style = "responses"

    def __init__(
        self,
        profile: str,
        client: AsyncOpenAI,
        db: asyncpg.Pool,
        redis: Redis,
        keys: RedisKeys,
        *,
        knowledge: Knowledge | None = None,
        via: Caller | None = None,
    ) -> None:
        self._profile, self._client, self._db, self._redis, self._keys = (
            profile,
            client,
            db,
            redis,
            keys,
        )
        self._call = via or direct(client)
        # The default blob store is Ferry's own database, which this backend already has.
        self.knowledge = knowledge or Knowledge(profile, self._call, PostgresBlobStore(db))

    async def list_all(self) -> list[RemoteAssistant]:
        """The profile's registry entries, oldest first."""
        entries = await registry.list_entries(self._db, self._profile)
        return [_remote(e) for e in sorted(entries, key=lambda e: (e.created_at, e.name))]

    async def get(self, assistant_id: str) -> RemoteAssistant | None:
        """By registry id; None for an unknown id or one of another profile."""
        entry = await self._entry(assistant_id)
        return _remote(entry) if entry else None

    async def create(self, spec: AssistantSpec) -> RemoteAssistant:
        """A new registry entry; refused if the name is taken or its knowledge is missing.

        Insert-only, in one transaction: of two concurrent creates of one name, one succeeds.
        """
        await self._check_knowledge(spec)
        result = await registry_writes.create(
            self._db, self._redis, self._keys, self._profile, spec
        )
        return _remote(result.entry)

    async def update(self, assistant_id: str, spec: AssistantSpec) -> RemoteAssistant:
        """Make the entry equal `spec` (renaming it if the name differs); announced."""
        entry = await self._entry(assistant_id)
        if entry is None:
            raise registry.RegistryError(
                f"no assistant {assistant_id} in profile {self._profile!r}"
            )
        await self._check_knowledge(spec)
        # Rename and write in one transaction: a failed write leaves the old name in place.
        result = await registry_writes.update(
            self._db, self._redis, self._keys, self._profile, entry.name, spec
        )
        return _remote(result.entry)

    async def delete(self, assistant_id: str) -> bool:
        """Delete the entry; announced."""
        entry = await self._entry(assistant_id)
        if entry is None:
            return False
        return await registry_writes.delete(
            self._db, self._redis, self._keys, self._profile, entry.name
        )

    async def find_by_metadata(self, key: str, value: str) -> list[RemoteAssistant]:
        """A metadata containment query on the registry (indexed)."""
        entries = await registry.find_by_metadata(self._db, self._profile, key, value)
        return [_remote(e) for e in sorted(entries, key=lambda e: (e.created_at, e.name))]

    async def _entry(self, assistant_id: str) -> RegistryEntry | None:
        try:
            uuid = UUID(assistant_id)
        except ValueError:
            return None
        entry = await registry.get_by_id(self._db, uuid)
        return entry if entry is not None and entry.profile == self._profile else None

    async def _check_knowledge(self, spec: AssistantSpec) -> None:
        """Refuse ids of vector stores and files the profile's project does not have."""
        resources = spec.tool_resources
        if resources is None:
            return
        wanted: list[tuple[str, list[str], str, Callable[[str], Awaitable[object | None]]]] = []
        if resources.file_search:
            ids = resources.file_search.vector_store_ids
            retrieve = self.knowledge.vector_stores.get
            wanted.append(
                ("tool_resources.file_search.vector_store_ids", ids, "vector store", retrieve)
            )
        if resources.code_interpreter:
            ids = resources.code_interpreter.file_ids
            retrieve = self.knowledge.files.get
            wanted.append(("tool_resources.code_interpreter.file_ids", ids, "file", retrieve))
        missing: list[tuple[str, str]] = []
        for path, ids, label, retrieve in wanted:
            for i, object_id in enumerate(ids):
                if await retrieve(object_id) is None:
                    missing.append(
                        (f"{path}[{i}]", f"no {label} {object_id!r} in profile {self._profile!r}")
                    )
        if missing:
            raise SpecError(missing)


def _remote(entry: RegistryEntry) -> RemoteAssistant:
    return RemoteAssistant(
        id=str(entry.id), spec=entry.spec, created_at=int(entry.created_at.timestamp())
    )
