"""The apply job: carry out one assistant of a stored plan, then validate it.

The destination object is found through the mapping tables, then by `metadata.cloned_from`;
it is updated, never duplicated, and an assistant already equal to the plan costs no write.
Its id is recorded the moment it exists. Knowledge comes first, so the definition written
points at the destination's own vector stores and files.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

from arq import Retry

from schemas.assistants import AssistantSpec, parse_spec
from schemas.clone import (
    CLONED_FROM_KEY,
    AssistantCloneResult,
    CloneAssistantJob,
    ClonePlan,
    Operation,
    PlannedAssistant,
    PlannedVectorStore,
    ThreadCopyResult,
    ValidationCheck,
)
from store import clone_state
from worker.backends.calls import message_of, reconciled
from worker.backends.port import AssistantBackend, RemoteAssistant
from worker.clone.export_source import ExportBackend, source_backend
from worker.clone.file_sources import FileSourceResolver, FileUnavailable
from worker.clone.history_copy import ThreadCopier
from worker.clone.knowledge import KnowledgeCopier
from worker.clone.originals import OriginalsDirectory
from worker.clone.plan import changes, find_existing, load_plan, open_originals
from worker.clone.report import write_report
from worker.clone.slots import slot
from worker.clone.specs import covers, resource_ids, swap_resources
from worker.kinds import JobContext, JobFailure

# A module, not its names: worker.openai.errors imports worker.kinds, which imports this.
from worker.openai import errors as call_errors


class AssistantFailed(JobFailure):
    """The apply ran to its end and failed (validation, threads); its full result is recorded."""


def planned_assistant(plan: ClonePlan, source_id: str) -> PlannedAssistant:
    for planned in plan.assistants:
        if planned.source_id == source_id:
            return planned
    raise JobFailure(
        f"plan {plan.plan_id} has no assistant {source_id}", detail={"code": "not_in_plan"}
    )


async def run_assistant(ctx: JobContext, job: CloneAssistantJob) -> AssistantCloneResult:
    """Clone one planned assistant; its row and the plan's report say how it went."""
    plan = await load_plan(ctx, job.plan_id)
    planned = planned_assistant(plan, job.source_id)
    plan_uuid = UUID(plan.plan_id)
    try:
        if planned.operation is Operation.blocked:
            raise JobFailure("; ".join(planned.problems), detail={"code": "blocked"})
        limit = ctx.settings.max_concurrency
        originals = open_originals(plan.options.originals_dir)
        src = await source_backend(ctx, plan.source, plan.source_export, originals)
        async with slot(
            ctx.redis,
            ctx.keys.clone_slots,
            ctx.job_id,
            limit=limit,
            lease_s=ctx.settings.job_lease_s,
        ):
            result = await Applier(ctx, plan, planned, src, originals).run()
    except Retry:
        raise  # handed back to the queue (a long rate-limit wait): not a failure
    except AssistantFailed:
        await write_report(ctx, plan)  # its row already holds the whole result
        raise
    except Exception as error:
        message = (
            message_of(error) if isinstance(error, call_errors.OpenAICallError) else str(error)
        )
        retryable = (call_errors.Retryable, call_errors.QuotaExhausted, call_errors.Ambiguous)
        retry = isinstance(error, retryable) or not isinstance(error, JobFailure | FileUnavailable)
        failed = AssistantCloneResult(
            plan_id=plan.plan_id,
            source_id=planned.source_id,
            name=planned.name,
            status="failed",
            error=message,
            retry_recommended=retry,
        )
        await clone_state.record_assistant(
            ctx.db,
            plan_uuid,
            planned.source_id,
            status="failed",
            error=message,
            result=failed.model_dump(mode="json"),
        )
        await write_report(ctx, plan)
        raise
    await write_report(ctx, plan)
    return result


