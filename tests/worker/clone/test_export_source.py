"""An export file as a clone's source, into both destination styles, through real workers."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest

from producers.errors import JobFailed
from schemas.assistants import parse_spec
from schemas.clone import CLONED_FROM_KEY, Operation, Selection, SelectionMode
from schemas.registry_snapshot import RegistrySnapshot
from store import clone_state, registry
from tests.worker.clone.conftest import CloneWorld
from worker.backends.knowledge import Knowledge
from worker.blobs import PostgresBlobStore
from worker.clone.export_source import missing_file_problem, vector_store_problem

SALES = b"month,total\n7,100\n8,140\n"


async def ferry_uploaded(world: CloneWorld, name: str, data: bytes) -> str:
    """A file Ferry uploaded to the source project: the blob store keeps its bytes."""
    knowledge = Knowledge("src", world.src_client, PostgresBlobStore(world.ferry.db))
    return (await knowledge.files.upload_bytes(name, data, purpose="assistants")).id


async def bytes_of(world: CloneWorld, destination_file_id: str) -> bytes:
    """What Ferry uploaded as this destination file (OpenAI won't hand `assistants` back)."""
    blobs = PostgresBlobStore(world.ferry.db)
    link = await blobs.file_blob(destination_file_id)
    assert link is not None
    return await blobs.read_bytes(link.blob.sha256)


def snapshot(file_id: str) -> bytes:
    """`ferry assistants export` of a profile with two assistants, one with a CI file."""
    specs = [
        parse_spec(
            {
                "name": "Data Analyst",
                "model": "gpt-4o-mini",
                "instructions": "Analyse the sales.",
                "temperature": 0.2,
                "tools": [{"type": "code_interpreter"}],
                "tool_resources": {"code_interpreter": {"file_ids": [file_id]}},
                "metadata": {"team": "bi"},
            }
        ),
        parse_spec({"name": "Plain Helper", "model": "gpt-4o", "instructions": "Be brief."}),
    ]
    return RegistrySnapshot.of("legacy", specs).to_json().encode()


async def test_a_snapshot_clones_into_a_responses_destination_once(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    file_id = await ferry_uploaded(world, "sales.csv", SALES)
    data = snapshot(file_id)
    options = {
        "include_code_interpreter": True,
        "name_prefix": "PROD - ",
        "model_map": {"gpt-4o-mini": "gpt-4o"},
    }
    posts_before = world.posts(world.dst)
    plan = await world.plan_export(data, "team.json", **options)

    assert (plan.source, plan.source_style, plan.destination_style) == (
        "export:team.json",
        "export",
        "responses",
    )
    assert plan.source_export is not None and plan.source_export.profile == "legacy"
    assert [(a.source_id, a.name, a.operation) for a in plan.assistants] == [
        ("Data Analyst", "PROD - Data Analyst", Operation.create),
        ("Plain Helper", "PROD - Plain Helper", Operation.create),
    ]
    assert {f.filename: (f.travel, f.bytes) for f in plan.files.values()} == {
        "sales.csv": ("blob_store", len(SALES))
    }
    assert plan.write_requests == 1  # one upload; definitions go into the registry
    assert world.posts(world.dst) == posts_before

    results = await world.apply(plan)
    assert [r.status for r in results] == ["created", "created"]  # type: ignore[union-attr]
    assert world.counts(world.dst) == {"file": 1}
    entries = {e.name: e.spec for e in await registry.list_entries(world.ferry.db, "dst")}
    analyst = entries["PROD - Data Analyst"]
    assert analyst.model == "gpt-4o"
    assert analyst.metadata == {"team": "bi", CLONED_FROM_KEY: "Data Analyst"}
    [copied] = analyst.tool_resources.code_interpreter.file_ids  # type: ignore[union-attr]
    assert await bytes_of(world, copied) == SALES
    assert entries["PROD - Plain Helper"].metadata == {CLONED_FROM_KEY: "Plain Helper"}

    mapping = json.loads((world.out / plan.plan_id / "mapping.json").read_text())
    assert mapping["source"] == {
        "export_file": "team.json",
        "format": "snapshot",
        "profile": "legacy",
        "sha256": plan.source_export.sha256,
        "bytes": len(data),
    }
    assert [(m["src_id"], m["status"]) for m in mapping["mappings"]] == [
        ("Data Analyst", "success"),
        ("Plain Helper", "success"),
    ]
    report = (world.out / "report.md").read_text()
    assert (
        "**Source:** export file team.json (Ferry snapshot of profile legacy, "
        f"sha256 {plan.source_export.sha256[:12]}…)"
    ) in report
    assert "`sales.csv` (24 bytes): blob_store, copied" in report

    # The same export again: found through the mapping tables, nothing written.
    again = await world.plan_export(data, "team.json", **options)
    assert [a.operation for a in again.assistants] == [Operation.unchanged] * 2
    assert again.write_requests == 0
    before = world.posts(world.dst)
    second = await world.apply(again)
    assert [r.status for r in second] == ["unchanged", "unchanged"]  # type: ignore[union-attr]
    assert world.posts(world.dst) == before
    assert world.counts(world.dst) == {"file": 1}


async def v2_dump(world: CloneWorld) -> tuple[bytes, dict[str, str], str]:
    """A raw Assistants-API dump (a list response) of three v2 assistants; one has a CI file
    uploaded without Ferry. (The dump, the ids by short name, the file's id.)"""
    c = world.src_client
    file = await c.files.create(file=("sales.csv", SALES), purpose="assistants")
    analyst = await c.beta.assistants.create(
        name="Data Analyst",
        model="gpt-4o",
        instructions="Analyse the sales.",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [file.id]}},
    )
    support = await c.beta.assistants.create(
        name="Support Concierge", model="gpt-4o", instructions="Help.", top_p=0.9
    )
    plain = await c.beta.assistants.create(name="Plain Helper", model="gpt-4o")
    listed = await c.beta.assistants.list(order="asc")
    dump = {"object": "list", "data": [a.model_dump(mode="json") for a in listed.data]}
    ids = {"analyst": analyst.id, "support": support.id, "plain": plain.id}
    return json.dumps(dump).encode(), ids, file.id


