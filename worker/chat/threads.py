"""A user's thread (assistants style) or conversation (responses style) with an assistant.

`store.user_threads` keeps the one live id per user and assistant; a thread is made remotely
on the user's first turn, and again when the old one is gone (404) or was cleared, the old
id archived for audit.
"""

from __future__ import annotations

import warnings
from typing import Any

from schemas.chat import HistoryMessage, safety_identifier
from store import user_threads
from store.registry_writes import CachedConfig
from worker.kinds import JobContext

# The SDK marks the Assistants API deprecated; this style is used on purpose (servers that
# still speak v2).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)

STYLE_RESPONSES = "responses"


async def create_remote(ctx: JobContext, profile: str, style: str, user_id: str) -> str:
    """A new, empty conversation or thread, tagged with the user's hash (never the raw id)."""
    metadata = {"ferry_user": safety_identifier(user_id)}
    if style == STYLE_RESPONSES:
        created = await ctx.openai.call(
            profile, lambda c: c.conversations.create(metadata=metadata)
        )
    else:
        created = await ctx.openai.call(profile, lambda c: c.beta.threads.create(metadata=metadata))
    return created.id


async def live_thread(
    ctx: JobContext,
    profile: str,
    config: CachedConfig,
    style: str,
    user_id: str,
    *,
    existing: str | None = None,
) -> tuple[str, bool]:
    """The user's live thread id (`existing`, read under the turn's lock), made now if there
    is none; (id, made now)."""
    if existing is not None:
        return existing, False
    thread_id = await create_remote(ctx, profile, style, user_id)
    await user_threads.put(
        ctx.db, user_id, config.id, profile, thread_id, assistant_name=config.spec.name
    )
    return thread_id, True


async def replace_thread(
    ctx: JobContext, profile: str, config: CachedConfig, style: str, user_id: str
) -> tuple[str, str | None]:
    """A new thread in place of one gone remotely; (new id, archived old id)."""
    thread_id = await create_remote(ctx, profile, style, user_id)
    old = await user_threads.put(
        ctx.db,
        user_id,
        config.id,
        profile,
        thread_id,
        assistant_name=config.spec.name,
        reason="gone remotely",
    )
    return thread_id, old


async def history(
    ctx: JobContext, profile: str, style: str, thread_id: str, limit: int
) -> list[HistoryMessage]:
    """The thread's last `limit` messages, oldest first."""
    messages: list[HistoryMessage] = []
    if style == STYLE_RESPONSES:
        page = await ctx.openai.call(
            profile, lambda c: c.conversations.items.list(thread_id, limit=limit, order="desc")
        )
        for item in page.data:
            if getattr(item, "type", None) == "message":
                messages.append(HistoryMessage(role=item.role, text=_item_text(item.content)))
    else:
        page = await ctx.openai.call(
            profile, lambda c: c.beta.threads.messages.list(thread_id, limit=limit, order="desc")
        )
        for message in page.data:
            text = "\n".join(p.text.value for p in message.content if p.type == "text")
            messages.append(HistoryMessage(role=message.role, text=text))
    return list(reversed(messages))


def _item_text(content: list[Any]) -> str:
    return "\n".join(getattr(part, "text", "") or "" for part in content)
