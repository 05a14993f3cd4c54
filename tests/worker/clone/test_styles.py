"""All four pairs of API styles: the same source clones, and a second run writes nothing."""

from __future__ import annotations

import pytest

from schemas.assistants import parse_spec
from schemas.clone import CLONED_FROM_KEY, Operation
from store import registry, registry_writes
from tests.worker.clone.conftest import CloneWorld


async def seed(world: CloneWorld, style: str) -> str:
    """One assistant with a vector store of one file, in the source's style; its id."""
    c = world.src_client
    file = await c.files.create(file=("faq.txt", b"Open 9 to 5.\n"), purpose="assistants")
    store = await c.vector_stores.create(name="FAQ", metadata={"team": "ops"})
    await c.vector_stores.files.create(store.id, file_id=file.id)
    spec = {
        "name": "Front Desk",
        "model": "gpt-4o",
        "instructions": "Answer from the FAQ.",
        "tools": [{"type": "file_search"}],
        "tool_resources": {"file_search": {"vector_store_ids": [store.id]}},
    }
    if style == "assistants":
        return (await c.beta.assistants.create(**spec)).id  # type: ignore[arg-type]
    db, redis, keys = world.ferry.db, world.ferry.redis, world.ferry.keys
    written = await registry_writes.write(db, redis, keys, "src", parse_spec(spec))
    return str(written.entry.id)


@pytest.mark.parametrize(
    ("src_style", "dst_style"),
    [
        ("assistants", "responses"),
        ("assistants", "assistants"),
        ("responses", "responses"),
        ("responses", "assistants"),
    ],
)
async def test_every_pair_of_styles_clones_once(
    clone_world: CloneWorld, src_style: str, dst_style: str
) -> None:
    world = clone_world
    source_id = await seed(world, src_style)
    plan = await world.plan(include_file_search=True)
    assert (plan.source_style, plan.destination_style) == (src_style, dst_style)
    assert plan.write_requests == 3 + (1 if dst_style == "assistants" else 0)
    [result] = await world.apply(plan)
    assert not isinstance(result, Exception), result
    assert result.status == "created"  # type: ignore[union-attr]
    [store_id] = result.vector_stores.values()  # type: ignore[union-attr]
    if dst_style == "assistants":
        copy = await world.dst.client().beta.assistants.retrieve(result.destination_id)  # type: ignore[union-attr]
        assert copy.metadata == {CLONED_FROM_KEY: source_id}
        assert copy.tool_resources.file_search.vector_store_ids == [store_id]  # type: ignore[union-attr]
    else:
        [entry] = await registry.list_entries(world.ferry.db, "dst")
        assert entry.spec.metadata == {CLONED_FROM_KEY: source_id}
        assert entry.spec.tool_resources.file_search.vector_store_ids == [store_id]  # type: ignore[union-attr]
    assert world.counts(world.dst).get("file") == 1

    again = await world.plan(include_file_search=True)
    assert [a.operation for a in again.assistants] == [Operation.unchanged]
    before = world.posts(world.dst)
    [second] = await world.apply(again)
    assert second.status == "unchanged"  # type: ignore[union-attr]
    assert world.posts(world.dst) == before
