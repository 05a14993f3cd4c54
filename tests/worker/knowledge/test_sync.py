"""`knowledge.sync` through a real worker on a sandbox project: upload once, wire, replace,
detach, and a second apply that writes nothing."""

from __future__ import annotations

import hashlib

import pytest

from sandbox.faults import Fault
from schemas.assistants import parse_spec
from store import registry, registry_writes
from tests.worker.knowledge.conftest import PROFILE, KnowledgeWorld

pytestmark = pytest.mark.timeout(120)

RETURNS = b"# Returns\nWithin 30 days, with the receipt.\n"
SLA = b"Uptime 99.9%. Credits for downtime.\n"


async def test_first_apply_uploads_and_wires_then_a_second_writes_nothing(
    knowledge_world: KnowledgeWorld,
) -> None:
    world = knowledge_world
    world.write("docs/returns.md", RETURNS)
    world.write("docs/sla.txt", SLA)
    world.write("docs/copy-of-sla.txt", SLA)  # the same bytes: one file
    before = world.posts()
    first = await world.apply(["docs/*"], instructions="Help customers.")

    assert first.store_created is True
    assert [(f.name, f.status, f.uploaded) for f in first.files] == [
        ("docs/copy-of-sla.txt", "completed", True),
        ("docs/returns.md", "completed", True),
        ("docs/sla.txt", "completed", True),
    ]
    assert first.files[0].file_id == first.files[2].file_id
    assert first.files[1].sha256 == hashlib.sha256(RETURNS).hexdigest()
    # 2 uploads, 1 store, 1 batch
    assert first.write_requests == 4 and world.posts() - before == 4
    assert world.counts() == {"file": 2, "vector_store": 1}
    assert set((await world.store_files(first.vector_store_id)).values()) == {
        "returns.md",
        "copy-of-sla.txt",
    }
    entry = await world.entry()
    assert first.wired_version == entry.version == 2
    assert entry.spec.tool_resources is not None
    assert entry.spec.tool_resources.file_search is not None
    assert entry.spec.tool_resources.file_search.vector_store_ids == [first.vector_store_id]
    tools = entry.spec.to_responses_params()["tools"]
    assert tools == [{"type": "file_search", "vector_store_ids": [first.vector_store_id]}]

    before = world.posts()
    second = await world.apply(["docs/*"], instructions="Help customers.")
    assert world.posts() == before  # zero remote writes
    assert second.write_requests == 0 and second.store_created is False
    assert second.vector_store_id == first.vector_store_id
    assert [f.uploaded or f.attached for f in second.files] == [False, False, False]
    assert second.wired_version is None and second.detached == []
    assert (await world.entry()).version == 2  # the registry saw no change either


async def test_a_changed_file_replaces_the_old_and_a_removed_one_is_detached(
    knowledge_world: KnowledgeWorld,
) -> None:
    world = knowledge_world
    world.write("returns.md", RETURNS)
    world.write("sla.txt", SLA)
    first = await world.apply(["returns.md", "sla.txt"])
    old = {f.name: f.file_id for f in first.files}

    world.write("sla.txt", b"Uptime 99.95%. Credits for downtime.\n")
    before = world.posts()
    changed = await world.apply(["returns.md", "sla.txt"])
    new = {f.name: f.file_id for f in changed.files}
    assert new["returns.md"] == old["returns.md"] and new["sla.txt"] != old["sla.txt"]
    assert changed.detached == [old["sla.txt"]]
    # 1 upload, 1 detach, 1 batch
    assert changed.write_requests == 3 and world.posts() - before == 3
    assert set(await world.store_files(changed.vector_store_id)) == set(new.values())
    assert changed.wired_version is None

    removed = await world.apply(["sla.txt"])
    assert removed.detached == [old["returns.md"]]
    assert removed.write_requests == 1
    assert set(await world.store_files(removed.vector_store_id)) == {new["sla.txt"]}

    # Back to the first bytes: the profile still has that file, so nothing is uploaded.
    world.write("sla.txt", SLA)
    reverted = await world.apply(["sla.txt"])
    assert [(f.file_id, f.uploaded) for f in reverted.files] == [(old["sla.txt"], False)]
    assert world.counts() == {"file": 3, "vector_store": 1}


