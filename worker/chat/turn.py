"""What one chat turn carries through its steps: the job, the assistant, the stream, the tally."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from openai import AsyncOpenAI

from schemas.chat import ChatAttachment, ChatTimings, ChatUsage, ToolCallRecord
from store import chat_turns
from store.registry_writes import CachedConfig
from worker.chat.deltas import DeltaStream
from worker.chat.tools import ToolBox
from worker.kinds import JobContext
from worker.openai import polling

T = TypeVar("T")


@dataclass
class Turn:
    """One turn (a user's, or a nested sub-assistant's) and what it has spent so far."""

    ctx: JobContext
    profile: str
    config: CachedConfig
    tools: ToolBox
    deltas: DeltaStream
    # The job id: `chat_turns` rows and deltas are keyed by it; None for a nested turn,
    # which is not resumable on its own (its parent's retry runs it again).
    record_id: str | None
    user_id: str
    depth: int = 0
    usage: ChatUsage = field(default_factory=ChatUsage)
    timings: ChatTimings = field(default_factory=ChatTimings)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    response_ids: list[str] = field(default_factory=list)
    # The remote object in flight, cancelled if the turn runs past its timeout.
    in_flight: str | None = None
    resumed: bool = False
    # Where the turn runs: set before anything is sent, recorded with the first remote id.
    style: str = ""
    thread_id: str | None = None

    @property
    def spec(self) -> Any:
        return self.config.spec

    async def call(self, request: Callable[[AsyncOpenAI], Awaitable[T]], **kw: Any) -> T:
        """An OpenAI call through the call layer: its exchange counted as OpenAI's time,
        booking the rate budget before it as pacing (Ferry's)."""
        paced_s = 0.0

        def paced(seconds: float) -> None:
            nonlocal paced_s
            paced_s += seconds

        started = time.monotonic()
        try:
            return await self.ctx.openai.call(self.profile, request, on_paced=paced, **kw)
        finally:
            self.timings.pacing_ms += paced_s * 1000
            self.timings.openai_ms += (time.monotonic() - started - paced_s) * 1000

    async def events(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        """A stream's events, the wait for each counted as OpenAI's time."""
        iterator = aiter(stream)
        while True:
            started = time.monotonic()
            try:
                event = await anext(iterator)
            except StopAsyncIteration:
                return
            finally:
                self.timings.openai_ms += (time.monotonic() - started) * 1000
            yield event

    async def record(self, **ids: str) -> None:
        """Write remote ids the moment they are known, so a retry resumes instead of repeating."""
        if self.record_id is None or self.thread_id is None:
            return
        await chat_turns.record(
            self.ctx.db,
            self.record_id,
            profile=self.profile,
            api_style=self.style,
            thread_id=self.thread_id,
            **ids,
        )

    async def poll(
        self,
        read: Callable[[AsyncOpenAI], Awaitable[T]],
        finished: frozenset[str],
        *,
        what: str,
        deadline_s: float,
    ) -> T:
        """Read an object (a run, a background response) until its status is in `finished`."""
        return await polling.poll(
            lambda: self.call(read),
            done=lambda obj: getattr(obj, "status", None) in finished,
            state=lambda obj: str(getattr(obj, "status", None)),
            deadline_s=deadline_s,
            what=what,
            profile=self.profile,
            # A chat turn is interactive: look again soon (the first read is immediate).
            interval_s=0.02,
            max_interval_s=1.0,
        )

    async def run_tools(self, calls: list[tuple[str, str, str]]) -> list[ToolCallRecord]:
        """Run (call_id, name, arguments) calls concurrently; their records, in call order."""
        started = time.monotonic()
        records = await asyncio.gather(*(self.tools.run(*call) for call in calls))
        self.timings.tools_ms += (time.monotonic() - started) * 1000
        self.tool_calls.extend(records)
        return list(records)


def response_content(text: str, attachments: list[ChatAttachment]) -> list[dict[str, Any]]:
    """A Responses user message's content parts: the text, then each attachment."""
    parts: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    for attachment in attachments:
        if attachment.image_url is not None:
            parts.append({"type": "input_image", "image_url": attachment.image_url})
        elif attachment.is_image:
            parts.append({"type": "input_image", "file_id": attachment.file_id})
        else:
            parts.append({"type": "input_file", "file_id": attachment.file_id})
    return parts
