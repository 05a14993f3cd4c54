"""A clone world: a source and a destination project on the sandbox, profiles for both, a
clone-queue worker, and a source of assistants with vector stores and files."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from producers.client import FerryClient
from sandbox.server import ThreadedSandbox
from schemas.clone import (
    AssistantCloneResult,
    CloneOptions,
    ClonePlan,
    ClonePlanJob,
    Selection,
)
from schemas.keys import Queue
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from worker.handlers import PRODUCT_HANDLERS
from worker.settings import Settings


def new_project(server: ThreadedSandbox) -> SandboxProject:
    token = secrets.token_hex(8)
    api_key = f"sk-proj-test{secrets.token_hex(20)}"
    org_id, project_id = f"org-{token}", f"proj_{token}"
    server.state.add_key(api_key, org_id, project_id)
    return SandboxProject(server, api_key, org_id, project_id)


@dataclass
class CloneWorld:
    ferry: FerryClient
    settings: Settings
    src: SandboxProject
    dst: SandboxProject
    out: Path
    source_ids: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    stores: dict[str, str] = field(default_factory=dict)

    @property
    def src_client(self) -> AsyncOpenAI:
        return self.src.client()

    def posts(self, project: SandboxProject) -> int:
        """Write requests (POST/DELETE) seen so far, every project's."""
        snapshot = project.server.state.counters.snapshot()
        return sum(r["count"] for r in snapshot["requests"] if r["method"] in ("POST", "DELETE"))

    def answered(self, method: str, route: str) -> int:
        """Requests of `route` the session's sandbox answered 200 so far (every project's)."""
        snapshot = self.dst.server.state.counters.snapshot()
        return sum(
            r["count"]
            for r in snapshot["requests"]
            if (r["method"], r["route"], r["status"]) == (method, route, 200)
        )

    def counts(self, project: SandboxProject) -> dict[str, int]:
        return project.project.object_counts()

    async def plan(self, **options: object) -> ClonePlan:
        selection = options.pop("selection", Selection())
        job = ClonePlanJob(
            source="src",
            destination="dst",
            selection=selection,  # type: ignore[arg-type]
            options=CloneOptions(**options),  # type: ignore[arg-type]
            request_id=secrets.token_hex(4),
        )
        return await self.ferry.clones.plan(job, timeout=60)

    async def plan_export(self, data: bytes, filename: str, **options: object) -> ClonePlan:
        """Keep an export file as the producer does, then plan a clone from it into `dst`."""
        ref = await self.ferry.clones.keep_export(data, filename)
        selection = options.pop("selection", Selection())
        job = ClonePlanJob(
            source=ref.label,
            source_export=ref,
            destination="dst",
            selection=selection,  # type: ignore[arg-type]
            options=CloneOptions(**options),  # type: ignore[arg-type]
            request_id=secrets.token_hex(4),
        )
        return await self.ferry.clones.plan(job, timeout=60)

    async def apply(self, plan: ClonePlan) -> list[AssistantCloneResult | Exception]:
        handles = await self.ferry.clones.apply(plan.plan_id)
        results: list[AssistantCloneResult | Exception] = []
        for handle in handles:
            try:
                results.append(await handle.result(timeout=60))
            except Exception as error:
                results.append(error)
        return results


@pytest.fixture
def dst_style() -> str:
    return "responses"


@pytest.fixture
def src_style() -> str:
    return "assistants"


@pytest.fixture
def in_process_worker() -> bool:
    return True


@pytest.fixture
async def clone_world(
    ferry: FerryClient,
    settings: Settings,
    sandbox_server: ThreadedSandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    src_style: str,
    dst_style: str,
    in_process_worker: bool,
) -> AsyncIterator[CloneWorld]:
    """Profiles `src` and `dst` on two fresh sandbox projects; a clone worker; OUTPUT_DIR."""
    src, dst = new_project(sandbox_server), new_project(sandbox_server)
    for name, project, style in (("SRC", src, src_style), ("DST", dst, dst_style)):
        monkeypatch.setenv(f"OPENAI_{name}_API_KEY", project.api_key)
        monkeypatch.setenv(f"OPENAI_{name}_BASE_URL", project.base_url)
        monkeypatch.setenv(f"OPENAI_{name}_API_STYLE", style)
        monkeypatch.setenv(f"OPENAI_{name}_ORG_ID", project.org_id)
        monkeypatch.setenv(f"OPENAI_{name}_PROJECT_ID", project.project_id)
        sandbox_server.state.set_ingestion_seconds(0.05, project.project_id)
    out = tmp_path / "out"
    fresh = settings.model_copy(update={"output_dir": out, "max_concurrency": 2})
    try:
        if in_process_worker:
            async with running_worker(fresh, Queue.clone, PRODUCT_HANDLERS):
                yield CloneWorld(ferry, fresh, src, dst, out)
        else:
            yield CloneWorld(ferry, fresh, src, dst, out)
    finally:
        for project in (src, dst):
            for client in project.clients:
                await client.close()


async def seed_source(world: CloneWorld) -> None:
    """Two v2 assistants sharing a vector store (two files, one with attributes), one with a
    code-interpreter file, and one assistant with no knowledge."""
    c = world.src_client
    returns = await c.files.create(
        file=("returns.md", b"# Returns\nWithin 30 days, with the receipt.\n"),
        purpose="assistants",
    )
    sla = await c.files.create(
        file=("sla.txt", b"Uptime 99.9%. Credits for downtime.\n"), purpose="assistants"
    )
    sales = await c.files.create(file=("sales.csv", b"month,total\n7,100\n"), purpose="assistants")
    store = await c.vector_stores.create(
        name="Support KB",
        metadata={"team": "support"},
        expires_after={"anchor": "last_active_at", "days": 30},
    )
    await c.vector_stores.files.create(store.id, file_id=returns.id, attributes={"lang": "en"})
    await c.vector_stores.files.create(store.id, file_id=sla.id)
    support = await c.beta.assistants.create(
        name="Support Concierge",
        model="gpt-4o",
        instructions="Help customers.",
        temperature=0.3,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        metadata={"team": "support"},
    )
    analyst = await c.beta.assistants.create(
        name="Data Analyst",
        model="gpt-4o-mini",
        instructions="Analyse the sales.",
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}],
        tool_resources={
            "code_interpreter": {"file_ids": [sales.id]},
            "file_search": {"vector_store_ids": [store.id]},
        },
    )
    plain = await c.beta.assistants.create(name="Plain Helper", model="gpt-4o")
    world.source_ids = {"support": support.id, "analyst": analyst.id, "plain": plain.id}
    world.files = {"returns": returns.id, "sla": sla.id, "sales": sales.id}
    world.stores = {"support": store.id}
