"""Creates made once across attempts: a mark left by a killed attempt sends the next looking."""

from __future__ import annotations

import hashlib

import asyncpg
from openai.types import FileObject

from store import clone_state, create_intents
from tests.conftest import SandboxProject
from worker.backends.intents import created_once, unrecorded_upload
from worker.backends.knowledge import Knowledge

DATA = b"price list\n" * 10
SHA = hashlib.sha256(DATA).hexdigest()


class Attempt:
    """One attempt at copying `prices.txt` for `source_id`, counting the uploads it sent."""

    def __init__(self, db: asyncpg.Pool, knowledge: Knowledge, source_id: str) -> None:
        self.db, self.knowledge, self.source_id = db, knowledge, source_id
        self.creates = 0

    async def create(self) -> FileObject:
        self.creates += 1
        return await self.knowledge.files.upload_bytes("prices.txt", DATA, purpose="assistants")

    async def find(self, since: int) -> FileObject | None:
        return await unrecorded_upload(
            self.db,
            self.knowledge.files,
            "dst",
            "prices.txt",
            len(DATA),
            purpose="assistants",
            since=since,
        )

    async def record(self, made: FileObject) -> None:
        await clone_state.record_file(
            self.db, "dst", self.source_id, made.id, sha256=SHA, size=len(DATA), travel="local"
        )

    async def run(self) -> tuple[FileObject, bool]:
        return await created_once(
            self.db,
            "file",
            "dst",
            self.source_id,
            create=self.create,
            find=self.find,
            record=self.record,
        )


async def listed(sandbox_project: SandboxProject) -> list[str]:
    return [f.id async for f in sandbox_project.client().files.list()]


async def test_a_first_create_is_sent_recorded_and_its_mark_cleared(
    db: asyncpg.Pool, knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    attempt = Attempt(db, knowledge, "file_src")
    made, sent = await attempt.run()
    assert (sent, attempt.creates) == (True, 1)
    assert (await clone_state.copied_file(db, "dst", "file_src")).destination_file_id == made.id  # type: ignore[union-attr]
    assert await create_intents.pending(db, "dst") == []
    assert await listed(sandbox_project) == [made.id]


async def test_an_upload_a_killed_attempt_left_unrecorded_is_found_not_sent_again(
    db: asyncpg.Pool, knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    # The killed attempt: marked, uploaded, died before the record.
    await create_intents.begin(db, "file", "dst", "file_src")
    landed = await knowledge.files.upload_bytes("prices.txt", DATA, purpose="assistants")
    attempt = Attempt(db, knowledge, "file_src")
    made, sent = await attempt.run()
    assert (made.id, sent, attempt.creates) == (landed.id, False, 0)
    assert (await clone_state.copied_file(db, "dst", "file_src")).destination_file_id == landed.id  # type: ignore[union-attr]
    assert await create_intents.pending(db, "dst") == []
    assert await listed(sandbox_project) == [landed.id]


async def test_a_file_another_source_already_maps_is_not_taken_for_the_lost_one(
    db: asyncpg.Pool, knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    # Same name and size, but another source's copy: recorded, so not this one's upload.
    other, _ = await Attempt(db, knowledge, "file_other").run()
    await create_intents.begin(db, "file", "dst", "file_src")
    attempt = Attempt(db, knowledge, "file_src")
    made, sent = await attempt.run()
    assert (sent, attempt.creates) == (True, 1)
    assert made.id != other.id
    assert sorted(await listed(sandbox_project)) == sorted([other.id, made.id])
