"""How a chat turn runs (`chat.run`), and a read of history (`chat.history`).

A turn finds its assistant, refuses what the assistant cannot use, takes its thread's lock
(one turn at a time per user thread, in arrival order), then runs in the profile's API
style. Everything a retried job needs to resume instead of repeat is in `chat_turns`; a turn
past its `timeout` is cancelled remotely and fails as timed out.
"""

from __future__ import annotations

import asyncio
import time

from schemas.chat import (
    ChatHistory,
    ChatReply,
    ChatRun,
    ChatUsage,
    HistoryResult,
    attachment_problems,
    thread_key,
)
from store import chat_turns, ledger, user_threads
from store.registry_writes import CachedConfig
from worker.chat import assistants_turn, responses_turn, threads
from worker.chat.deltas import DeltaStream
from worker.chat.lock import ThreadLock
from worker.chat.tools import SubTurn, ToolBox
from worker.chat.turn import Turn, response_content
from worker.chat.uploads import upload_blobs
from worker.kinds import JobContext, JobFailure
from worker.openai.errors import OpenAICallError
from worker.registry import UnknownAssistant
from worker.settings import SettingsError

# Polls get a little longer than the turn, so the turn's own deadline (which cancels the
# remote work) is what fires.
POLL_MARGIN_S = 5.0


async def run_chat(ctx: JobContext, job: ChatRun) -> ChatReply:
    """One user turn, start to finish (or resumed where a dead attempt left it)."""
    started = time.monotonic()
    config = await _config(ctx, job.profile, job.assistant)
    style = _style(ctx, job.profile)
    problems = attachment_problems(config.spec, job.attachments)
    if problems:
        raise JobFailure(
            problems[0][1],
            detail={"code": "unusable_attachment", "fields": [p[0] for p in problems]},
        )
    deltas = DeltaStream(ctx.redis, ctx.keys, ctx.job_id, enabled=job.stream)
    arrived_us = await _arrival_us(ctx)
    lock = ThreadLock(
        ctx.redis,
        ctx.keys,
        thread_key(job.profile, job.assistant, job.user_id),
        ctx.job_id,
        lease_s=ctx.settings.chat_lock_lease_s,
    )
    try:
        async with lock.held(arrived_us, done_on=(JobFailure,)) as waited_ms:
            reply = await _turn(ctx, job, config, style, deltas)
    except JobFailure as error:
        await deltas.end("failed", {"message": str(error), "detail": error.detail})
        raise
    reply.timings.lock_wait_ms = round(waited_ms, 3)
    reply.timings.total_ms = round((time.monotonic() - started) * 1000, 3)
    reply.timings.finished_at = time.time()
    await deltas.end("succeeded", reply.model_dump(mode="json"))
    return reply


async def _arrival_us(ctx: JobContext) -> int:
    """The turn's arrival: the ledger's accept time (the runner read it when it began)."""
    accepted = ctx.accepted_at
    if accepted is None:
        row = await ledger.get(ctx.db, ctx.job_id)
        accepted = row.created_at if row else None
    return int(accepted.timestamp() * 1e6) if accepted else time.time_ns() // 1000


async def _turn(
    ctx: JobContext, job: ChatRun, config: CachedConfig, style: str, deltas: DeltaStream
) -> ChatReply:
    record, existing = await chat_turns.resume_point(ctx.db, ctx.job_id, job.user_id, config.id)
    new = False
    if record is not None:
        thread_id = record.thread_id
    else:
        thread_id, new = await threads.live_thread(
            ctx, job.profile, config, style, job.user_id, existing=existing
        )
    turn = _new_turn(ctx, job.profile, config, style, job.user_id, deltas, ctx.job_id)
    turn.thread_id = thread_id
    if record is None or (record.response_id is None and record.user_message_id is None):
        # Nothing sent yet: blobs the producer kept are uploaded now (again, after a retry
        # that died before sending; an unused upload is harmless).
        job = job.model_copy(
            update={"attachments": await upload_blobs(ctx, job.profile, style, job.attachments)}
        )
    replaced: str | None = None
    try:
        async with asyncio.timeout(job.timeout):
            try:
                text, message_id, run_id = await _dispatch(turn, job, style, thread_id, record)
            except OpenAICallError as error:
                if not _thread_gone(error, turn, record):
                    raise
                # The user's thread is gone remotely (deleted, expired): start a new one.
                thread_id, replaced = await threads.replace_thread(
                    ctx, job.profile, config, style, job.user_id
                )
                turn.thread_id = thread_id
                new = True
                text, message_id, run_id = await _dispatch(turn, job, style, thread_id, None)
    except TimeoutError:
        if style == threads.STYLE_RESPONSES:
            await responses_turn.cancel(turn)
        else:
            await assistants_turn.cancel(turn, thread_id)
        raise JobFailure(
            f"the turn ran past its timeout of {job.timeout:g} s and was cancelled",
            detail={"code": "timeout", "in_flight": turn.in_flight},
        ) from None
    return ChatReply(
        message_id=job.message_id,
        user_id=job.user_id,
        assistant=job.assistant,
        api_style=style,  # type: ignore[arg-type]
        text=text,
        thread_id=thread_id,
        new_thread=new,
        replaced_thread_id=replaced,
        response_ids=turn.response_ids,
        run_id=run_id,
        reply_message_id=message_id,
        tool_calls=turn.tool_calls,
        usage=turn.usage,
        timings=turn.timings,
        resumed=turn.resumed,
    )


