"""A worker killed with SIGKILL mid-clone: the job runs again and finishes with no duplicate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from sandbox.faults import Fault
from store import registry
from tests.worker.clone.conftest import CloneWorld

# A short job lease, so the killed job's re-run comes in about a second although the kind's
# own timeout (30 minutes) is untouched: arq takes a job back once its lease is not renewed.
JOB_LEASE_S = "1"
WORKER = "import sys; from worker.__main__ import main; sys.exit(main(['--queue', 'clone']))"


def start_worker(world: CloneWorld) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()}
    s = world.settings
    env.update(
        DATABASE_URL=s.database_url,
        DATABASE_SCHEMA=s.database_schema or "",
        REDIS_URL=s.redis_url,
        REDIS_KEY_PREFIX=s.redis_key_prefix,
        OUTPUT_DIR=str(world.out),
        SWEEPER_INTERVAL_S="1",
        SWEEPER_GRACE_S="1",
        JOB_LEASE_S=JOB_LEASE_S,
        LOG_LEVEL="warning",
    )
    return subprocess.Popen(
        [sys.executable, "-c", WORKER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def seed(world: CloneWorld, store_metadata: dict[str, str] | None = None) -> str:
    c = world.src_client
    ids = []
    for name in ("a.txt", "b.txt", "c.txt"):
        ids.append((await c.files.create(file=(name, name.encode() * 20), purpose="assistants")).id)
    store = await c.vector_stores.create(name="KB", metadata=store_metadata or {})
    await c.vector_stores.file_batches.create(store.id, file_ids=ids)
    made = await c.beta.assistants.create(
        name="Helper",
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    return made.id


@pytest.mark.slow
@pytest.mark.parametrize("in_process_worker", [False])
@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/v1/files", "hang"),  # killed mid-upload
        # The upload landed, its id not yet recorded: the re-run must find it, not upload again.
        ("POST", "/v1/files", "apply_then_hang"),
        ("POST", "/v1/vector_stores", "hang"),  # files uploaded, store not made
        ("POST", "/v1/vector_stores", "apply_then_hang"),  # store made, not recorded
        ("POST", "/v1/vector_stores/*/file_batches", "hang"),  # store made, files not attached
        ("GET", "/v1/vector_stores/*/files", "hang"),  # attached, waiting for ingestion
    ],
)
async def test_a_worker_killed_at_each_step_leaves_no_duplicate(
    clone_world: CloneWorld, method: str, path: str, kind: str
) -> None:
    world = clone_world
    await seed(world)
    state, project = world.dst.server.state, world.dst.project_id
    first = start_worker(world)
    try:
        plan = await world.plan(include_file_search=True)
        # The second upload hangs (the first landed); every other step hangs at its first call.
        skip = 1 if path == "/v1/files" else 0
        if skip:
            state.add_fault(
                Fault(kind="latency", method=method, path=path, count=skip, project_id=project)
            )
        hang = state.add_fault(
            Fault(kind=kind, method=method, path=path, count=1, project_id=project)
        )
        [handle] = await world.ferry.clones.apply(plan.plan_id)
        # The sandbox runs in a thread of this process: its fault counters are the event
        # (`applied`: the object exists at the destination, the answer held back).
        while (hang.applied if kind == "apply_then_hang" else hang.fired) == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    state.clear_faults()
    second = start_worker(world)
    try:
        result = await handle.result(timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert result.status == "created"
    assert (await world.ferry.ledger_row(handle.job_id)).attempts == 2  # type: ignore[union-attr]
    assert world.counts(world.dst) == {"file": 3, "vector_store": 1}
    [entry] = await registry.list_entries(world.ferry.db, "dst")
    [store_id] = entry.spec.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
    attached = await world.dst.client().vector_stores.files.list(store_id)
    assert sorted(f.status for f in attached.data) == ["completed"] * 3


@pytest.mark.slow
@pytest.mark.parametrize("in_process_worker", [False])
@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_a_v2_assistant_made_before_its_record_is_found_not_made_again(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    await seed(world)
    state, project = world.dst.server.state, world.dst.project_id
    first = start_worker(world)
    try:
        plan = await world.plan(include_file_search=True)
        made = state.add_fault(
            Fault(
                kind="apply_then_hang",
                method="POST",
                path="/v1/assistants",
                count=1,
                project_id=project,
            )
        )
        [handle] = await world.ferry.clones.apply(plan.plan_id)
        while made.applied == 0:  # noqa: ASYNC110 - the assistant exists, its id unrecorded
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    state.clear_faults()
    second = start_worker(world)
    try:
        result = await handle.result(timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert (await world.ferry.ledger_row(handle.job_id)).attempts == 2  # type: ignore[union-attr]
    assert world.counts(world.dst) == {"assistant": 1, "file": 3, "vector_store": 1}
    [remote] = (await world.dst.client().beta.assistants.list()).data
    assert result.destination_id == remote.id
    assert remote.metadata == {"cloned_from": plan.assistants[0].source_id}


@pytest.mark.slow
@pytest.mark.parametrize("in_process_worker", [False])
async def test_an_untagged_store_made_before_its_record_is_found_not_made_again(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    # 16 metadata keys: no room for `cloned_from`, so no tag to find the copy by.
    full = {f"k{i:02}": str(i) for i in range(16)}
    await seed(world, store_metadata=full)
    state, project = world.dst.server.state, world.dst.project_id
    first = start_worker(world)
    try:
        plan = await world.plan(include_file_search=True)
        made = state.add_fault(
            Fault(
                kind="apply_then_hang",
                method="POST",
                path="/v1/vector_stores",
                count=1,
                project_id=project,
            )
        )
        [handle] = await world.ferry.clones.apply(plan.plan_id)
        while made.applied == 0:  # noqa: ASYNC110 - the store exists, its id unrecorded
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    state.clear_faults()
    second = start_worker(world)
    try:
        result = await handle.result(timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert result.status == "created"
    assert (await world.ferry.ledger_row(handle.job_id)).attempts == 2  # type: ignore[union-attr]
    assert world.counts(world.dst) == {"file": 3, "vector_store": 1}
    [store] = (await world.dst.client().vector_stores.list()).data
    assert store.metadata == full
    attached = await world.dst.client().vector_stores.files.list(store.id)
    assert sorted(f.status for f in attached.data) == ["completed"] * 3
