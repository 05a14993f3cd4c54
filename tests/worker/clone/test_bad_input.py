"""Bad input gets a clear error naming the fix, and nothing is written at the destination."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from producers.errors import JobFailed
from sandbox.faults import Fault
from schemas.assistants import parse_spec
from schemas.clone import ClonePlanJob, Operation, Selection, SelectionMode
from store import clone_state, registry, registry_writes
from tests.worker.clone.conftest import CloneWorld, seed_source
from worker.openai import quota


async def test_unknown_ids_fail_the_plan_naming_them(clone_world: CloneWorld) -> None:
    await seed_source(clone_world)
    with pytest.raises(JobFailed) as failed:
        await clone_world.plan(
            selection=Selection(mode=SelectionMode.by_id, ids=["asst_nope", "asst_gone"])
        )
    assert failed.value.error.message == (
        "selection.ids: the source has no assistant asst_nope, asst_gone; "
        "`ferry assistants list --profile SOURCE` shows its ids"
    )
    assert await clone_state.list_plans(clone_world.ferry.db) == []


async def test_an_empty_selection_fails_the_plan(clone_world: CloneWorld) -> None:
    await seed_source(clone_world)
    with pytest.raises(JobFailed) as failed:
        await clone_world.plan(selection=Selection(mode=SelectionMode.by_name, names=["zzz"]))
    assert failed.value.error.detail["code"] == "empty_selection"
    assert "matches no assistant" in failed.value.error.message


async def test_by_name_is_a_case_insensitive_contains_of_any(clone_world: CloneWorld) -> None:
    await seed_source(clone_world)
    plan = await clone_world.plan(
        selection=Selection(mode=SelectionMode.by_name, names=["CONCIERGE", "plain"])
    )
    assert [a.name for a in plan.assistants] == ["Support Concierge", "Plain Helper"]


def test_the_same_profile_on_both_sides_is_refused_before_anything_is_queued() -> None:
    with pytest.raises(ValidationError, match="a clone needs two profiles"):
        ClonePlanJob(source="src", destination="SRC", request_id="x")


async def test_a_profile_without_a_key_fails_naming_the_variable(
    clone_world: CloneWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = ClonePlanJob(source="src", destination="nowhere", request_id="x")
    with pytest.raises(JobFailed) as failed:
        await clone_world.ferry.clones.plan(job, timeout=30)
    assert failed.value.error.detail["code"] == "missing_profile"
    assert "OPENAI_NOWHERE_API_KEY" in failed.value.error.message


async def test_a_model_the_destination_lacks_blocks_its_assistant_until_mapped(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed_source(world)
    world.dst.server.state.set_models(world.dst.project_id, ["gpt-4.1", "gpt-4o-mini"])
    plan = await world.plan()
    blocked = {a.name: a.problems for a in plan.assistants if a.operation is Operation.blocked}
    assert blocked == {
        name: [
            "model_not_found: the destination has no model 'gpt-4o'; "
            "map it with --model-map gpt-4o=NEW_MODEL"
        ]
        for name in ("Support Concierge", "Plain Helper")
    }
    results = await world.apply(plan)
    assert [getattr(r, "status", "failed") for r in results] == ["failed", "created", "failed"]
    assert [e.name for e in await registry.list_entries(world.ferry.db, "dst")] == ["Data Analyst"]

    mapped = await world.plan(model_map={"gpt-4o": "gpt-4.1"})
    assert [a.operation for a in mapped.assistants] == [
        Operation.create,
        Operation.unchanged,
        Operation.create,
    ]
    assert {r.status for r in await world.apply(mapped)} == {"created", "unchanged"}  # type: ignore[union-attr]
    models = {e.name: e.spec.model for e in await registry.list_entries(world.ferry.db, "dst")}
    assert models == {
        "Support Concierge": "gpt-4.1",
        "Data Analyst": "gpt-4o-mini",
        "Plain Helper": "gpt-4.1",
    }


async def test_a_source_using_all_16_metadata_keys_is_linked_by_the_mapping_table_alone(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    full = {f"k{i}": str(i) for i in range(16)}
    source = await world.src_client.beta.assistants.create(
        name="Full", model="gpt-4o", metadata=full
    )
    plan = await world.plan()
    [planned] = plan.assistants
    assert planned.tagged is False
    [result] = await world.apply(plan)
    assert result.operations["tag"] == "mapping table only (16 keys used)"  # type: ignore[union-attr]
    [entry] = await registry.list_entries(world.ferry.db, "dst")
    assert entry.spec.metadata == full
    # The next run finds it through the mapping table: unchanged, not a second copy.
    again = await world.plan()
    assert [(a.operation, a.destination_id) for a in again.assistants] == [
        (Operation.unchanged, str(entry.id))
    ]
    assert source.id == again.assistants[0].source_id


@pytest.mark.parametrize(("src_style", "dst_style"), [("responses", "assistants")])
async def test_a_strict_schema_the_destination_refuses_fails_that_assistant_by_name(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    db, redis, keys = world.ferry.db, world.ferry.redis, world.ferry.keys
    loose = {"type": "object", "properties": {"q": {"type": "string"}}}  # not strict-valid
    bad = {
        "name": "Strict",
        "model": "gpt-4o",
        "tools": [{"type": "function", "name": "look", "parameters": loose, "strict": True}],
    }
    await registry_writes.write(db, redis, keys, "src", parse_spec(bad))
    await registry_writes.write(
        db, redis, keys, "src", parse_spec({"name": "Fine", "model": "gpt-4o"})
    )
    plan = await world.plan()
    results = await world.apply(plan)
    [failed] = [r for r in results if isinstance(r, JobFailed)]
    assert "Invalid schema for function 'look'" in failed.error.message
    rows = {r.source_id: r for r in await world.ferry.clones.rows(plan.plan_id)}
    statuses = sorted((a.name, rows[a.source_id].status) for a in plan.assistants)
    assert statuses == [("Fine", "created"), ("Strict", "failed")]
    assert world.counts(world.dst) == {"assistant": 1}
    report = (world.out / plan.plan_id / "report.md").read_text()
    assert "Invalid schema for function 'look'" in report
    assert "- **Retry:** Not recommended" in report


async def test_a_quota_stop_midway_fails_cleanly_and_a_later_apply_resumes(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed_source(world)
    state, project = world.dst.server.state, world.dst.project_id
    plan = await world.plan(include_file_search=True)
    # The quota runs out midway: the store and its files are made, the batch that attaches
    # them hangs a moment, the quota goes meanwhile, and every call after it is refused.
    hang = state.add_fault(
        Fault(
            kind="hang",
            method="POST",
            path="/v1/vector_stores/*/file_batches",
            count=1,
            hang_ms=300,
            project_id=project,
        )
    )

    async def exhaust_when_hung() -> None:
        while hang.fired == 0:  # noqa: ASYNC110 - the sandbox's counter is the event
            await asyncio.sleep(0.01)
        state.set_insufficient_quota(project)

    exhausting = asyncio.create_task(exhaust_when_hung())
    first = await world.apply(plan)
    await exhausting
    statuses = {
        a.name: getattr(r, "status", "failed") for a, r in zip(plan.assistants, first, strict=True)
    }
    # Plain Helper has no knowledge: its definition is a registry write, no OpenAI call.
    assert statuses == {
        "Support Concierge": "failed",
        "Data Analyst": "failed",
        "Plain Helper": "created",
    }
    failures = [r for r in first if isinstance(r, JobFailed)]
    assert {r.error.detail["code"] for r in failures} == {"insufficient_quota"}
    assert world.counts(world.dst) == {"file": 2, "vector_store": 1}
    report = json.loads((world.out / plan.plan_id / "mapping.json").read_text())
    retry = {m["name"]: m["retry_recommended"] for m in report["mappings"]}
    assert retry == {"Support Concierge": True, "Data Analyst": True, "Plain Helper": False}

    state.set_insufficient_quota(project, False)
    await quota.clear(world.ferry.redis, world.ferry.keys, "dst")
    resumed = await world.apply(plan)  # the same plan: its failed assistants run again
    assert [getattr(r, "status", r) for r in resumed] == ["created"] * 3
    run_ids = [h.job_id.rsplit("-", 1)[-1] for h in await world.ferry.clones.apply(plan.plan_id)]
    assert run_ids == ["r2", "r2", plan.assistants[2].source_id.rsplit("-", 1)[-1]]
    assert world.counts(world.dst) == {"file": 2, "vector_store": 1}
    assert len(await registry.list_entries(world.ferry.db, "dst")) == 3
