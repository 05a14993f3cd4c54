"""A whole clone through real workers: plan, apply, the destination counted, a second run."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.clone import Operation
from store import registry
from tests.worker.clone.conftest import CloneWorld, seed_source


def originals(tmp: Path) -> str:
    folder = tmp / "originals"
    folder.mkdir()
    (folder / "sales.csv").write_bytes(b"month,total\n7,100\n")
    return str(folder)


async def test_a_v2_source_clones_into_a_responses_destination_once(
    clone_world: CloneWorld, tmp_path: Path
) -> None:
    world = clone_world
    await seed_source(world)
    options = {
        "include_file_search": True,
        "include_code_interpreter": True,
        "name_prefix": "PROD - ",
        "originals_dir": originals(tmp_path),
    }
    posts_before = world.posts(world.dst)
    plan = await world.plan(**options)

    # The plan: three creates, files counted once, each with how its bytes will travel.
    assert [(a.name, a.operation) for a in plan.assistants] == [
        ("PROD - Support Concierge", Operation.create),
        ("PROD - Data Analyst", Operation.create),
        ("PROD - Plain Helper", Operation.create),
    ]
    assert {f.filename: f.travel for f in plan.files.values()} == {
        "returns.md": "parsed_text",
        "sla.txt": "parsed_text",
        "sales.csv": "originals",
    }
    # 3 uploads, 1 store and its batch, though two assistants use them; the definitions
    # live in the registry (no request).
    assert plan.write_requests == 3 + 1 + 1
    assert world.posts(world.dst) == posts_before  # nothing written remotely
    assert world.counts(world.dst) == {}

    results = await world.apply(plan)
    assert [r.status for r in results] == ["created", "created", "created"]  # type: ignore[union-attr]
    assert world.counts(world.dst) == {"file": 3, "vector_store": 1}
    entries = {e.name: e for e in await registry.list_entries(world.ferry.db, "dst")}
    support = entries["PROD - Support Concierge"].spec
    [dst_store] = support.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    assert dst_store == results[0].vector_stores[world.stores["support"]]  # type: ignore[union-attr]
    assert support.metadata == {"team": "support", "cloned_from": world.source_ids["support"]}
    analyst = entries["PROD - Data Analyst"].spec
    [sales] = analyst.tool_resources.code_interpreter.file_ids  # type: ignore[union-attr]
    assert sales != world.files["sales"]
    store = await world.dst.client().vector_stores.retrieve(dst_store)
    assert (store.name, store.metadata["team"]) == ("Support KB", "support")
    assert store.expires_after is not None and store.expires_after.days == 30
    attached = {
        f.id: f for f in (await world.dst.client().vector_stores.files.list(dst_store)).data
    }
    assert sorted(f.status for f in attached.values()) == ["completed", "completed"]
    assert sorted(str(f.attributes) for f in attached.values()) == ["{'lang': 'en'}", "{}"]
    assert all(check.ok for r in results for check in r.validation)  # type: ignore[union-attr]

    # The reports, per plan and latest.
    mapping = json.loads((world.out / plan.plan_id / "mapping.json").read_text())
    assert mapping["summary"]["success"] == 3 and mapping["summary"]["failed"] == 0
    assert mapping["destination"]["project_id"] == world.dst.project_id
    assert (world.out / "report.md").read_text() == (
        world.out / plan.plan_id / "report.md"
    ).read_text()
    assert "⚠️ parsed text" in (world.out / "report.md").read_text()
    assert await world.ferry.clones.result(plan.plan_id) == mapping

    # A second clone with no change at the source: all unchanged, zero writes.
    again = await world.plan(**options)
    assert {a.operation for a in again.assistants} == {Operation.unchanged}
    assert again.write_requests == 0
    writes_before = world.posts(world.dst)
    second = await world.apply(again)
    assert [r.status for r in second] == ["unchanged"] * 3  # type: ignore[union-attr]
    assert world.posts(world.dst) == writes_before
    assert world.counts(world.dst) == {"file": 3, "vector_store": 1}
    assert len(await registry.list_entries(world.ferry.db, "dst")) == 3


async def test_applying_a_plan_twice_runs_each_assistant_once(clone_world: CloneWorld) -> None:
    world = clone_world
    await seed_source(world)
    plan = await world.plan()
    first = await world.ferry.clones.apply(plan.plan_id)
    second = await world.ferry.clones.apply(plan.plan_id)
    assert [h.job_id for h in first] == [h.job_id for h in second]
    assert {(await h.result(timeout=30)).status for h in first} == {"created"}
    assert len(await registry.list_entries(world.ferry.db, "dst")) == 3
