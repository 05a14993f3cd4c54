"""Chat histories on the source project, and what their conversations must hold afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from openai import AsyncOpenAI

from sandbox import messages
from sandbox.bulk_threads import fill_threads
from schemas.assistants import parse_spec
from schemas.clone import ThreadRow
from store import registry, registry_writes, user_threads
from tests.worker.clone.conftest import CloneWorld

NAME = "Receipts Helper"
# (message index in the first thread, annotations on it): assistant messages only.
ANNOTATED = ((1, 2), (3, 1))


@dataclass
class History:
    assistant_id: str
    threads: list[str]
    image_file_id: str
    # The source registry entry whose user_threads row names the first thread.
    source_entry: UUID
    csv_rows: list[ThreadRow]


def _annotation(file_id: str) -> dict[str, Any]:
    return {
        "type": "file_citation",
        "text": "【4:0†receipt.md】",
        "start_index": 0,
        "end_index": 16,
        "file_citation": {"file_id": file_id},
    }


async def seed_history(world: CloneWorld, *, messages_per_thread: int = 45) -> History:
    """One v2 assistant and two users' threads of mixed messages: the first known to Ferry's
    `user_threads`, the second only to a CSV row; three annotations on the first thread."""
    made = await world.src_client.beta.assistants.create(name=NAME, model="gpt-4o")
    filled = fill_threads(
        world.src.project, users=2, messages_per_thread=messages_per_thread, image_every=3
    )
    threads = [t["id"] for t in filled["threads"]]
    first = messages.of_thread(world.src.project, threads[0])
    for index, count in ANNOTATED:
        if index >= len(first):
            continue  # a short history has fewer assistant messages
        assert first[index]["role"] == "assistant"
        first[index]["content"][0]["text"]["annotations"] = [
            _annotation(filled["image_file_id"]) for _ in range(count)
        ]
    f = world.ferry
    written = await registry_writes.create(
        f.db, f.redis, f.keys, "src", parse_spec({"name": NAME, "model": "gpt-4o"})
    )
    await registry.set_remote_id(f.db, "src", NAME, made.id)
    await user_threads.put(f.db, "user-0001", written.entry.id, "src", threads[0])
    row = ThreadRow(user_id="user-0002", assistant_id=made.id, thread_id=threads[1], line=2)
    return History(made.id, threads, filled["image_file_id"], written.entry.id, [row])


def expected_items(world: CloneWorld, thread_id: str, image_copy: str) -> list[tuple]:
    """What the conversation must hold, read from the sandbox's own records of the thread."""
    expected = []
    for m in messages.of_thread(world.src.project, thread_id):
        parts: list[tuple[str, str]] = []
        for part in m["content"]:
            if part["type"] == "text":
                kind = "output_text" if m["role"] == "assistant" else "input_text"
                parts.append((kind, part["text"]["value"]))
            elif part["type"] == "image_file":
                parts.append(("input_image", image_copy))
            else:
                parts.append(("input_image", part["image_url"]["url"]))
        expected.append((m["role"], parts))
    return expected


async def conversation_items(client: AsyncOpenAI, conversation_id: str) -> list[tuple]:
    """Every item of a conversation, oldest first, as (role, [(part type, text/file/url)])."""
    found: list[tuple] = []
    after: str | None = None
    while True:
        page = await client.conversations.items.list(
            conversation_id, order="asc", limit=100, **({"after": after} if after else {})
        )
        for item in page.data:
            parts = []
            for part in item.model_dump()["content"]:
                if part["type"] == "input_image":
                    parts.append(("input_image", part.get("file_id") or part.get("image_url")))
                else:
                    parts.append((part["type"], part["text"]))
            found.append((item.role, parts))  # type: ignore[union-attr]
        if not page.has_more:
            return found
        after = page.data[-1].id
