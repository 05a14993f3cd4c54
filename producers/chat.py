"""Chat for gateways: send a turn and await the reply, or stream it; read or clear history.

    reply = await ferry.chat("user-42", "support", "Where is my order?")
    stream = ferry.chat_stream("user-42", "support", "Tell me a story", min_interval=1.0)
    async for text in stream:          # joined deltas, at most one per second
        await edit_message(text)
    print(stream.reply.usage)

Bad input (empty text, an unknown assistant, an attachment the assistant cannot use) is
refused with `JobRejected` before anything is enqueued or sent to OpenAI.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from producers.errors import refused
from schemas.assistants import AssistantSpec
from schemas.chat import (
    ChatAttachment,
    ChatHistory,
    ChatReply,
    ChatRun,
    HistoryResult,
    attachment_problems,
    thread_key,
)
from schemas.jobs import field_errors
from schemas.results import FieldError
from store import registry, user_threads
from store.registry_writes import CachedConfig, decode_cached

if TYPE_CHECKING:
    from producers.client import FerryClient, JobHandle

# A reader blocks this long for new deltas before checking whether the job has ended anyway
# (a turn that failed before it could write its end entry, or was lost).
READ_BLOCK_MS = 1000
REFUSED = "the chat turn was refused; nothing was sent"


class ChatStream:
    """Text deltas of one streaming turn as they arrive, joined per `min_interval` seconds.

    Iterate it for the text; `reply` holds the typed result once the iteration ends (a
    failed turn raises its `JobFailed` from the iteration instead).
    """

    def __init__(self, client: FerryClient, start: Any, min_interval: float) -> None:
        self._client, self._start, self.min_interval = client, start, min_interval
        self.reply: ChatReply | None = None
        self.job_id: str | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[str]:
        handle: JobHandle[ChatReply] = await self._start()
        self.job_id = handle.job_id
        key = self._client.keys.chat_deltas(handle.job_id)
        last_id, buffered, last_yield = "0", "", 0.0
        ended = False
        while not ended:
            block = READ_BLOCK_MS
            if buffered:
                wait_s = self.min_interval - (time.monotonic() - last_yield)
                if wait_s <= 0:
                    yield buffered
                    buffered, last_yield = "", time.monotonic()
                    continue
                block = max(1, int(wait_s * 1000))
            answer = await self._client.redis.xread({key: last_id}, block=block, count=500)
            if not answer:
                if not buffered and await self._client.finished_outcome(handle.job_id):
                    # Ended without an end entry (failed before streaming, or lost); the
                    # deltas it did write were read already.
                    break
                continue
            for entry_id, fields in answer[0][1]:
                last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                kind = _text(fields, "type")
                if kind == "delta" and self.min_interval <= 0:
                    yield _text(fields, "text")  # no coalescing: each delta as it came
                elif kind == "delta":
                    buffered += _text(fields, "text")
                elif kind == "end":
                    ended = True
        if buffered:
            yield buffered
        self.reply = await handle.result()


class ChatOperations:
    """`FerryClient.chat`, `chat_stream`, `chat_history` and `chat_clear`."""

    def __init__(self, client: FerryClient) -> None:
        self._client = client
        # (profile, assistant) -> the cached entry's bytes and their decoding: decoding (JSON
        # and the spec's validation) cost more than the read, and the bytes rarely change.
        self._decoded: dict[tuple[str, str], tuple[bytes, CachedConfig]] = {}

    async def send(
        self,
        user_id: str,
        assistant: str,
        text: str,
        *,
        message_id: str | None = None,
        profile: str = "default",
        attachments: Sequence[ChatAttachment | dict[str, Any]] = (),
        stream: bool = False,
        timeout: float = 60.0,
    ) -> JobHandle[ChatReply]:
        """Check the turn, enqueue it and take its place in the thread's line; its handle."""
        message_id = message_id or f"chat-{uuid.uuid4().hex}"
        try:
            job = ChatRun(
                message_id=message_id,
                user_id=user_id,
                assistant=assistant,
                profile=profile,
                text=text,
                attachments=list(attachments),  # type: ignore[arg-type]
                stream=stream,
                timeout=timeout,
            )
        except ValidationError as error:
            raise refused(message_id, ChatRun.kind, REFUSED, field_errors(error)) from None
        spec = await self._spec(profile, assistant)
        if spec is None:
            raise refused(
                message_id,
                ChatRun.kind,
                REFUSED,
                [
                    FieldError(
                        loc="assistant",
                        message=f"no assistant {assistant!r} in profile {profile!r}: check the "
                        "name (`ferry assistants list`) or create it",
                    )
                ],
            )
        problems = attachment_problems(spec, job.attachments)
        if problems:
            fields = [FieldError(loc=loc, message=message) for loc, message in problems]
            raise refused(message_id, ChatRun.kind, REFUSED, fields)
        # The turn takes its place in its thread's line as it is queued (same round trip),
        # scored by the ledger's accept time, which the worker uses too, so whichever of the
        # two writes first writes the same score.
        line = self._client.keys.chat_arrivals(thread_key(profile, assistant, user_id))
        return await self._client.enqueue(job, line=line)

    def follow(
        self, job_id: str, kind: str = ChatRun.kind, min_interval: float = 0.0
    ) -> ChatStream:
        """The stream of a streaming turn enqueued earlier (a gateway that reconnects)."""

        async def existing() -> JobHandle[ChatReply]:
            return self._client.handle(job_id, kind, ChatReply)

        return ChatStream(self._client, existing, min_interval)

    async def _spec(self, profile: str, assistant: str) -> AssistantSpec | None:
        """The assistant's spec: the workers' cached copy if current, else the registry's."""
        keys = self._client.keys
        raw, version = await self._client.redis.mget(
            keys.assistant_config(profile, assistant), keys.assistant_version(profile, assistant)
        )
        if raw is not None:
            known = self._decoded.get((profile, assistant))
            if known is not None and known[0] == raw:
                cached: CachedConfig | None = known[1]
            elif (cached := decode_cached(raw, None)) is not None:
                self._decoded[(profile, assistant)] = (raw, cached)
            if cached is not None and (version is None or int(version) == cached.version):
                return cached.spec
        entry = await registry.get(self._client.db, profile, assistant)
        return entry.spec if entry is not None else None

    async def history(
        self, user_id: str, assistant: str, *, limit: int = 50, profile: str = "default"
    ) -> HistoryResult:
        """The user's last `limit` messages with the assistant, oldest first."""
        job = ChatHistory(
            user_id=user_id,
            assistant=assistant,
            profile=profile,
            limit=limit,
            request_id=uuid.uuid4().hex,
        )
        return await (await self._client.enqueue(job)).result()

    async def clear(self, user_id: str, assistant: str, *, profile: str = "default") -> bool:
        """Start the user afresh: the next turn makes a new thread; the old id is archived."""
        entry = await registry.get(self._client.db, profile, assistant)
        if entry is None:
            raise refused(
                f"clear-{user_id}",
                ChatRun.kind,
                REFUSED,
                [FieldError(loc="assistant", message=f"no assistant {assistant!r} in {profile!r}")],
            )
        return await user_threads.forget(self._client.db, user_id, entry.id)


def _text(fields: dict[Any, Any], name: str) -> str:
    value = fields.get(name.encode(), fields.get(name, b""))
    return value.decode() if isinstance(value, bytes) else str(value)
