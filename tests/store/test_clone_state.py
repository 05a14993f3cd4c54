"""The clone's durable state on the real Postgres: plans, mappings, file map, thread journal."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest

from store import clone_state
from tests.conftest import DATABASE_URL

SHA = "a" * 64


async def test_a_plan_is_stored_whole_by_id_with_its_assistants_planned(
    db: asyncpg.Pool,
) -> None:
    body = {"schema_version": 1, "assistants": [{"id": "asst_1", "operation": "create"}]}
    plan = await clone_state.save_plan(db, "src", "dst", body, ["asst_2", "asst_1", "asst_2"])
    assert await clone_state.get_plan(db, plan.id) == plan
    assert plan.body == body and (plan.source, plan.destination) == ("src", "dst")
    rows = await clone_state.plan_assistants(db, plan.id)
    assert [(a.source_id, a.status, a.destination_id) for a in rows] == [
        ("asst_1", "planned", None),
        ("asst_2", "planned", None),
    ]
    assert await clone_state.get_plan(db, uuid4()) is None


async def test_plans_list_newest_first(db: asyncpg.Pool) -> None:
    made = [await clone_state.save_plan(db, "src", "dst", {"n": i}, []) for i in range(3)]
    listed = await clone_state.list_plans(db, limit=2)
    assert [p.id for p in listed] == [made[2].id, made[1].id]


async def test_one_profile_as_source_and_destination_is_refused(db: asyncpg.Pool) -> None:
    with pytest.raises(clone_state.CloneStateError, match="both 'prod'"):
        await clone_state.save_plan(db, "prod", "prod", {}, ["asst_1"])
    assert await clone_state.list_plans(db) == []


async def test_the_destination_id_is_kept_and_found_by_the_next_plan(db: asyncpg.Pool) -> None:
    first = await clone_state.save_plan(db, "src", "dst", {}, ["asst_1"])
    await clone_state.record_assistant(
        db, first.id, "asst_1", status="created", destination_id="asst_9"
    )
    # A later failure on the same row keeps the id it already had.
    failed = await clone_state.record_assistant(
        db, first.id, "asst_1", status="failed", error="quota"
    )
    assert (failed.status, failed.destination_id, failed.error) == ("failed", "asst_9", "quota")
    await clone_state.save_plan(db, "src", "dst", {}, ["asst_1"])
    assert await clone_state.latest_destination(db, "src", "dst", "asst_1") == "asst_9"
    assert await clone_state.latest_destination(db, "src", "other", "asst_1") is None
    with pytest.raises(clone_state.CloneStateError, match="no assistant asst_7"):
        await clone_state.record_assistant(db, first.id, "asst_7", status="created")
    with pytest.raises(clone_state.CloneStateError, match="status 'done' is not one of"):
        await clone_state.record_assistant(db, first.id, "asst_1", status="done")


async def test_a_file_is_mapped_per_destination_and_found_by_its_bytes(db: asyncpg.Pool) -> None:
    copy = await clone_state.record_file(
        db, "dst", "file-src1", "file-dst1", sha256=SHA, size=10, travel="originals"
    )
    assert await clone_state.copied_file(db, "dst", "file-src1") == copy
    assert await clone_state.copied_file(db, "staging", "file-src1") is None
    found = await clone_state.file_with_bytes(db, "dst", SHA)
    assert found is not None and found.destination_file_id == "file-dst1"
    assert await clone_state.file_with_bytes(db, "staging", SHA) is None
    assert await clone_state.forget_file(db, "dst", "file-src1") is True
    assert await clone_state.forget_file(db, "dst", "file-src1") is False
    assert await clone_state.copied_file(db, "dst", "file-src1") is None


async def test_two_workers_copying_one_file_upload_it_once(db: asyncpg.Pool) -> None:
    uploads: list[str] = []

    async def copy(worker: int) -> str:
        async with clone_state.copy_lock(DATABASE_URL, "file", "dst", "file-src1"):
            existing = await clone_state.copied_file(db, "dst", "file-src1")
            if existing is not None:
                return existing.destination_file_id
            await asyncio.sleep(0)  # the upload: other workers get the loop meanwhile
            uploads.append(f"file-dst-{worker}")
            await clone_state.record_file(
                db, "dst", "file-src1", uploads[-1], sha256=SHA, size=1, travel="download"
            )
            return uploads[-1]

    results = await asyncio.gather(*(copy(i) for i in range(4)))
    assert len(uploads) == 1
    assert results == [uploads[0]] * 4


async def test_copy_lock_waiters_leave_the_pool_to_the_holder(db: asyncpg.Pool) -> None:
    """More waiters than the pool has connections: the holder still reaches Postgres.

    A waiter used to wait on a pool connection; with the pool (5 here) taken by waiters,
    the holder's own query never got one and every copy hung (the clone bench at 10
    assistants on 3 stores, 8 at once).
    """
    destination = f"dst-{uuid4().hex[:8]}"
    holding, order = asyncio.Event(), []

    async def holder() -> None:
        async with clone_state.copy_lock(DATABASE_URL, "vector_store", destination, "vs_1"):
            holding.set()
            await waiting_on_lock(db, destination, 6)
            # The copy's own queries, while six waiters queue on its lock.
            await clone_state.record_vector_store(db, destination, "vs_1", "vs_dst")
            order.append("holder")

    async def waiter(n: int) -> None:
        await holding.wait()
        async with clone_state.copy_lock(DATABASE_URL, "vector_store", destination, "vs_1"):
            order.append(await clone_state.copied_vector_store(db, destination, "vs_1"))

    async with asyncio.timeout(30):  # a starved pool hangs: fail instead
        await asyncio.gather(holder(), *(waiter(n) for n in range(6)))
    assert order == ["holder"] + ["vs_dst"] * 6


async def waiting_on_lock(db: asyncpg.Pool, destination: str, count: int) -> None:
    """Until `count` sessions wait on the advisory lock of `destination`'s store vs_1."""
    query = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted
          AND classid::int = hashtext('ferry-clone:vector_store') AND objid::int = hashtext($1)
    """
    async with db.acquire() as conn:
        # Postgres sends no event when a session starts waiting: poll its lock table.
        while await conn.fetchval(query, f"{destination}/vs_1") < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_vector_store_is_mapped_per_destination(db: asyncpg.Pool) -> None:
    await clone_state.record_vector_store(db, "dst", "vs_src", "vs_dst")
    assert await clone_state.copied_vector_store(db, "dst", "vs_src") == "vs_dst"
    assert await clone_state.copied_vector_store(db, "other", "vs_src") is None


async def test_a_vector_store_copy_says_when_it_was_recorded(db: asyncpg.Pool) -> None:
    assert await clone_state.vector_store_copy(db, "dst", "vs_src") is None
    await clone_state.record_vector_store(db, "dst", "vs_src", "vs_dst")
    copy = await clone_state.vector_store_copy(db, "dst", "vs_src")
    assert copy is not None and copy.destination_vector_store_id == "vs_dst"
    now = await db.fetchval("SELECT now()")
    assert copy.created_at <= now
    await clone_state.record_vector_store(db, "dst", "vs_src", "vs_dst2")
    again = await clone_state.vector_store_copy(db, "dst", "vs_src")
    assert again is not None and again.destination_vector_store_id == "vs_dst2"
    assert again.created_at >= copy.created_at
