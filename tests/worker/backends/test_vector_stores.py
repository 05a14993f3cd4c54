"""Vector stores on the port: create, attach (alone or batched), ingestion under a deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SandboxProject
from worker.backends.knowledge import Knowledge
from worker.backends.vector_stores import FileNotAttached, FileToAttach, IngestionTimedOut

PDF = (Path(__file__).parents[3] / "sandbox/fixtures/demo/files/sla.pdf").read_bytes()
GARBAGE = bytes([0xFF, 0xFE, 0x00, 0x81, 0x92]) * 50
CHUNKING = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 100},
}


def ingestion_takes(sandbox_project: SandboxProject, seconds: float) -> None:
    sandbox_project.server.state.set_ingestion_seconds(seconds, sandbox_project.project_id)


async def upload(knowledge: Knowledge, name: str, data: bytes) -> str:
    return (await knowledge.files.upload_bytes(name, data, purpose="assistants")).id


async def test_a_store_is_created_with_its_settings_and_listed_in_pages(
    knowledge: Knowledge,
) -> None:
    stores = knowledge.vector_stores
    made = [
        await stores.create(
            f"kb-{i}",
            metadata={"team": "ops"},
            expires_after={"anchor": "last_active_at", "days": 7},
        )
        for i in range(3)
    ]
    assert (made[0].name, made[0].metadata, made[0].expires_after.days) == (
        "kb-0",
        {"team": "ops"},
        7,
    )
    first = await stores.list_page(limit=2)
    rest = await stores.list_page(limit=2, after=first.after)
    assert [s.id for s in first.items + rest.items] == [s.id for s in made]
    assert (first.has_more, rest.has_more) == (True, False)
    assert [s.id for s in await stores.list_all()] == [s.id for s in made]
    assert await stores.get("vs_missing") is None
    with pytest.raises(ValueError, match="limit must be between 1 and 100"):
        await stores.list_page(limit=101)
    assert await stores.delete(made[0].id) is True
    assert await stores.delete(made[0].id) is False


async def test_ingestion_is_awaited_and_each_file_reports_completed_or_failed(
    knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    ingestion_takes(sandbox_project, 0.3)
    stores = knowledge.vector_stores
    store = await stores.create("kb")
    good = await upload(knowledge, "notes.md", b"# Notes\nplain text")
    bad = await upload(knowledge, "blob.txt", GARBAGE)
    attached = await stores.attach(
        store.id, FileToAttach(good, attributes={"lang": "pt"}, chunking_strategy=CHUNKING)
    )
    assert (attached.status, attached.attributes) == ("in_progress", {"lang": "pt"})
    await stores.attach(store.id, FileToAttach(bad))
    statuses = await stores.wait_for_ingestion(store.id, [good, bad], deadline_s=10, poll_s=0.05)
    assert {f: s.status for f, s in statuses.items()} == {good: "completed", bad: "failed"}
    assert statuses[bad].last_error is not None
    assert statuses[bad].last_error.code == "invalid_file"
    assert statuses[good].chunking_strategy.static.max_chunk_size_tokens == 300


async def test_a_deadline_ends_the_wait_naming_the_files_still_pending(
    knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    ingestion_takes(sandbox_project, 3600)
    stores = knowledge.vector_stores
    store = await stores.create("slow")
    file_id = await upload(knowledge, "big.txt", b"text")
    await stores.attach(store.id, FileToAttach(file_id))
    with pytest.raises(IngestionTimedOut) as timed_out:
        await stores.wait_for_ingestion(store.id, [file_id], deadline_s=0.2, poll_s=0.05)
    assert timed_out.value.pending == [file_id]
    assert timed_out.value.statuses[file_id].status == "in_progress"


async def test_waiting_for_a_file_never_attached_fails_at_once(knowledge: Knowledge) -> None:
    store = await knowledge.vector_stores.create("empty")
    with pytest.raises(FileNotAttached, match="file-nope"):
        await knowledge.vector_stores.wait_for_ingestion(store.id, ["file-nope"], deadline_s=60)


async def test_a_batch_attaches_files_each_with_its_own_attributes(
    knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    ingestion_takes(sandbox_project, 0)
    stores = knowledge.vector_stores
    store = await stores.create("kb")
    ids = [await upload(knowledge, f"doc{i}.txt", f"document {i}".encode()) for i in range(3)]
    files = [FileToAttach(f, attributes={"n": float(i)}) for i, f in enumerate(ids)]
    [batch] = await stores.attach_batch(store.id, files)
    assert batch.file_counts.total == 3
    assert (await stores.get_batch(store.id, batch.id)).status == "completed"
    listed = await stores.list_batch_files(store.id, batch.id)
    assert {f.id: f.attributes for f in listed} == {f: {"n": float(i)} for i, f in enumerate(ids)}
    assert [f.id for f in await stores.list_files(store.id, status="completed")] == ids
    assert await stores.detach(store.id, ids[0]) is True
    assert await stores.detach(store.id, ids[0]) is False
    assert [f.id for f in await stores.list_files(store.id)] == ids[1:]


async def test_parsed_content_is_the_text_the_store_read(
    knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    ingestion_takes(sandbox_project, 0)
    stores = knowledge.vector_stores
    store = await stores.create("kb")
    md = await upload(knowledge, "faq.md", "# FAQ\nComo cancelar? Em Configurações.\n".encode())
    pdf = await upload(knowledge, "sla.pdf", PDF)
    await stores.attach_batch(store.id, [FileToAttach(md), FileToAttach(pdf)])
    await stores.wait_for_ingestion(store.id, [md, pdf], deadline_s=10, poll_s=0.05)
    assert await stores.parsed_text(store.id, md) == "# FAQ\nComo cancelar? Em Configurações.\n"
    assert (await stores.parsed_text(store.id, pdf)).startswith(
        "Acme Cloud Service Level Agreement\nUptime commitment: 99.9 percent per calendar month.\n"
    )


async def test_a_store_is_updated_and_found_by_its_clone_tag(knowledge: Knowledge) -> None:
    stores = knowledge.vector_stores
    await stores.create("other", metadata={"cloned_from": "vs_elsewhere"})
    store = await stores.create("kb", expires_after={"anchor": "last_active_at", "days": 7})
    updated = await stores.update(
        store.id, name="kb v2", metadata={"cloned_from": "vs_src1"}, expires_after=None
    )
    assert (updated.name, updated.metadata, updated.expires_after) == (
        "kb v2",
        {"cloned_from": "vs_src1"},
        None,
    )
    assert [s.id for s in await stores.find_by_metadata("cloned_from", "vs_src1")] == [store.id]
    assert await stores.find_by_metadata("cloned_from", "vs_none") == []
