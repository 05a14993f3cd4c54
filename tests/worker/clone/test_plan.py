"""The plan job's requests: what it reads from a v2 destination."""

from __future__ import annotations

import pytest

from schemas.clone import Operation
from tests.worker.clone.conftest import CloneWorld, seed_source


def assistant_lists(world: CloneWorld) -> int:
    """`GET /v1/assistants` answered so far by the session's sandbox (every project's)."""
    snapshot = world.dst.server.state.counters.snapshot()
    return sum(
        r["count"]
        for r in snapshot["requests"]
        if (r["method"], r["route"], r["status"]) == ("GET", "/v1/assistants", 200)
    )


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_a_plan_lists_a_v2_destination_once_not_once_per_assistant(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed_source(world)
    before = assistant_lists(world)
    plan = await world.plan()
    # One list of the source (the selection), one of the destination (the cloned_from
    # index), for three assistants: a search per assistant made it four.
    assert assistant_lists(world) - before == 2
    assert [a.operation for a in plan.assistants] == [Operation.create] * 3

    await world.apply(plan)
    before = assistant_lists(world)
    again = await world.plan()
    # Each found through the mapping table (by id): the destination is not listed at all.
    assert assistant_lists(world) - before == 1
    assert [a.operation for a in again.assistants] == [Operation.unchanged] * 3


def answered(world: CloneWorld, method: str, route: str) -> int:
    """Requests of `route` answered 200 so far by the session's sandbox (every project's)."""
    snapshot = world.dst.server.state.counters.snapshot()
    return sum(
        r["count"]
        for r in snapshot["requests"]
        if (r["method"], r["route"], r["status"]) == (method, route, 200)
    )


async def test_a_plan_reads_each_source_store_once_and_lists_the_files_once(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed_source(world)
    routes = [
        ("GET", "/v1/files"),
        ("GET", "/v1/files/{id}"),
        ("GET", "/v1/vector_stores/{id}"),
        ("GET", "/v1/vector_stores/{id}/files"),
    ]
    before = [answered(world, *r) for r in routes]
    plan = await world.plan(include_file_search=True, include_code_interpreter=True)
    # Two assistants share the store: it is read and listed once (twice before), and the
    # three files' metadata come from one listing (a get per file before).
    assert [answered(world, *r) - b for r, b in zip(routes, before, strict=True)] == [1, 0, 1, 1]
    support, analyst, _ = plan.assistants
    assert support.vector_stores == analyst.vector_stores
    [store] = support.vector_stores
    assert store.file_attributes == {world.files["returns"]: {"lang": "en"}, world.files["sla"]: {}}
    assert {f.filename: f.created_at is not None for f in plan.files.values()} == {
        "returns.md": True,
        "sla.txt": True,
        "sales.csv": True,
    }
