"""The flow job kinds: import a prompt, patch it (exact or semantic), publish a version.

Each job that makes a version records its own id on it, so a retried job (its worker died
after the commit) finds its version instead of applying its edits twice. A patch made from an
older version rebases when no newer version touched the blocks it edits, and otherwise fails
with a conflict naming the current version.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from schemas.flows import (
    ImportFlow,
    ImportResult,
    PatchMode,
    PatchPrompt,
    PatchResult,
    PublishFlow,
    PublishResult,
    prompt_diff,
)
from store import flows as flow_store
from worker.flows.compose import final_prompt, unchanged_prefix
from worker.flows.parser import parse_prompt
from worker.flows.patch import EditError, PatchOutcome, apply_exact, conflicting_version
from worker.flows.publish import publish
from worker.flows.semantic import Rewriter, SemanticRejected, apply_semantic, rewrite_request
from worker.kinds import JobContext, JobFailure, JobHandler
from worker.openai.pacing import estimate_tokens

# A patch that loses the race for the head this many times in a row gives up.
MAX_HEAD_RACES = 5


async def run_import(ctx: JobContext, job: ImportFlow) -> ImportResult:
    """Parse the prompt and store it as the flow's next version."""
    parsed = parse_prompt(job.prompt)
    result = ImportResult(
        profile=job.profile,
        assistant=job.assistant,
        version=0,
        created=job.base_version is None,
        globals_sections=parsed.global_titles,
        globals_chars=parsed.globals_end,
        canonical_chars=len(parsed.canonical),
        mapping=parsed.canonical_mapping(),
    )
    if (done := await flow_store.version_by_job(ctx.db, ctx.job_id)) is not None:
        return result.model_copy(update={"version": done.version})
    if not parsed.blocks:
        raise JobFailure(
            "the prompt has no blocks: a flow needs at least one quoted phrase, AGUARDE, "
            "ENCERRAR or CHAME tool line outside its global sections",
            detail={"code": "no_blocks", "loc": "payload.prompt"},
        )
    previous = await flow_store.get(ctx.db, job.profile, job.assistant)
    try:
        number = await flow_store.append_version(
            ctx.db,
            profile=job.profile,
            assistant=job.assistant,
            expected=job.base_version,
            globals_text=parsed.globals_text,
            canonical=parsed.canonical,
            mapping=result.mapping,
            patch={"kind": "import"},
            changes=[(0, len(previous.canonical) if previous else 0, len(parsed.canonical))],
            requested_by=job.requested_by,
            job_id=ctx.job_id,
        )
    except flow_store.StaleFlow as stale:
        raise _stale(stale, "import") from None
    except flow_store.FlowError as error:
        raise JobFailure(str(error), detail={"code": "not_found"}) from None
    return result.model_copy(update={"version": number})


async def run_patch(ctx: JobContext, job: PatchPrompt) -> PatchResult:
    """Apply the edits to the flow's head, as a new version; publish it if asked."""
    if (done := await flow_store.version_by_job(ctx.db, ctx.job_id)) is not None:
        return await _redone(ctx, job, done)
    for _ in range(MAX_HEAD_RACES):
        flow = await _flow(ctx, job.profile, job.assistant)
        rebased = await _rebase_check(ctx, job, flow)
        outcome = await _apply(ctx, job, flow)
        try:
            number = await flow_store.append_version(
                ctx.db,
                profile=job.profile,
                assistant=job.assistant,
                expected=flow.version,
                globals_text=flow.globals,
                canonical=outcome.canonical,
                mapping=outcome.mapping,
                patch={
                    "kind": "patch",
                    "mode": job.mode.value,
                    "edits": [e.model_dump(mode="json") for e in job.edits],
                    "context": job.context,
                    "changed_blocks": outcome.changed_blocks,
                    "deleted_blocks": outcome.deleted_blocks,
                    "rebased_onto": rebased,
                },
                changes=outcome.changes,
                requested_by=job.requested_by,
                job_id=ctx.job_id,
            )
        except flow_store.StaleFlow:
            continue  # another patch landed meanwhile: check this one against the new head
        except asyncpg.UniqueViolationError:
            done = await flow_store.version_by_job(ctx.db, ctx.job_id)
            assert done is not None  # a concurrent attempt of this very job committed first
            return await _redone(ctx, job, done)
        break
    else:
        raise JobFailure(
            f"the flow kept changing under the patch ({MAX_HEAD_RACES} tries): try again",
            detail={"code": "busy"},
        )
    new_final = final_prompt(flow.globals, outcome.canonical)
    return PatchResult(
        profile=job.profile,
        assistant=job.assistant,
        mode=job.mode,
        base_version=job.base_version,
        version=number,
        rebased_onto=rebased,
        changed_blocks=outcome.changed_blocks,
        deleted_blocks=outcome.deleted_blocks,
        diff=prompt_diff(flow.canonical, outcome.canonical, f"v{flow.version}", f"v{number}"),
        mapping=outcome.mapping,
        final_chars=len(new_final),
        unchanged_prefix_chars=unchanged_prefix(
            final_prompt(flow.globals, flow.canonical), new_final
        ),
        published=await _publish_new(ctx, job, number),
    )


async def run_publish(ctx: JobContext, job: PublishFlow) -> PublishResult:
    """Move the label (and for `production`, the assistant's instructions) to the version."""
    flow = await _flow(ctx, job.profile, job.assistant)
    try:
        return await publish(ctx, flow, job.version or flow.version, job.label, job.requested_by)
    except flow_store.FlowError as error:
        raise JobFailure(
            str(error), detail={"code": "not_found", "loc": "payload.version"}
        ) from None


