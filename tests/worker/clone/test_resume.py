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


async def seed(world: CloneWorld) -> str:
    c = world.src_client
    ids = []
    for name in ("a.txt", "b.txt", "c.txt"):
        ids.append((await c.files.create(file=(name, name.encode() * 20), purpose="assistants")).id)
    store = await c.vector_stores.create(name="KB")
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
    ("method", "path"),
    [
        ("POST", "/v1/files"),  # killed mid-upload
        ("POST", "/v1/vector_stores"),  # files uploaded, store not made
        ("POST", "/v1/vector_stores/*/file_batches"),  # store made, files not attached
        ("GET", "/v1/vector_stores/*/files"),  # attached, waiting for ingestion
    ],
)
async def test_a_worker_killed_at_each_step_leaves_no_duplicate(
    clone_world: CloneWorld, method: str, path: str
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
            Fault(kind="hang", method=method, path=path, count=1, project_id=project)
        )
        [handle] = await world.ferry.clones.apply(plan.plan_id)
        # The sandbox runs in a thread of this process: its fault counter is the event.
        while hang.fired == 0:  # noqa: ASYNC110 - the worker is inside the step
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
