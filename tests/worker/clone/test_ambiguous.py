"""Creates whose answers were lost ("applied then dropped") are reconciled, not repeated."""

from __future__ import annotations

import pytest

from sandbox.faults import Fault
from tests.worker.clone.conftest import CloneWorld, seed_source


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_lost_answers_of_every_create_leave_no_duplicate(clone_world: CloneWorld) -> None:
    world = clone_world
    await seed_source(world)
    state, project = world.dst.server.state, world.dst.project_id
    faults = [
        state.add_fault(
            Fault(kind="apply_then_drop", method="POST", path=path, count=1, project_id=project)
        )
        for path in ("/v1/files", "/v1/vector_stores", "/v1/assistants")
    ]
    plan = await world.plan(include_file_search=True)
    results = await world.apply(plan)
    assert [f.fired for f in faults] == [1, 1, 1]
    assert [getattr(r, "status", r) for r in results] == ["created"] * 3
    # Three source files are in the plan's stores (sales.csv is code-interpreter only).
    assert world.counts(world.dst) == {"file": 2, "vector_store": 1, "assistant": 3}
