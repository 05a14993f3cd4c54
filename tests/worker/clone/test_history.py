"""Chat history (issue 10 item 6): every user thread of a cloned assistant becomes a
conversation, in order, 20 items per call, images re-mapped, annotations dropped and counted."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from sandbox.bulk_threads import IMAGE_URL
from sandbox.faults import Fault
from schemas.clone import AssistantCloneResult, ThreadRow
from store import clone_state, user_threads
from tests.worker.clone.conftest import CloneWorld
from tests.worker.clone.history_world import (
    conversation_items,
    expected_items,
    seed_history,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_threads_become_conversations_in_order_and_a_rerun_writes_nothing(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    history = await seed_history(world)
    plan = await world.plan(threads=True, thread_rows=history.csv_rows)
    [planned] = plan.assistants
    assert [(t.thread_id, t.user_id, t.origin, t.messages) for t in planned.threads] == [
        (history.threads[0], "user-0001", "user_threads", 45),
        (history.threads[1], "user-0002", "--threads-from line 2", 45),
    ]
    # Per thread: a conversation and three appends (20 + 20 + 5).
    assert [t.write_requests for t in planned.threads] == [4, 4]
    assert (plan.thread_count, plan.thread_messages) == (2, 90)

    posts = world.posts(world.dst)
    [result] = await world.apply(plan)
    assert isinstance(result, AssistantCloneResult), result
    assert result.status == "created"
    # 8 conversation writes and the one image file, copied once for both threads.
    assert result.write_requests == 9
    assert world.posts(world.dst) - posts == 9
    assert world.counts(world.dst) == {"file": 1, "conversation": 2}
    image = await clone_state.copied_file(world.ferry.db, "dst", history.image_file_id)
    assert image is not None
    assert (await world.dst.client().files.retrieve(image.destination_file_id)).filename == (
        "pixel.png"
    )
    by_thread = {t.thread_id: t for t in result.threads}
    dst = world.dst.client()
    for thread_id in history.threads:
        copied = by_thread[thread_id]
        assert copied.status == "copied" and copied.messages_copied == 45
        items = await conversation_items(dst, copied.conversation_id or "")
        assert items == expected_items(world, thread_id, image.destination_file_id)
    first, second = (by_thread[t] for t in history.threads)
    assert (first.annotations_dropped, second.annotations_dropped) == (3, 0)
    # fill_threads alternates image_file and image_url parts: 4 + 3 files re-mapped.
    assert (first.images_remapped, second.images_remapped) == (4, 3)
    urls = [p for _, parts in items for p in parts if p == ("input_image", IMAGE_URL)]
    assert len(urls) == 4

    # user_threads points at each new conversation and keeps the thread it came from.
    destination = UUID(result.destination_id or "")
    for user, thread_id in (("user-0001", history.threads[0]), ("user-0002", history.threads[1])):
        assert await user_threads.cloned_from(world.ferry.db, user, destination) == (
            by_thread[thread_id].conversation_id,
            thread_id,
        )
    assert (
        await user_threads.get(world.ferry.db, "user-0001", history.source_entry)
        == (history.threads[0])
    )
    report = json.loads((world.out / plan.plan_id / "mapping.json").read_text())
    assert report["summary"]["threads"] == {
        "copied": 2,
        "failed": 0,
        "messages": 90,
        "annotations_dropped": 3,
        "images_remapped": 7,
        "images_dropped": 0,
    }
    assert (
        "Threads: 2 copied (90 messages, 3 annotations dropped"
        in (world.out / plan.plan_id / "report.md").read_text()
    )

    # Again: everything is journaled as copied, so nothing is written anywhere.
    again = await world.plan(threads=True, thread_rows=history.csv_rows)
    assert [(t.copied, t.write_requests) for t in again.assistants[0].threads] == [(45, 0)] * 2
    assert again.write_requests == 0
    posts = world.posts(world.dst)
    [rerun] = await world.apply(again)
    assert isinstance(rerun, AssistantCloneResult), rerun
    assert [(t.status, t.messages_copied) for t in rerun.threads] == [("unchanged", 45)] * 2
    assert rerun.write_requests == 0
    assert world.posts(world.dst) == posts
    assert world.counts(world.dst) == {"file": 1, "conversation": 2}
    assert await user_threads.archived(world.ferry.db, "user-0001") == []


async def test_an_append_whose_answer_was_lost_is_found_not_repeated(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    history = await seed_history(world)
    state, project = world.dst.server.state, world.dst.project_id
    # The second append lands and its answer is lost.
    state.add_fault(
        Fault(
            kind="latency",
            method="POST",
            path="/v1/conversations/*/items",
            count=1,
            project_id=project,
        )
    )
    lost = state.add_fault(
        Fault(
            kind="apply_then_drop",
            method="POST",
            path="/v1/conversations/*/items",
            count=1,
            project_id=project,
        )
    )
    plan = await world.plan(threads=True)  # user_threads only: the first thread
    [result] = await world.apply(plan)
    assert lost.fired == 1
    assert isinstance(result, AssistantCloneResult), result
    [thread] = result.threads
    assert (thread.status, thread.messages_copied) == ("copied", 45)
    image = await clone_state.copied_file(world.ferry.db, "dst", history.image_file_id)
    assert image is not None
    items = await conversation_items(world.dst.client(), thread.conversation_id or "")
    assert items == expected_items(world, history.threads[0], image.destination_file_id)
    assert world.counts(world.dst) == {"file": 1, "conversation": 1}


async def test_a_lost_conversation_create_is_said_in_the_result(
    clone_world: CloneWorld,
) -> None:
    """OpenAI lists no conversations, so a create whose answer was lost cannot be found: the
    copy makes another, and the result says an empty tagged one may be left behind."""
    world = clone_world
    history = await seed_history(world, messages_per_thread=5)
    state, project = world.dst.server.state, world.dst.project_id
    state.add_fault(
        Fault(
            kind="apply_then_drop",
            method="POST",
            path="/v1/conversations",
            count=1,
            project_id=project,
        )
    )
    plan = await world.plan(threads=True)
    [result] = await world.apply(plan)
    assert isinstance(result, AssistantCloneResult), result
    [thread] = result.threads
    assert thread.messages_copied == 5
    assert thread.note is not None and f"cloned_from={history.threads[0]}" in thread.note
    assert world.counts(world.dst)["conversation"] == 2
    assert len(await conversation_items(world.dst.client(), thread.conversation_id or "")) == 5


async def test_a_csv_thread_the_source_lacks_blocks_its_assistant_naming_the_line(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    history = await seed_history(world, messages_per_thread=2)
    rows = [
        ThreadRow(
            user_id="user-9", assistant_id=history.assistant_id, thread_id="thread_nope", line=7
        ),
        ThreadRow(user_id="user-8", assistant_id="asst_other", thread_id="thread_x", line=8),
    ]
    plan = await world.plan(threads=True, thread_rows=rows, threads_from="teams.csv")
    [planned] = plan.assistants
    assert planned.operation.value == "blocked"
    assert planned.problems == [
        "thread thread_nope (user 'user-9', from teams.csv line 7): the source has no such "
        "thread; fix or remove that line"
    ]
    assert plan.notes == [
        "teams.csv line 8: thread thread_x of asst_other, an assistant not in the selection: "
        "not copied"
    ]


@pytest.mark.parametrize("dst_style", ["assistants"])
async def test_threads_need_a_responses_destination(clone_world: CloneWorld) -> None:
    await seed_history(clone_world, messages_per_thread=2)
    with pytest.raises(Exception, match="--threads: chat history is copied from an assistants"):
        await clone_world.plan(threads=True)


async def test_a_failed_thread_fails_its_assistant_and_the_next_apply_resumes_it(
    clone_world: CloneWorld,
) -> None:
    world = clone_world
    history = await seed_history(world, messages_per_thread=5)
    plan = await world.plan(threads=True, thread_rows=history.csv_rows)
    # The second thread's messages cannot be read (503s past the call layer's retries).
    broken = world.src.server.state.add_fault(
        Fault(
            kind="error",
            status=503,
            method="GET",
            path=f"/v1/threads/{history.threads[1]}/messages",
            project_id=world.src.project_id,
        )
    )
    [result] = await world.apply(plan)
    assert broken.fired == world.settings.openai_max_attempts
    assert isinstance(result, Exception)
    assert f"1 thread(s) not copied: {history.threads[1]}: " in str(result)
    report = json.loads((world.out / plan.plan_id / "mapping.json").read_text())
    [row] = report["mappings"]
    assert (row["status"], row["retry_recommended"]) == ("failed", True)
    assert [(t["thread_id"], t["status"], t["messages_copied"]) for t in row["threads"]] == [
        (history.threads[0], "copied", 5),
        (history.threads[1], "failed", 0),
    ]
    assert (report["summary"]["threads"]["copied"], report["summary"]["threads"]["failed"]) == (
        1,
        1,
    )

    world.src.server.state.clear_faults()
    [resumed] = await world.apply(plan)  # the same plan: the failed assistant runs as -r2
    assert isinstance(resumed, AssistantCloneResult), resumed
    assert [(t.status, t.messages_copied) for t in resumed.threads] == [
        ("unchanged", 5),
        ("copied", 5),
    ]
    # The conversation made before the failure is the one the resume filled.
    assert world.counts(world.dst) == {"file": 1, "conversation": 2}
