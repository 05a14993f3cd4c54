"""Knowledge copies under load: many assistants on few shared stores, all at once."""

from __future__ import annotations

import asyncio

import pytest

from schemas.keys import Queue
from tests.pipeline import running_worker
from tests.worker.clone.conftest import CloneWorld
from worker.handlers import PRODUCT_HANDLERS


@pytest.mark.parametrize("in_process_worker", [False])
async def test_more_clones_at_once_than_pool_connections_on_shared_stores_finish(
    clone_world: CloneWorld,
) -> None:
    """12 assistants on 2 stores, 12 jobs at once, a 10-connection pool: every copy finishes.

    Each job waiting for a store's copy lock used to hold a pool connection while it
    waited; the waiters took the whole pool, the lock holders could not run their next
    query, and every job hung (the clone bench at 10 assistants on 3 stores, 8 at once).
    """
    world, c = clone_world, clone_world.src_client
    files = [
        await c.files.create(file=(f"doc-{j}.txt", b"doc %d\n" % j), purpose="assistants")
        for j in range(4)
    ]
    stores = []
    for s in range(2):
        store = await c.vector_stores.create(name=f"KB {s}")
        await c.vector_stores.file_batches.create(store.id, file_ids=[f.id for f in files[s::2]])
        stores.append(store.id)
    for i in range(12):
        await c.beta.assistants.create(
            name=f"Assistant {i}",
            model="gpt-4o",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": [stores[i % 2]]}},
        )
    wide = world.settings.model_copy(update={"max_concurrency": 12, "worker_max_jobs": 12})
    async with running_worker(wide, Queue.clone, PRODUCT_HANDLERS):
        plan = await world.plan(include_file_search=True)
        async with asyncio.timeout(120):  # a starved pool hangs every job: fail instead
            results = await world.apply(plan)
    assert [getattr(r, "status", r) for r in results] == ["created"] * 12
    assert world.counts(world.dst) == {"file": 4, "vector_store": 2}
    copies = {r.vector_stores[stores[0]] for r in results if stores[0] in r.vector_stores}  # type: ignore[union-attr]
    assert len(copies) == 1