async def _flow(ctx: JobContext, profile: str, assistant: str) -> flow_store.Flow:
    try:
        return await flow_store.require(ctx.db, profile, assistant)
    except flow_store.FlowError as error:
        raise JobFailure(str(error), detail={"code": "not_found"}) from None


async def _rebase_check(ctx: JobContext, job: PatchPrompt, flow: flow_store.Flow) -> int | None:
    """None when the base is the head; the head when the patch may be rebased onto it."""
    if job.base_version == flow.version:
        return None
    if job.base_version > flow.version:
        raise JobFailure(
            f"base_version {job.base_version} does not exist: {job.assistant!r} is at "
            f"version {flow.version}",
            detail={
                "code": "stale",
                "loc": "payload.base_version",
                "current_version": flow.version,
            },
        )
    base = await flow_store.require_version(ctx.db, flow, job.base_version)
    spans = {s.block_id: s for s in base.mapping}
    for index, edit in enumerate(job.edits):
        if edit.block_id not in spans:
            raise _edit_failure(
                EditError(
                    index,
                    "block_id",
                    f"unknown block {edit.block_id!r} in base version {job.base_version}",
                )
            )
    edited = [spans[e.block_id] for e in job.edits]
    newer = await flow_store.changes_after(ctx.db, flow.id, job.base_version)
    conflict = conflicting_version(edited, newer)
    if conflict is not None:
        names = ", ".join(sorted({e.block_id for e in job.edits}))
        raise JobFailure(
            f"conflict: version {conflict} changed {names} after base version "
            f"{job.base_version}; the flow is at version {flow.version}: read it again and "
            f"patch against version {flow.version}",
            detail={
                "code": "conflict",
                "current_version": flow.version,
                "conflicting_version": conflict,
            },
        )
    return flow.version


async def _apply(ctx: JobContext, job: PatchPrompt, flow: flow_store.Flow) -> PatchOutcome:
    try:
        if job.mode is PatchMode.exact:
            outcome = apply_exact(flow.canonical, flow.mapping, job.edits)
        else:
            outcome = await apply_semantic(
                flow.canonical, flow.mapping, job.edits[0], _rewriter(ctx, job), context=job.context
            )
    except EditError as error:
        raise _edit_failure(error) from None
    except SemanticRejected as error:
        raise JobFailure(
            f"semantic patch rejected, nothing changed: {error}",
            detail={"code": "semantic_rejected"},
        ) from None
    if not outcome.mapping:
        raise JobFailure(
            "the patch would delete every block of the flow: nothing changed",
            detail={"code": "no_blocks", "loc": "payload.edits"},
        )
    return outcome


def _rewriter(ctx: JobContext, job: PatchPrompt) -> Rewriter:
    model = ctx.settings.flow_semantic_model

    async def rewrite(instructions: str, text: str) -> str:
        params, ask = rewrite_request(model, instructions, text)
        # Asking again is harmless (the answer is only read), so a lost answer is retried.
        return await ctx.openai.call(
            job.profile, ask, model=model, tokens=estimate_tokens(params), idempotent=True
        )

    return rewrite


def _edit_failure(error: EditError) -> JobFailure:
    return JobFailure(
        f"nothing changed: {error}",
        detail={
            "code": "invalid_edit",
            "edit_index": error.index,
            "loc": f"payload.edits[{error.index}].{error.field}",
        },
    )


def _stale(stale: flow_store.StaleFlow, action: str) -> JobFailure:
    if stale.expected is None:
        message = (
            f"the flow already exists at version {stale.current}: {action} with base version "
            f"{stale.current} to replace it"
        )
    else:
        message = (
            f"conflict: the flow is at version {stale.current}, not {stale.expected}: read it "
            f"again and {action} against version {stale.current}"
        )
    return JobFailure(
        message,
        detail={
            "code": "conflict",
            "loc": "payload.base_version",
            "current_version": stale.current,
        },
    )


async def _publish_new(ctx: JobContext, job: PatchPrompt, number: int) -> PublishResult | None:
    if job.publish_label is None:
        return None
    fresh = await _flow(ctx, job.profile, job.assistant)
    return await publish(ctx, fresh, number, job.publish_label, job.requested_by)


async def _redone(ctx: JobContext, job: PatchPrompt, done: flow_store.Version) -> PatchResult:
    """The result of a patch whose version exists already (this job made it before)."""
    flow = await _flow(ctx, job.profile, job.assistant)
    before = await flow_store.require_version(ctx.db, flow, done.version - 1)
    new_final = final_prompt(done.globals, done.canonical)
    published = None
    if job.publish_label is not None and flow.version == done.version:
        published = await publish(ctx, flow, done.version, job.publish_label, job.requested_by)
    return PatchResult(
        profile=job.profile,
        assistant=job.assistant,
        mode=job.mode,
        base_version=job.base_version,
        version=done.version,
        rebased_onto=done.patch.get("rebased_onto"),
        changed_blocks=done.patch.get("changed_blocks", []),
        deleted_blocks=done.patch.get("deleted_blocks", []),
        diff=prompt_diff(
            before.canonical, done.canonical, f"v{before.version}", f"v{done.version}"
        ),
        mapping=done.mapping,
        final_chars=len(new_final),
        unchanged_prefix_chars=unchanged_prefix(
            final_prompt(before.globals, before.canonical), new_final
        ),
        published=published,
    )


FLOW_HANDLERS: tuple[JobHandler[Any], ...] = (
    JobHandler(ImportFlow, run_import),
    JobHandler(PatchPrompt, run_patch),
    JobHandler(PublishFlow, run_publish),
)
