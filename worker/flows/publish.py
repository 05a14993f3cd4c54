"""Publishing a flow version: move a label; for `production`, make the final prompt live.

The final prompt (globals + canonical) becomes the assistant's `instructions`:
- `responses` style: a registry write through the registry's write path, announced, so every
  worker's config cache drops its copy and the next chat turn uses the new prompt;
- `assistants` style: the remote assistant is updated through the backend port, and the
  registry (which mirrors the definition) is written the same way.
"""

from __future__ import annotations

from schemas.flows import PRODUCTION_LABEL, PublishResult
from store import flows as flow_store
from store import registry, registry_writes
from worker.backends.factory import backend_for
from worker.flows.compose import final_prompt, unchanged_prefix
from worker.kinds import JobContext, JobFailure
from worker.settings import ApiStyle, SettingsError


async def publish(
    ctx: JobContext, flow: flow_store.Flow, number: int, label: str, requested_by: str
) -> PublishResult:
    """Point `label` at version `number` of `flow`; `production` also writes the instructions."""
    chosen = await flow_store.require_version(ctx.db, flow, number)
    final = final_prompt(chosen.globals, chosen.canonical)
    before = await _published_text(ctx, flow, label)
    style: str | None = None
    if label == PRODUCTION_LABEL:
        style = await _write_instructions(ctx, flow, final)
    previous = await flow_store.move_label(ctx.db, flow.id, label, number, requested_by)
    return PublishResult(
        label=label,
        version=number,
        previous_version=previous,
        instructions_written=style is not None,
        api_style=style,
        final_chars=len(final),
        unchanged_prefix_chars=unchanged_prefix(before, final),
    )


async def _published_text(ctx: JobContext, flow: flow_store.Flow, label: str) -> str:
    """What the label served before: the live instructions for production."""
    if label == PRODUCTION_LABEL:
        entry = await registry.get(ctx.db, flow.profile, flow.assistant)
        return (entry.spec.instructions or "") if entry else ""
    current = (await flow_store.labels(ctx.db, flow.id)).get(label)
    if current is None:
        return ""
    old = await flow_store.require_version(ctx.db, flow, current)
    return final_prompt(old.globals, old.canonical)


async def _write_instructions(ctx: JobContext, flow: flow_store.Flow, final: str) -> str:
    try:
        profile = ctx.settings.profile(flow.profile)
    except SettingsError as error:
        raise JobFailure(str(error), detail={"code": "unknown_profile"}) from None
    entry = await registry.get(ctx.db, flow.profile, flow.assistant)
    if entry is None:
        raise JobFailure(
            f"assistant {flow.assistant!r} left profile {flow.profile!r}'s registry",
            detail={"code": "unknown_assistant"},
        )
    spec = entry.spec.model_copy(update={"instructions": final})
    if profile.api_style is ApiStyle.assistants:
        if entry.remote_id is None:
            raise JobFailure(
                f"{flow.assistant!r} has no remote assistant in profile {flow.profile!r} "
                "(assistants style): clone or create it there first",
                detail={"code": "no_remote_assistant"},
            )
        backend = backend_for(
            profile,
            ctx.openai.get(flow.profile),
            db=ctx.db,
            redis=ctx.redis,
            keys=ctx.keys,
        )
        await backend.update(entry.remote_id, spec)
    await registry_writes.write(ctx.db, ctx.redis, ctx.keys, flow.profile, spec)
    return profile.api_style.value
