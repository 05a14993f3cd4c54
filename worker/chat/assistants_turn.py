"""A turn in the Assistants v2 style: a message on the user's thread, a run, tool outputs.

The user message's id and then the run's id are written to `chat_turns` the moment each is
known, so a retried job polls the run its predecessor started (or starts the run for the
message it added) instead of adding the message twice. `requires_action` sends the calls to
the turn's executors and `submit_tool_outputs` returns them, until the run ends.
"""

from __future__ import annotations

import warnings
from typing import Any

from schemas.chat import ChatAttachment
from worker.chat.turn import Turn
from worker.kinds import JobFailure
from worker.openai import polling

# The SDK marks the Assistants API deprecated; this style is used on purpose (servers that
# still speak v2).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)


def message_params(text: str, attachments: list[ChatAttachment], tool_kinds: set[str]) -> dict:
    """`messages.create` arguments: images as content parts, other files as attachments."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    files = []
    for attachment in attachments:
        if attachment.image_url is not None:
            content.append({"type": "image_url", "image_url": {"url": attachment.image_url}})
        elif attachment.is_image:
            content.append({"type": "image_file", "image_file": {"file_id": attachment.file_id}})
        else:
            tools = [{"type": k} for k in ("file_search", "code_interpreter") if k in tool_kinds]
            files.append({"file_id": attachment.file_id, "tools": tools})
    params: dict[str, Any] = {"role": "user", "content": content}
    if files:
        params["attachments"] = files
    return params


async def run_turn(
    turn: Turn,
    message: dict[str, Any],
    *,
    thread_id: str,
    user_message_id: str | None = None,
    run_id: str | None = None,
    deadline_s: float,
) -> tuple[str, str | None, str]:
    """Add the message and run the assistant (or pick up the run); (text, message id, run id)."""
    assistant_id = turn.config.remote_id
    if assistant_id is None:
        raise JobFailure(
            f"assistant {turn.spec.name!r} has no remote id in profile {turn.profile!r}: "
            "apply it (`ferry assistants apply`) or clone it there first",
            detail={"code": "no_remote_assistant"},
        )
    if run_id is not None:
        turn.resumed = True
        turn.in_flight = run_id
    else:
        if user_message_id is None:
            created = await turn.call(
                lambda c: c.beta.threads.messages.create(thread_id, **message)
            )
            await turn.record(user_message_id=created.id)
        else:
            turn.resumed = True
        params: dict[str, Any] = {"assistant_id": assistant_id}
        if turn.ctx.settings.chat_truncation == "auto":
            params["truncation_strategy"] = {"type": "auto"}
        run = await turn.call(
            lambda c: c.beta.threads.runs.create(thread_id, **params), model=turn.spec.model
        )
        run_id = run.id
        turn.in_flight = run_id
        await turn.record(run_id=run_id)
    rounds = 0
    while True:
        run = await _poll(turn, thread_id, run_id, deadline_s)
        if run.status != "requires_action":
            break
        rounds += 1
        calls = run.required_action.submit_tool_outputs.tool_calls
        if rounds > turn.ctx.settings.chat_max_tool_rounds:
            await cancel(turn, thread_id)
            raise JobFailure(
                f"the model kept calling tools past Ferry's limit of "
                f"{turn.ctx.settings.chat_max_tool_rounds} rounds (CHAT_MAX_TOOL_ROUNDS)",
                detail={"code": "tool_rounds_exceeded", "run_id": run_id},
            )
        records = await turn.run_tools(
            [(c.id, c.function.name, c.function.arguments) for c in calls]
        )
        outputs = [{"tool_call_id": r.call_id, "output": r.output} for r in records]
        await turn.call(
            lambda c, outputs=outputs: c.beta.threads.runs.submit_tool_outputs(
                run_id, thread_id=thread_id, tool_outputs=outputs
            )
        )
    turn.usage.add(run.usage)
    if run.status != "completed":
        error = run.last_error
        said = f"{error.code}: {error.message}" if error else run.status
        raise JobFailure(
            f"run {run_id} {run.status}: {said}",
            detail={"code": f"run_{run.status}", "run_id": run_id},
        )
    page = await turn.call(
        lambda c: c.beta.threads.messages.list(thread_id, run_id=run_id, order="asc")
    )
    replies = [m for m in page.data if m.role == "assistant"]
    text = "\n".join(part.text.value for m in replies for part in m.content if part.type == "text")
    await turn.deltas.delta(text)  # v2 runs are polled: the text arrives whole
    return text, (replies[-1].id if replies else None), run_id


async def cancel(turn: Turn, thread_id: str) -> None:
    """Cancel the run in flight (a turn past its timeout); best effort."""
    if turn.in_flight is None:
        return
    run_id = turn.in_flight
    try:
        await turn.ctx.openai.call(
            turn.profile, lambda c: c.beta.threads.runs.cancel(run_id, thread_id=thread_id)
        )
    except JobFailure as error:
        turn.ctx.log.warning("could not cancel a timed-out run", error=str(error))


async def _poll(turn: Turn, thread_id: str, run_id: str, deadline_s: float) -> Any:
    return await turn.poll(
        lambda c: c.beta.threads.runs.retrieve(run_id, thread_id=thread_id),
        polling.RUN_DONE,
        what=f"run {run_id} on {thread_id}",
        deadline_s=deadline_s,
    )
