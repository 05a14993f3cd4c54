"""The producer's clone operations: plan (a job), apply (a job per assistant), progress, show.

async with await FerryClient.connect() as ferry:
    plan = await ferry.clones.plan(ClonePlanJob(source="src", destination="dst", request_id=…))
    handles = await ferry.clones.apply(plan.plan_id)
    results = [await h.outcome() for h in handles]

Apply's job ids come from the plan id and the source assistant: applying a plan twice runs
each assistant once. An assistant whose job failed (a quota stop, a refused schema) runs
again under its next number (`-r2`, …) when the plan is applied again: a resume.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from schemas.clone import AssistantCloneResult, CloneAssistantJob, ClonePlan, ClonePlanJob
from schemas.clone_export import ExportRef, export_ref
from schemas.results import JobStatus
from store import blob_rows, clone_state, clone_threads

if TYPE_CHECKING:
    from producers.client import FerryClient, JobHandle

PLAN_TIMEOUT_S = 600.0
# Chunk rows of an export kept in the `postgres:` blob tables (the worker's default size).
EXPORT_CHUNK_BYTES = 1024 * 1024


class UnknownPlan(LookupError):
    """No stored plan has this id."""

    def __init__(self, plan_id: str) -> None:
        super().__init__(
            f"no clone plan {plan_id!r}: `ferry clone plan --from SRC --to DST` makes one"
        )


@dataclass(frozen=True)
class Progress:
    """Where a run stands: assistants, files and bytes done of the plan's."""

    assistants_done: int
    assistants_failed: int
    assistants_total: int
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    # Chat history: messages journaled as copied, of the plan's.
    messages_done: int = 0
    messages_total: int = 0

    @property
    def finished(self) -> bool:
        return self.assistants_done + self.assistants_failed >= self.assistants_total


def new_request_id() -> str:
    """Makes a plan request its own job: the source may have changed since the last."""
    return uuid.uuid4().hex


class CloneOperations:
    """Clone operations over one client's connections (`FerryClient.clones`)."""

    def __init__(self, client: FerryClient) -> None:
        self._client = client

    async def plan(self, job: ClonePlanJob, *, timeout: float = PLAN_TIMEOUT_S) -> ClonePlan:
        """Run the plan job and return the stored plan."""
        handle = await self._client.enqueue(job)
        return await handle.result(timeout=timeout)

    async def keep_export(self, data: bytes, filename: str) -> ExportRef:
        """Check an export file (a `SpecError` names each bad field) and keep its bytes.

        They go into Ferry's blob tables in Postgres, content-addressed: the plan job carries
        only the hash and reads them back there.
        """
        ref = export_ref(data, filename)
        await blob_rows.write_blob(self._client.db, data, EXPORT_CHUNK_BYTES)
        return ref

    async def stored_plan(self, plan_id: str) -> ClonePlan:
        """A stored plan by id; `UnknownPlan` if none."""
        try:
            stored = await clone_state.get_plan(self._client.db, UUID(plan_id))
        except ValueError:
            stored = None
        if stored is None:
            raise UnknownPlan(plan_id)
        return ClonePlan.model_validate({**stored.body, "plan_id": str(stored.id)})

    async def apply(self, plan_id: str) -> list[JobHandle[AssistantCloneResult]]:
        """Enqueue one job per planned assistant; a failed one runs again as its next run."""
        plan = await self.stored_plan(plan_id)
        handles = []
        for planned in plan.assistants:
            job = CloneAssistantJob(plan_id=plan.plan_id, source_id=planned.source_id)
            # The outcome (Redis first, then the ledger, whose worker writes are batched).
            while (done := await self._client.finished_outcome(job.job_id())) is not None and (
                done.status is JobStatus.failed
            ):
                job = job.model_copy(update={"run": job.run + 1})
            handles.append(await self._client.enqueue(job))
        return handles

    async def progress(self, plan: ClonePlan) -> Progress:
        """The run's progress, from the plan's rows."""
        rows = await clone_state.plan_assistants(self._client.db, UUID(plan.plan_id))
        done = [r for r in rows if r.status in ("created", "updated", "unchanged")]
        failed = [r for r in rows if r.status == "failed"]
        copied: dict[str, int] = {}
        for row in done:
            for f in (row.result or {}).get("files", []):
                copied[f["source_id"]] = f["bytes"]
        thread_ids = [t.thread_id for a in plan.assistants for t in a.threads]
        journals = (
            await clone_threads.thread_journals(self._client.db, plan.destination, thread_ids)
            if thread_ids
            else []
        )
        return Progress(
            messages_done=sum(j.messages_copied for j in journals),
            messages_total=plan.thread_messages,
            assistants_done=len(done),
            assistants_failed=len(failed),
            assistants_total=len(rows),
            files_done=len(copied),
            files_total=len(plan.files),
            bytes_done=sum(copied.values()),
            bytes_total=sum(f.bytes for f in plan.files.values()),
        )

    async def rows(self, plan_id: str) -> list[clone_state.AssistantCopy]:
        return await clone_state.plan_assistants(self._client.db, UUID(plan_id))

    async def result(self, plan_id: str) -> dict[str, Any] | None:
        """The run's latest result (its `mapping.json`), from its Redis key."""
        raw = await self._client.redis.get(self._client.keys.clone_result(plan_id))
        return json.loads(raw) if raw else None
