"""Chat history (issue 10 item 6): a v2 thread's messages as a conversation's items.

OpenAI ships no tool for this. A thread's messages are read oldest first (`order=asc`, every
page) and appended to a conversation 20 at a time (the API's limit per call). Each message
becomes exactly one message item, so a count of items is a count of messages copied:
- text parts become `input_text` (user) or the assistant's text (an assistant message goes in
  as text, the form the API takes for earlier model turns); annotations are dropped, counted;
- a user's `image_file` part becomes an `input_image` naming the destination's copy of the
  file (copied once, as knowledge files are); an `image_url` part keeps its URL;
- an assistant message holds text only at the destination, so its images become a
  `[image: …]` line, counted as dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.beta.threads import Message

from schemas.clone import PlannedThread, ThreadRow
from store import clone_threads, user_threads
from worker.kinds import JobContext

# The SDK marks the Assistants API deprecated; reading v2 threads is this module's job.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)

# The conversations API takes at most this many items per call.
ITEMS_PER_CALL = 20
MESSAGES_PAGE = 100  # the v1 messages list's largest page
USER_THREADS = "user_threads"
STYLE_PAIR = ("assistants", "responses")


@dataclass
class MappedMessage:
    """One source message as a conversation item, and what its mapping dropped or re-mapped."""

    source_id: str
    item: dict[str, Any]
    annotations_dropped: int = 0
    images_remapped: int = 0
    images_dropped: int = 0


@dataclass
class ThreadSource:
    """Where the plan found a thread: the user, and the line of the CSV or `user_threads`."""

    thread_id: str
    user_id: str
    origin: str


FileMap = Callable[[str], Awaitable[str]]


async def to_item(message: Message, file_map: FileMap) -> MappedMessage:
    """The conversation item for one v2 message (`file_map`: source file → destination id)."""
    mapped = MappedMessage(source_id=message.id, item={})
    if message.role == "assistant":
        lines: list[str] = []
        for part in message.content:
            if part.type == "text":
                lines.append(part.text.value)
                mapped.annotations_dropped += len(part.text.annotations or [])
            elif part.type == "refusal":
                lines.append(part.refusal)
            elif part.type == "image_file":
                lines.append(f"[image: {part.image_file.file_id}]")
                mapped.images_dropped += 1
            elif part.type == "image_url":
                lines.append(f"[image: {part.image_url.url}]")
                mapped.images_dropped += 1
        mapped.item = {"type": "message", "role": "assistant", "content": "\n".join(lines)}
        return mapped
    content: list[dict[str, Any]] = []
    for part in message.content:
        if part.type == "text":
            content.append({"type": "input_text", "text": part.text.value})
            mapped.annotations_dropped += len(part.text.annotations or [])
        elif part.type == "image_file":
            file_id = await file_map(part.image_file.file_id)
            detail = part.image_file.detail or "auto"
            content.append({"type": "input_image", "file_id": file_id, "detail": detail})
            mapped.images_remapped += 1
        elif part.type == "image_url":
            detail = part.image_url.detail or "auto"
            content.append(
                {"type": "input_image", "image_url": part.image_url.url, "detail": detail}
            )
        elif part.type == "refusal":
            content.append({"type": "input_text", "text": part.refusal})
    if not content:
        content.append({"type": "input_text", "text": ""})
    mapped.item = {"type": "message", "role": "user", "content": content}
    return mapped


async def messages_after(
    ctx: JobContext, profile: str, thread_id: str, after: str | None, limit: int = MESSAGES_PAGE
) -> tuple[list[Message], bool]:
    """One page of the thread's messages after `after`, oldest first; (page, more remain)."""
    page = await ctx.openai.call(
        profile,
        lambda c: c.beta.threads.messages.list(
            thread_id, order="asc", limit=limit, after=after if after else openai.omit
        ),
    )
    return list(page.data), bool(page.has_more)


async def count_messages(ctx: JobContext, profile: str, thread_id: str) -> int | None:
    """How many messages the thread holds; None if the source has no such thread."""
    total, after = 0, None
    while True:
        try:
            page, more = await messages_after(ctx, profile, thread_id, after)
        except Exception as error:
            if _status(error) == 404:
                return None
            raise
        total += len(page)
        if not more or not page:
            return total
        after = page[-1].id


def _status(error: BaseException) -> int | None:
    # Imported here: worker.backends.calls reads statuses of both SDK and call-layer errors.
    from worker.backends.calls import status_of

    return status_of(error)


async def threads_of(
    ctx: JobContext, source: str, assistant_id: str, rows: list[ThreadRow], rows_name: str
) -> list[ThreadSource]:
    """An assistant's threads: Ferry's `user_threads`, then the CSV's rows; each thread once."""
    found: dict[str, ThreadSource] = {}
    for row in await user_threads.of_remote_assistant(ctx.db, source, assistant_id):
        found.setdefault(row.thread_id, ThreadSource(row.thread_id, row.user_id, USER_THREADS))
    for r in rows:
        if r.assistant_id == assistant_id:
            origin = f"{rows_name} line {r.line}"
            found.setdefault(r.thread_id, ThreadSource(r.thread_id, r.user_id, origin))
    return list(found.values())


async def plan_thread(
    ctx: JobContext, source: str, destination: str, thread: ThreadSource, problems: list[str]
) -> PlannedThread:
    """How much of one thread is left to copy (a thread the source lacks is a problem)."""
    messages = await count_messages(ctx, source, thread.thread_id)
    if messages is None:
        fix = (
            "fix or remove that line"
            if thread.origin != USER_THREADS
            else "clear it (`ferry chat clear`) or restore it"
        )
        problems.append(
            f"thread {thread.thread_id} (user {thread.user_id!r}, from {thread.origin}): "
            f"the source has no such thread; {fix}"
        )
        messages = 0
    journal = await clone_threads.thread_journal(ctx.db, destination, thread.thread_id)
    copied = journal.messages_copied if journal else 0
    left = max(messages - copied, 0)
    writes = (0 if journal else 1) + -(-left // ITEMS_PER_CALL)
    return PlannedThread(
        thread_id=thread.thread_id,
        user_id=thread.user_id,
        origin=thread.origin,
        messages=messages,
        copied=copied,
        conversation_id=journal.conversation_id if journal else None,
        write_requests=writes,
    )
