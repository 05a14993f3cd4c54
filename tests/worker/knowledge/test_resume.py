"""A worker killed with SIGKILL mid-sync: the job runs again and finishes with no duplicate."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandbox.faults import Fault
from tests.worker.killing import killed_when_done, result_on, until
from tests.worker.knowledge.conftest import KnowledgeWorld

# A short job lease, so the killed job's re-run comes in about a second although the kind's
# own timeout is untouched: arq takes a job back once its lease is not renewed.
JOB_LEASE_S = "1"
WORKER = "import sys; from worker.__main__ import main; sys.exit(main(['--queue', 'clone']))"


def start_worker(world: KnowledgeWorld) -> subprocess.Popen[bytes]:
    env = dict(os.environ)  # with the test's OPENAI_KB_* profile
    s = world.settings
    env.update(
        DATABASE_URL=s.database_url,
        DATABASE_SCHEMA=s.database_schema or "",
        REDIS_URL=s.redis_url,
        REDIS_KEY_PREFIX=s.redis_key_prefix,
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


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("kb_in_process_worker", [False])
@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/v1/files", "hang"),  # killed mid-upload (the first file landed)
        # The second upload landed too, its id not yet recorded: found, not uploaded again.
        ("POST", "/v1/files", "apply_then_hang"),
        ("POST", "/v1/vector_stores", "hang"),  # files uploaded, store not made
        ("POST", "/v1/vector_stores", "apply_then_hang"),  # store made, not recorded
        ("POST", "/v1/vector_stores/*/file_batches", "hang"),  # store made, files not attached
        ("GET", "/v1/vector_stores/*/files", "hang"),  # attached, waiting for ingestion
    ],
)
async def test_a_worker_killed_at_each_step_leaves_no_duplicate(
    knowledge_world: KnowledgeWorld,
    method: str,
    path: str,
    kind: str,
) -> None:
    world = knowledge_world
    for name in ("a.txt", "b.txt", "c.txt"):
        world.write(name, name.encode() * 20)
    state, project = world.sandbox.server.state, world.sandbox.project_id
    with killed_when_done(start_worker(world)):
        # The second upload hangs (the first landed); the store's files are listed twice
        # before ingestion (what is attached, what is missing): the third listing hangs;
        # the other steps hang at their first call.
        skip = {"/v1/files": 1, "/v1/vector_stores/*/files": 2}.get(path, 0)
        if skip:
            state.add_fault(
                Fault(kind="latency", method=method, path=path, count=skip, project_id=project)
            )
        hang = state.add_fault(
            Fault(kind=kind, method=method, path=path, count=1, project_id=project)
        )
        handle = await world.enqueue(["*.txt"])
        # `applied`: the object exists at the destination, the answer held back.
        await until(lambda: hang.applied if kind == "apply_then_hang" else hang.fired)
    state.clear_faults()
    result = await result_on(start_worker(world), handle)
    assert (await world.ferry.ledger_row(handle.job_id)).attempts == 2  # type: ignore[union-attr]
    assert world.counts() == {"file": 3, "vector_store": 1}
    assert [f.status for f in result.files] == ["completed"] * 3
    assert set(await world.store_files(result.vector_store_id)) == {f.file_id for f in result.files}
    entry = await world.entry()
    assert entry.spec.tool_resources.file_search.vector_store_ids == [result.vector_store_id]  # type: ignore[union-attr]
