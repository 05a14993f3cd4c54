"""A worker killed with SIGKILL mid-thread: the re-run resumes from the thread's journal and
the conversation ends with every message once, in order, and no second conversation."""

from __future__ import annotations

import pytest

from sandbox.faults import Fault
from store import clone_state, clone_threads, registry
from tests.worker.clone.conftest import CloneWorld
from tests.worker.clone.history_world import conversation_items, expected_items, seed_history
from tests.worker.clone.test_resume import start_worker
from tests.worker.killing import killed_when_done, result_on, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ITEMS = "/v1/conversations/*/items"


@pytest.mark.slow
@pytest.mark.parametrize("in_process_worker", [False])
@pytest.mark.parametrize(
    "landed",
    [
        False,  # killed while the second append hangs: it never landed
        True,  # the second append landed, its answer was lost, killed while reconciling
    ],
)
async def test_a_worker_killed_mid_thread_resumes_without_duplicates(
    clone_world: CloneWorld, landed: bool
) -> None:
    world = clone_world
    history = await seed_history(world)
    state, project = world.dst.server.state, world.dst.project_id
    with killed_when_done(start_worker(world)):
        plan = await world.plan(threads=True)
        # The first append is held a moment; once it is in, the next request's faults are
        # set: the second append hangs, or lands and loses its answer (and the reconciling
        # list that follows hangs).
        held = state.add_fault(
            Fault(
                kind="latency",
                method="POST",
                path=ITEMS,
                count=1,
                latency_ms=1000,
                project_id=project,
            )
        )
        [handle] = await world.ferry.clones.apply(plan.plan_id)
        await until(lambda: held.fired)
        if landed:
            state.add_fault(
                Fault(
                    kind="apply_then_drop", method="POST", path=ITEMS, count=1, project_id=project
                )
            )
            hang = state.add_fault(
                Fault(kind="hang", method="GET", path=ITEMS, count=1, project_id=project)
            )
        else:
            hang = state.add_fault(
                Fault(kind="hang", method="POST", path=ITEMS, count=1, project_id=project)
            )
        await until(lambda: hang.fired)
    journal = await clone_threads.thread_journal(world.ferry.db, "dst", history.threads[0])
    assert journal is not None and journal.messages_copied == 20  # the first batch only
    state.clear_faults()
    result = await result_on(start_worker(world), handle)
    # The definition was written before the threads: the re-run finds it equal to the plan.
    assert result.status == "unchanged"
    assert len(await registry.list_entries(world.ferry.db, "dst")) == 1
    assert (await world.ferry.ledger_row(handle.job_id)).attempts == 2  # type: ignore[union-attr]
    [thread] = result.threads
    assert (thread.messages_copied, thread.conversation_id) == (45, journal.conversation_id)
    assert world.counts(world.dst) == {"file": 1, "conversation": 1}
    image = await clone_state.copied_file(world.ferry.db, "dst", history.image_file_id)
    assert image is not None
    items = await conversation_items(world.dst.client(), journal.conversation_id)
    assert items == expected_items(world, history.threads[0], image.destination_file_id)
