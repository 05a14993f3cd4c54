"""A knowledge world: profile `kb` on a sandbox project, a clone-queue worker, and a
directory of local files that applies name, as `ferry assistants apply` does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from producers import knowledge as local_knowledge
from producers.client import FerryClient, JobHandle
from producers.knowledge import LocalKnowledge
from schemas.assistants import parse_spec
from schemas.keys import Queue
from schemas.knowledge import KnowledgeSyncResult, parse_knowledge
from store import registry, registry_writes
from store.registry import RegistryEntry
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from worker.handlers import PRODUCT_HANDLERS
from worker.settings import Settings

PROFILE = "kb"
MAX_MB = 512


@dataclass
class KnowledgeWorld:
    ferry: FerryClient
    sandbox: SandboxProject
    settings: Settings
    folder: Path

    def write(self, name: str, data: bytes) -> None:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def posts(self) -> int:
        """Write requests (POST/DELETE) the sandbox has seen, every project's."""
        snapshot = self.sandbox.server.state.counters.snapshot()
        return sum(r["count"] for r in snapshot["requests"] if r["method"] in ("POST", "DELETE"))

    def counts(self) -> dict[str, int]:
        return self.sandbox.project.object_counts()

    async def store_files(self, store_id: str) -> dict[str, str]:
        """The store's files: file id → filename."""
        client = self.sandbox.client()
        listed = await client.vector_stores.files.list(store_id, limit=100)
        return {f.id: (await client.files.retrieve(f.id)).filename for f in listed.data}

    async def apply(
        self, files: list[str], *, name: str = "Concierge", chunking: Any = None, **spec: Any
    ) -> KnowledgeSyncResult:
        """What `ferry assistants apply` does for one spec with `knowledge:`."""
        handle = await self.enqueue(files, name=name, chunking=chunking, **spec)
        return await handle.result(timeout=60)

    async def enqueue(
        self, files: list[str], *, name: str = "Concierge", chunking: Any = None, **spec: Any
    ) -> JobHandle[KnowledgeSyncResult]:
        """The apply up to the enqueued sync job."""
        block: dict[str, Any] = {"files": files}
        if chunking is not None:
            block["chunking"] = chunking
        item = LocalKnowledge(name, "", parse_knowledge(block, "knowledge"))
        local_knowledge.resolve([item], self.folder, MAX_MB)
        [wired] = await local_knowledge.with_stores(
            self.ferry,
            PROFILE,
            [parse_spec({"name": name, "model": "gpt-4o", **spec})],
            [item],
        )
        await registry_writes.write_many(
            self.ferry.db, self.ferry.redis, self.ferry.keys, PROFILE, [wired]
        )
        return await local_knowledge.enqueue(self.ferry, PROFILE, item)

    async def entry(self, name: str = "Concierge") -> RegistryEntry:
        entry = await registry.get(self.ferry.db, PROFILE, name)
        assert entry is not None
        return entry


@pytest.fixture
def kb_style() -> str:
    return "responses"


@pytest.fixture
def kb_in_process_worker() -> bool:
    return True


@pytest.fixture
async def knowledge_world(
    ferry: FerryClient,
    settings: Settings,
    sandbox_project: SandboxProject,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kb_style: str,
    kb_in_process_worker: bool,
) -> AsyncIterator[KnowledgeWorld]:
    """Profile `kb` on a fresh sandbox project, and a clone-queue worker (unless the test
    runs worker processes of its own)."""
    monkeypatch.setenv("OPENAI_KB_API_KEY", sandbox_project.api_key)
    monkeypatch.setenv("OPENAI_KB_BASE_URL", sandbox_project.base_url)
    monkeypatch.setenv("OPENAI_KB_API_STYLE", kb_style)
    sandbox_project.server.state.set_ingestion_seconds(0.05, sandbox_project.project_id)
    folder = tmp_path / "apply"
    folder.mkdir()
    if not kb_in_process_worker:
        yield KnowledgeWorld(ferry, sandbox_project, settings, folder)
        return
    async with running_worker(settings, Queue.clone, PRODUCT_HANDLERS):
        yield KnowledgeWorld(ferry, sandbox_project, settings, folder)
