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
