"""Validation after apply (seed step 3): what it checks, and that it costs no read of its own."""

from __future__ import annotations

import pytest

from tests.worker.clone.conftest import CloneWorld, seed_source


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_validation_checks_the_destinations_own_answers_without_reading_again(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    world.dst.server.state.set_ingestion_seconds(0.0, world.dst.project_id)
    await seed_source(world)
    plan = await world.plan(include_file_search=True)
    gets = world.answered("GET", "/v1/assistants/{id}")
    store_lists = world.answered("GET", "/v1/vector_stores/{id}/files")

    results = await world.apply(plan)

    assert [r.status for r in results] == ["created"] * 3  # type: ignore[union-attr]
    checks = {r.name: {c.field: c.ok for c in r.validation} for r in results}  # type: ignore[union-attr]
    store = world.stores["support"]
    assert checks["Support Concierge"] == {
        "model": True,
        "instructions_sha256": True,
        "tools": True,
        "temperature": True,
        "top_p": True,
        "response_format": True,
        f"vector_store[{store}].files": True,
        "code_interpreter.files": True,
    }
    # Each assistant was checked against its create's answer: no retrieve.
    assert world.answered("GET", "/v1/assistants/{id}") - gets == 0
    # The store's files: the destination's attach check per assistant using it (2) and one
    # ingestion poll by the job that attached them (1). Validation reuses the last listing
    # (it added 2), and the files' attributes come from the plan (the source was listed
    # again per assistant: 2 more).
    assert world.answered("GET", "/v1/vector_stores/{id}/files") - store_lists == 3


async def test_an_unexpected_file_in_a_cloned_store_fails_the_assistants_using_it(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed_source(world)
    first = await world.apply(await world.plan(include_file_search=True))
    [dst_store] = first[0].vector_stores.values()  # type: ignore[union-attr]
    dst = world.dst.client()
    stray = await dst.files.create(file=("stray.txt", b"not from the source"), purpose="assistants")
    await dst.vector_stores.files.create(dst_store, file_id=stray.id)

    plan = await world.plan(include_file_search=True)
    results = await world.apply(plan)

    # The two assistants sharing the store fail validation, naming the check; the third clones.
    failed = [str(r).split(": ", 1)[1] for r in results if isinstance(r, Exception)]
    field = f"vector_store[{world.stores['support']}].files"
    assert failed == [f"validation failed: {field}"] * 2
    mapping = await world.ferry.clones.result(plan.plan_id)
    by_name = {m["name"]: m for m in mapping["mappings"]}
    assert {n: m["status"] for n, m in by_name.items()} == {
        "Support Concierge": "failed",
        "Data Analyst": "failed",
        "Plain Helper": "success",
    }
    [check] = [c for c in by_name["Support Concierge"]["validation"] if c["field"] == field]
    assert check["ok"] is False
    assert check["expected"] == ["returns.md", "sla.txt"]
    assert check["found"] == sorted(["returns.md", "sla.txt", f"(unexpected {stray.id})"])
    assert mapping["summary"]["failed"] == 2
