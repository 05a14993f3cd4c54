"""The plan job's requests: what it reads from a v2 destination."""

from __future__ import annotations

import pytest

from schemas.clone import Operation
from tests.worker.clone.conftest import CloneWorld, seed_source


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_a_plan_lists_a_v2_destination_once_not_once_per_assistant(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed_source(world)
    before = world.answered("GET", "/v1/assistants")
    plan = await world.plan()
    # One list of the source (the selection), one of the destination (the cloned_from
    # index), for three assistants: a search per assistant made it four.
    assert world.answered("GET", "/v1/assistants") - before == 2
    assert [a.operation for a in plan.assistants] == [Operation.create] * 3

    await world.apply(plan)
    before = world.answered("GET", "/v1/assistants")
    again = await world.plan()
    # Each found through the mapping table (by id): the destination is not listed at all.
    assert world.answered("GET", "/v1/assistants") - before == 1
    assert [a.operation for a in again.assistants] == [Operation.unchanged] * 3