async def _dispatch(
    turn: Turn, job: ChatRun, style: str, thread_id: str, record: chat_turns.ChatTurn | None
) -> tuple[str, str | None, str | None]:
    deadline = job.timeout + POLL_MARGIN_S
    if style == threads.STYLE_RESPONSES:
        text = await responses_turn.run_turn(
            turn,
            response_content(job.text, job.attachments),
            conversation=thread_id,
            resume_response_id=record.response_id if record else None,
            deadline_s=deadline,
        )
        return text, None, None
    kinds = {tool.type for tool in turn.spec.tools}
    return await assistants_turn.run_turn(
        turn,
        assistants_turn.message_params(job.text, job.attachments, kinds),
        thread_id=thread_id,
        user_message_id=record.user_message_id if record else None,
        run_id=record.run_id if record else None,
        deadline_s=deadline,
    )


def _thread_gone(error: OpenAICallError, turn: Turn, record: chat_turns.ChatTurn | None) -> bool:
    """A 404 before the turn made anything remote: the thread itself is what is missing."""
    fresh = turn.in_flight is None and not turn.response_ids and record is None
    return error.status == 404 and fresh


def _new_turn(
    ctx: JobContext,
    profile: str,
    config: CachedConfig,
    style: str,
    user_id: str,
    deltas: DeltaStream,
    record_id: str | None,
    *,
    depth: int = 0,
    usage: ChatUsage | None = None,
) -> Turn:
    usage = usage if usage is not None else ChatUsage()
    tools = ToolBox(
        ctx.settings,
        config.spec,
        depth=depth,
        sub_turn=_sub_turn(ctx, profile, style, user_id, usage),
    )
    return Turn(
        ctx, profile, config, tools, deltas, record_id, user_id, depth, usage=usage, style=style
    )


def _sub_turn(ctx: JobContext, profile: str, style: str, user_id: str, usage: ChatUsage) -> SubTurn:
    """A nested turn on a sub-assistant, on a fresh thread, its usage added to the parent's."""

    async def sub_turn(assistant: str, request: str, depth: int) -> str:
        config = await _config(ctx, profile, assistant)
        quiet = DeltaStream(ctx.redis, ctx.keys, ctx.job_id, enabled=False)
        turn = _new_turn(
            ctx, profile, config, style, user_id, quiet, None, depth=depth, usage=usage
        )
        deadline = ctx.settings.chat_tool_timeout_s * 6
        if style == threads.STYLE_RESPONSES:
            content = [{"type": "input_text", "text": request}]
            return await responses_turn.run_turn(
                turn, content, conversation=None, deadline_s=deadline
            )
        thread_id = await threads.create_remote(ctx, profile, style, user_id)
        message = assistants_turn.message_params(request, [], set())
        text, _, _ = await assistants_turn.run_turn(
            turn, message, thread_id=thread_id, deadline_s=deadline
        )
        return text

    return sub_turn


async def run_history(ctx: JobContext, job: ChatHistory) -> HistoryResult:
    """The user's live thread's last messages (none yet: an empty history)."""
    config = await _config(ctx, job.profile, job.assistant)
    style = _style(ctx, job.profile)
    thread_id = await user_threads.get(ctx.db, job.user_id, config.id)
    if thread_id is None:
        return HistoryResult(thread_id=None, messages=[])
    messages = await threads.history(ctx, job.profile, style, thread_id, job.limit)
    return HistoryResult(thread_id=thread_id, messages=messages)


async def _config(ctx: JobContext, profile: str, name: str) -> CachedConfig:
    try:
        return await ctx.configs.get(profile, name)
    except UnknownAssistant as error:
        raise JobFailure(
            f"{error}: create it (`ferry assistants apply`) or check the name",
            detail={"code": "unknown_assistant", "assistant": name, "profile": profile},
        ) from None


def _style(ctx: JobContext, profile: str) -> str:
    try:
        return ctx.settings.profile(profile).api_style.value
    except SettingsError as error:
        raise JobFailure(str(error), detail={"code": "unknown_profile"}) from None