class Applier:
    """One assistant's apply."""

    def __init__(
        self,
        ctx: JobContext,
        plan: ClonePlan,
        planned: PlannedAssistant,
        src: AssistantBackend | ExportBackend,
        originals: OriginalsDirectory | None,
    ) -> None:
        self.ctx, self.plan, self.planned = ctx, plan, planned
        self.src = src
        self.from_export = isinstance(src, ExportBackend)
        self.dst = ctx.backend(plan.destination)
        resolver = FileSourceResolver(
            src.knowledge,  # type: ignore[arg-type]  # an export's knowledge reads the same way
            originals=originals,
            downloads=not isinstance(src, ExportBackend),
        )
        self.copier = KnowledgeCopier(
            ctx,
            self.src,
            self.dst,
            plan.destination,
            resolver,
            since=plan.created_at,
            planned_files=plan.files,
        )

    async def run(self) -> AssistantCloneResult:
        planned, plan = self.planned, self.plan
        wanted = parse_spec(planned.spec)
        store_ids, file_ids = resource_ids(wanted)
        deadline = self.ctx.settings.clone_ingestion_deadline_s
        stores = {
            s.source_id: await self._reused_store(s)
            if self.from_export
            else await self.copier.vector_store(s, deadline)
            for s in planned.vector_stores
            if s.source_id in store_ids
        }
        files = {f: await self.copier.file(f, []) for f in file_ids}
        spec = swap_resources(wanted, stores, files)
        existing = await self._existing()
        status, writes = "unchanged", 0
        if existing is None:
            existing = await reconciled(lambda: self.dst.create(spec), self._tagged)
            status, writes = "created", 1
        elif changes(existing.spec, spec):
            existing = await self.dst.update(existing.id, spec)
            status, writes = "updated", 1
        # The destination id, the moment it is known; the status waits for validation.
        await clone_state.record_assistant(
            self.ctx.db,
            UUID(plan.plan_id),
            planned.source_id,
            status="planned",
            destination_id=existing.id,
        )
        validation = await self.validate(existing, spec, stores, files)
        threads = await self._threads(existing.id, spec.name)
        remote_definition = self.dst.style == "assistants"
        operations = {
            "assistant": status,
            "file_search": ("reused" if self.from_export else "cloned") if stores else "skipped",
            "code_interpreter": "cloned" if files else "skipped",
            "tag": "cloned_from" if planned.tagged else "mapping table only (16 keys used)",
        }
        if plan.options.threads:
            operations["threads"] = _threads_summary(threads)
        result = AssistantCloneResult(
            plan_id=plan.plan_id,
            source_id=planned.source_id,
            name=spec.name,
            destination_id=existing.id,
            status=status if all(c.ok for c in validation) else "failed",
            operations=operations,
            files=[self.copier.outcomes[f] for f in self._file_ids(stores, files)],
            vector_stores=stores,
            validation=validation,
            write_requests=self.copier.writes
            + (writes if remote_definition else 0)
            + sum(t.write_requests for t in threads),
            threads=threads,
        )
        bad_threads = [t for t in threads if t.status == "failed"]
        if result.status == "failed":
            bad = [c.field for c in validation if not c.ok]
            result = result.model_copy(update={"error": f"validation failed: {', '.join(bad)}"})
        elif bad_threads:
            # Each thread resumes from its journal: applying the plan again finishes them
            # (retry recommended when a failure was transient).
            errors = "; ".join(f"{t.thread_id}: {t.error}" for t in bad_threads)
            result = result.model_copy(
                update={
                    "status": "failed",
                    "error": f"{len(bad_threads)} thread(s) not copied: {errors}",
                    "retry_recommended": any(t.retry_recommended for t in bad_threads),
                }
            )
        await clone_state.record_assistant(
            self.ctx.db,
            UUID(plan.plan_id),
            planned.source_id,
            status=result.status,
            destination_id=existing.id,
            error=result.error,
            result=result.model_dump(mode="json"),
        )
        if result.status == "failed":
            code = "threads" if bad_threads and result.valid else "validation"
            raise AssistantFailed(result.error or "validation failed", detail={"code": code})
        return result

    async def _threads(self, destination_id: str, name: str) -> list[ThreadCopyResult]:
        """The assistant's chat history, thread by thread (the definition exists by now)."""
        if not self.planned.threads:
            return []
        copier = ThreadCopier(
            self.ctx,
            self.plan.source,
            self.plan.destination,
            lambda file_id: self.copier.file(file_id, []),
            assistant_id=UUID(destination_id),
            assistant_name=name,
        )
        return await copier.copy_all(self.planned.threads)

    async def _reused_store(self, planned: PlannedVectorStore) -> str:
        """An export's store: the copy an earlier clone made here, if it is still there."""
        copy = planned.reused_as
        if copy is None or await self.dst.knowledge.vector_stores.get(copy) is None:
            raise JobFailure(
                f"vector store {planned.source_id}: its earlier copy {copy} is gone from the "
                "destination and an export cannot re-create it. Fix: clone with "
                "--no-file-search, or from the source profile while its stores are reachable",
                detail={"code": "vector_store_gone", "vector_store": planned.source_id},
            )
        return copy

    def _file_ids(self, stores: dict[str, str], files: dict[str, str]) -> list[str]:
        ids = [f for s in self.planned.vector_stores if s.source_id in stores for f in s.file_ids]
        return list(dict.fromkeys([*ids, *files]))

    async def _existing(self) -> RemoteAssistant | None:
        row = next(
            (
                r
                for r in await clone_state.plan_assistants(self.ctx.db, UUID(self.plan.plan_id))
                if r.source_id == self.planned.source_id
            ),
            None,
        )
        if row is not None and row.destination_id:
            found = await self.dst.get(row.destination_id)
            if found is not None:
                return found
        return await find_existing(
            self.ctx, self.dst, self.plan.source, self.plan.destination, self.planned.source_id
        )

    async def _tagged(self) -> RemoteAssistant | None:
        if not self.planned.tagged:
            return None
        found = await self.dst.find_by_metadata(CLONED_FROM_KEY, self.planned.source_id)
        return found[0] if found else None

    async def validate(
        self,
        found: RemoteAssistant,
        spec: AssistantSpec,
        stores: dict[str, str],
        files: dict[str, str],
    ) -> list[ValidationCheck]:
        """Seed step 3: check the destination, as it last answered this job, against the plan.

        `found` is the destination's own answer to this job's create or update (the object
        as stored), or its read when nothing was written; each store's files are the
        listing this job took after its last write to the store. So validation reads
        nothing again, and still checks what the destination holds, not what was sent.
        """
        got = found.spec
        checks = [
            _check("model", spec.model, got.model),
            _check("instructions_sha256", _sha(spec.instructions), _sha(got.instructions)),
            _check(
                "tools",
                [t.model_dump(mode="json") for t in spec.tools],
                [t.model_dump(mode="json") for t in got.tools],
            ),
            _check("temperature", spec.temperature, got.temperature),
            _check("top_p", spec.top_p, got.top_p),
            _check(
                "response_format",
                _dump(spec.response_format),
                _dump(got.response_format),
            ),
        ]
        vector_stores = self.dst.knowledge.vector_stores
        by_source = {s.source_id: s for s in self.planned.vector_stores}
        for source_id, store_id in stores.items():
            if self.from_export:
                # An export lists no store's files: check that the copy is wired in.
                fs = got.tool_resources.file_search if got.tool_resources else None
                wired = store_id if fs and store_id in fs.vector_store_ids else None
                checks.append(_check(f"vector_store[{source_id}]", store_id, wired))
                continue
            expected = sorted(
                self.copier.outcomes[f].filename for f in by_source[source_id].file_ids
            )
            # One list per store: the ids attached, named through this run's file map.
            names = {o.destination_id: o.filename for o in self.copier.outcomes.values()}
            listed = self.copier.store_files.get(store_id)
            if listed is None:
                listed = [f.id for f in await vector_stores.list_files(store_id)]
            found_names = sorted(names.get(f, f"(unexpected {f})") for f in listed)
            checks.append(_check(f"vector_store[{source_id}].files", expected, found_names))
        ci = got.tool_resources.code_interpreter if got.tool_resources else None
        checks.append(
            _check(
                "code_interpreter.files", sorted(files.values()), sorted(ci.file_ids if ci else [])
            )
        )
        return checks


def _threads_summary(threads: list[ThreadCopyResult]) -> str:
    if not threads:
        return "none found"
    counts = {s: sum(t.status == s for t in threads) for s in ("copied", "unchanged", "failed")}
    messages = sum(t.messages_copied for t in threads)
    return (
        f"{len(threads)} thread(s): {counts['copied']} copied, {counts['unchanged']} unchanged, "
        f"{counts['failed']} failed; {messages} message(s)"
    )


def _check(field: str, expected: object, found: object) -> ValidationCheck:
    return ValidationCheck(field=field, ok=covers(expected, found), expected=expected, found=found)


def _sha(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text is not None else None


def _dump(value: object) -> object:
    return value.model_dump(mode="json", by_alias=True) if hasattr(value, "model_dump") else value
