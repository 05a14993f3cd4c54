"""The knowledge half of a plan: what it reads of the source's stores and files."""

from __future__ import annotations

from tests.worker.clone.conftest import CloneWorld, seed_source


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
    before = [world.answered(*r) for r in routes]
    plan = await world.plan(include_file_search=True, include_code_interpreter=True)
    # Two assistants share the store: it is read and listed once (twice before), and the
    # three files' metadata come from one listing (a get per file before).
    assert [world.answered(*r) - b for r, b in zip(routes, before, strict=True)] == [1, 0, 1, 1]
    support, analyst, _ = plan.assistants
    assert support.vector_stores == analyst.vector_stores
    [store] = support.vector_stores
    assert store.file_attributes == {world.files["returns"]: {"lang": "en"}, world.files["sla"]: {}}
    assert {f.filename: f.created_at is not None for f in plan.files.values()} == {
        "returns.md": True,
        "sla.txt": True,
        "sales.csv": True,
    }