async def test_new_chunking_reattaches_and_a_file_that_fails_ingestion_is_reported(
    knowledge_world: KnowledgeWorld,
) -> None:
    world = knowledge_world
    world.write("returns.md", RETURNS)
    world.write("logo.png", b"\x89PNG\r\n\x1a\nnot really")
    first = await world.apply(["returns.md", "logo.png"])
    assert {f.name: f.status for f in first.files} == {
        "returns.md": "completed",
        "logo.png": "failed",
    }
    [failed] = first.failed
    assert failed.error == "The file type is not supported."

    chunking = {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100}
    rechunked = await world.apply(["returns.md"], chunking=chunking)
    [returns] = rechunked.files
    assert sorted(rechunked.detached) == sorted(f.file_id for f in first.files)
    assert returns.attached is True and returns.uploaded is False
    client = world.sandbox.client()
    attached = await client.vector_stores.files.retrieve(
        returns.file_id, vector_store_id=rechunked.vector_store_id
    )
    assert attached.chunking_strategy is not None
    assert attached.chunking_strategy.model_dump()["static"] == chunking
    again = await world.apply(["returns.md"], chunking=chunking)
    assert again.write_requests == 0


async def test_a_store_deleted_remotely_is_made_again_and_wired(
    knowledge_world: KnowledgeWorld,
) -> None:
    world = knowledge_world
    world.write("returns.md", RETURNS)
    first = await world.apply(["returns.md"])
    await world.sandbox.client().vector_stores.delete(first.vector_store_id)
    second = await world.apply(["returns.md"])
    assert second.store_created is True and second.vector_store_id != first.vector_store_id
    assert [f.uploaded for f in second.files] == [False]
    entry = await world.entry()
    assert second.wired_version == entry.version == 3
    assert entry.spec.tool_resources.file_search.vector_store_ids == [second.vector_store_id]  # type: ignore[union-attr]


@pytest.mark.parametrize("kb_style", ["assistants"])
async def test_an_assistants_style_profile_wires_the_registry_and_the_remote_assistant(
    knowledge_world: KnowledgeWorld,
) -> None:
    world = knowledge_world
    world.write("returns.md", RETURNS)
    client = world.sandbox.client()
    remote = await client.beta.assistants.create(
        name="Concierge", model="gpt-4o", instructions="Remote words.", tools=[]
    )
    spec = parse_spec({"name": "Concierge", "model": "gpt-4o"})
    db = world.ferry.db
    await registry_writes.write(db, world.ferry.redis, world.ferry.keys, PROFILE, spec)
    await registry.set_remote_id(db, PROFILE, "Concierge", remote.id)

    result = await world.apply(["returns.md"], tools=[{"type": "file_search"}])
    assert result.remote_wired is True
    # 1 upload, 1 store, 1 batch, 1 assistant update
    assert result.write_requests == 4
    resources = {"file_search": {"vector_store_ids": [result.vector_store_id]}}
    assert (await world.entry()).spec.to_v2_create()["tool_resources"] == resources
    after = await client.beta.assistants.retrieve(remote.id)
    assert after.tool_resources is not None and after.tool_resources.file_search is not None
    assert after.tool_resources.file_search.vector_store_ids == [result.vector_store_id]
    assert [t.type for t in after.tools] == ["file_search"]
    assert after.instructions == "Remote words."  # only file_search was touched

    before = world.posts()
    again = await world.apply(["returns.md"], tools=[{"type": "file_search"}])
    assert again.remote_wired is False and again.write_requests == 0
    assert world.posts() == before


async def test_lost_answers_of_the_upload_the_store_and_the_batch_leave_no_duplicate(
    knowledge_world: KnowledgeWorld,
) -> None:
    world = knowledge_world
    world.write("returns.md", RETURNS)
    world.write("sla.txt", SLA)
    state, project = world.sandbox.server.state, world.sandbox.project_id
    faults = [
        state.add_fault(
            Fault(kind="apply_then_drop", method="POST", path=path, count=1, project_id=project)
        )
        for path in ("/v1/files", "/v1/vector_stores", "/v1/vector_stores/*/file_batches")
    ]
    result = await world.apply(["returns.md", "sla.txt"])
    assert [f.fired for f in faults] == [1, 1, 1]
    assert [f.status for f in result.files] == ["completed", "completed"]
    assert world.counts() == {"file": 2, "vector_store": 1}
    assert set(await world.store_files(result.vector_store_id)) == {f.file_id for f in result.files}