def originals_with_manifest(tmp: Path, file_id: str) -> str:
    """Seed 004's folder of originals: the file, and `gpt_id.json` naming its id."""
    folder = tmp / "originals"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "sales-2024.csv").write_bytes(SALES)
    (folder / "gpt_id.json").write_text(json.dumps({"data/sales-2024.csv": file_id}))
    return str(folder)


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_a_raw_dump_clones_into_an_assistants_destination_once(
    clone_world: CloneWorld, tmp_path: Path
) -> None:
    world = clone_world
    data, ids, file_id = await v2_dump(world)
    options = {
        "include_code_interpreter": True,
        "name_prefix": "QA - ",
        "originals_dir": originals_with_manifest(tmp_path, file_id),
        "selection": Selection(mode=SelectionMode.by_name, names=["ANALYST", "concierge"]),
    }
    plan = await world.plan_export(data, "dump.json", **options)
    assert plan.source_export is not None and plan.source_export.format == "assistants_api_dump"
    assert [(a.source_id, a.operation) for a in plan.assistants] == [
        (ids["analyst"], Operation.create),
        (ids["support"], Operation.create),
    ]
    assert {f.filename: f.travel for f in plan.files.values()} == {"sales-2024.csv": "originals"}
    assert plan.write_requests == 1 + 2  # the upload and two remote assistants

    results = await world.apply(plan)
    assert [r.status for r in results] == ["created", "created"]  # type: ignore[union-attr]
    assert world.counts(world.dst) == {"assistant": 2, "file": 1}
    dst = world.dst.client()
    analyst = await dst.beta.assistants.retrieve(results[0].destination_id)  # type: ignore[union-attr]
    assert (analyst.name, analyst.metadata) == (
        "QA - Data Analyst",
        {CLONED_FROM_KEY: ids["analyst"]},
    )
    [copied] = analyst.tool_resources.code_interpreter.file_ids  # type: ignore[union-attr]
    assert await bytes_of(world, copied) == SALES
    support = await dst.beta.assistants.retrieve(results[1].destination_id)  # type: ignore[union-attr]
    assert (support.name, support.top_p) == ("QA - Support Concierge", 0.9)
    report = (world.out / "report.md").read_text()
    assert "export file dump.json (raw Assistants-API dump, sha256" in report

    # By id, the same two: unchanged, zero writes at the destination.
    by_id = Selection(mode=SelectionMode.by_id, ids=[ids["support"], ids["analyst"]])
    again = await world.plan_export(data, "dump.json", **{**options, "selection": by_id})
    assert [a.operation for a in again.assistants] == [Operation.unchanged] * 2
    before = world.posts(world.dst)
    second = await world.apply(again)
    assert [r.status for r in second] == ["unchanged", "unchanged"]  # type: ignore[union-attr]
    assert world.posts(world.dst) == before
    assert world.counts(world.dst) == {"assistant": 2, "file": 1}


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_a_file_without_bytes_fails_its_assistant_naming_the_file_and_the_fix(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    data, ids, file_id = await v2_dump(world)
    plan = await world.plan_export(
        data,
        "dump.json",
        include_code_interpreter=True,
        selection=Selection(mode=SelectionMode.by_name, names=["analyst", "plain"]),
    )
    problem = missing_file_problem(file_id, None)
    assert problem == (
        f"file {file_id}: the export names it but has no source API to download it from; "
        "Ferry's blob store has no copy and no --originals DIR was given. Fix: pass "
        f"--originals DIR holding the file, with gpt_id.json mapping its path to {file_id} "
        "(or clone without --code-interpreter)"
    )
    analyst, plain = plan.assistants
    assert (analyst.operation, analyst.problems) == (Operation.blocked, [problem])
    assert plain.operation is Operation.create

    results = await world.apply(plan)
    assert isinstance(results[0], JobFailed)
    assert results[0].error.message == problem
    assert results[1].status == "created"  # type: ignore[union-attr]
    # Nothing of the failed assistant reached the destination; the other one did.
    assert world.counts(world.dst) == {"assistant": 1}
    stored = await clone_state.plan_assistants(world.ferry.db, UUID(plan.plan_id))
    rows = {r.source_id: r for r in stored}
    assert (rows[ids["analyst"]].status, rows[ids["analyst"]].error) == ("failed", problem)
    report = (world.out / "report.md").read_text()
    assert f"- **Error:** {problem}" in report


async def test_a_vector_store_in_an_export_blocks_file_search_naming_the_fix(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    spec = {
        "name": "Front Desk",
        "model": "gpt-4o",
        "tools": [{"type": "file_search"}],
        "tool_resources": {"file_search": {"vector_store_ids": ["vs_gone"]}},
    }
    data = RegistrySnapshot.of("legacy", [parse_spec(spec)]).to_json().encode()
    blocked = await world.plan_export(data, "kb.json", include_file_search=True)
    [planned] = blocked.assistants
    assert (planned.operation, planned.problems) == (
        Operation.blocked,
        [vector_store_problem("vs_gone")],
    )
    assert "Fix: clone with --no-file-search" in planned.problems[0]
    # Without file search the definition comes over, its knowledge left out.
    plain = await world.plan_export(data, "kb.json")
    [result] = await world.apply(plain)
    assert result.status == "created"  # type: ignore[union-attr]
    [entry] = await registry.list_entries(world.ferry.db, "dst")
    assert entry.spec.tool_resources is None


async def test_an_unknown_id_in_an_export_names_where_ids_come_from(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    data = snapshot("file-x")
    with pytest.raises(JobFailed) as failed:
        await world.plan_export(
            data, "team.json", selection=Selection(mode=SelectionMode.by_id, ids=["asst_nope"])
        )
    assert failed.value.error.message == (
        "selection.ids: the source has no assistant asst_nope; a Ferry snapshot's ids are its "
        "assistants' names, a raw dump's their asst_ ids"
    )
    assert await clone_state.list_plans(world.ferry.db) == []


async def test_chat_history_is_refused_from_an_export(clone_world: CloneWorld) -> None:
    world = clone_world
    with pytest.raises(JobFailed) as failed:
        await world.plan_export(snapshot("file-x"), "team.json", threads=True)
    assert failed.value.error.message == (
        "--threads: chat history is read from the source's API, and an export file has none. "
        "Drop --threads/--threads-from, or clone from the source profile"
    )
    assert await clone_state.list_plans(world.ferry.db) == []


async def test_a_store_an_earlier_clone_copied_is_reused_from_an_export(
    clone_world: CloneWorld,
) -> None:
    # The team cloned from the live profile once; now only a dump of it is left.
    world = clone_world
    c = world.src_client
    file = await c.files.create(file=("faq.txt", b"Open 9 to 5.\n"), purpose="assistants")
    store = await c.vector_stores.create(name="FAQ")
    await c.vector_stores.files.create(store.id, file_id=file.id)
    desk = await c.beta.assistants.create(
        name="Front Desk",
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    [first] = await world.apply(await world.plan(include_file_search=True))
    assert first.status == "created"  # type: ignore[union-attr]
    copy = first.vector_stores[store.id]  # type: ignore[union-attr]
    listed = await c.beta.assistants.list()
    data = json.dumps([a.model_dump(mode="json") for a in listed.data]).encode()

    plan = await world.plan_export(data, "desk.json", include_file_search=True)
    [planned] = plan.assistants
    # Found by its `cloned_from` tag: the same destination assistant, nothing to change.
    assert (planned.source_id, planned.operation, planned.destination_id) == (
        desk.id,
        Operation.unchanged,
        first.destination_id,  # type: ignore[union-attr]
    )
    assert [(s.source_id, s.reused_as, s.file_ids) for s in planned.vector_stores] == [
        (store.id, copy, [])
    ]
    assert plan.write_requests == 0
    before = world.posts(world.dst)
    [second] = await world.apply(plan)
    assert second.status == "unchanged"  # type: ignore[union-attr]
    assert second.operations["file_search"] == "reused"  # type: ignore[union-attr]
    checks = second.validation  # type: ignore[union-attr]
    assert [(ch.field, ch.ok) for ch in checks if ch.field.startswith("vector")] == [
        (f"vector_store[{store.id}]", True)
    ]
    assert world.posts(world.dst) == before
    assert world.counts(world.dst) == {"file": 1, "vector_store": 1}
