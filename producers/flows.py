"""The producer's flow operations: import, show, patch, history, diff, publish, restore.

async with await FerryClient.connect() as ferry:
    flow = await ferry.flows.show("dst", "Sofia")
    result = await ferry.flows.patch("dst", "Sofia", [Edit(block_id=…, old_text=…, new_text=…)])

Import, patch and publish are jobs (the parser and the backends live in the worker); reads
and restore are store operations. Every call raises `FlowError` for an unknown flow or
version, and the job's typed errors (`JobFailed` with `error.detail["code"]`) otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from schemas.flows import (
    PRODUCTION_LABEL,
    BlockSpan,
    Edit,
    ImportFlow,
    ImportResult,
    PatchMode,
    PatchPrompt,
    PatchResult,
    PublishFlow,
    PublishResult,
    final_prompt,
    prompt_diff,
)
from store import flows as flow_store
from store.flows import Flow, FlowError, StaleFlow, VersionSummary

if TYPE_CHECKING:
    from producers.client import FerryClient

__all__ = ["FlowError", "FlowOperations", "FlowView", "StaleFlow"]

DEFAULT_TIMEOUT_S = 60.0
R = TypeVar("R")


@dataclass(frozen=True)
class FlowView:
    """One version of a flow (the head unless asked otherwise), and where its labels point."""

    flow: Flow
    labels: dict[str, int]
    version: int
    globals: str
    canonical: str
    mapping: list[BlockSpan]


class FlowOperations:
    """Flow operations over one client's connections (`FerryClient.flows`)."""

    def __init__(self, client: FerryClient) -> None:
        self._client = client

    async def import_prompt(
        self,
        profile: str,
        assistant: str,
        prompt: str,
        *,
        requested_by: str,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> ImportResult:
        """Parse `prompt` into the flow's next version (its first, for a new flow)."""
        current = await flow_store.get(self._client.db, profile, assistant)
        job = ImportFlow(
            profile=profile,
            assistant=assistant,
            prompt=prompt,
            base_version=current.version if current else None,
            requested_by=requested_by,
        )
        return await self._run(job, ImportResult, timeout)

    async def show(self, profile: str, assistant: str, version: int | None = None) -> FlowView:
        """A version's text and mapping (default: the head) and the flow's labels."""
        db = self._client.db
        flow = await flow_store.require(db, profile, assistant)
        labels = await flow_store.labels(db, flow.id)
        if version is None or version == flow.version:
            return FlowView(flow, labels, flow.version, flow.globals, flow.canonical, flow.mapping)
        old = await flow_store.require_version(db, flow, version)
        return FlowView(flow, labels, old.version, old.globals, old.canonical, old.mapping)

    async def patch(
        self,
        profile: str,
        assistant: str,
        edits: Sequence[Edit],
        *,
        requested_by: str,
        base_version: int | None = None,
        mode: PatchMode = PatchMode.exact,
        context: str | None = None,
        publish_label: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> PatchResult:
        """Patch blocks of the flow (made from `base_version`, default: the head now)."""
        if base_version is None:
            base_version = (await flow_store.require(self._client.db, profile, assistant)).version
        job = PatchPrompt(
            profile=profile,
            assistant=assistant,
            base_version=base_version,
            edits=list(edits),
            mode=mode,
            context=context,
            publish_label=publish_label,
            requested_by=requested_by,
        )
        return await self._run(job, PatchResult, timeout)

    async def history(self, profile: str, assistant: str) -> list[VersionSummary]:
        """Every version, newest first, with the labels pointing at each."""
        flow = await flow_store.require(self._client.db, profile, assistant)
        return await flow_store.history(self._client.db, flow.id)

    async def diff(self, profile: str, assistant: str, old: int, new: int) -> str:
        """A unified diff of two versions' final prompts (globals + canonical)."""
        flow = await flow_store.require(self._client.db, profile, assistant)
        before = await flow_store.require_version(self._client.db, flow, old)
        after = await flow_store.require_version(self._client.db, flow, new)
        return prompt_diff(
            final_prompt(before.globals, before.canonical),
            final_prompt(after.globals, after.canonical),
            f"v{old}",
            f"v{new}",
        )

    async def publish(
        self,
        profile: str,
        assistant: str,
        version: int | None = None,
        *,
        label: str = PRODUCTION_LABEL,
        requested_by: str,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> PublishResult:
        """Point `label` at `version` (default: the head); `production` makes it live."""
        job = PublishFlow(
            profile=profile,
            assistant=assistant,
            version=version,
            label=label,
            requested_by=requested_by,
            request_id=uuid.uuid4().hex,
        )
        return await self._run(job, PublishResult, timeout)

    async def restore(
        self, profile: str, assistant: str, version: int, *, requested_by: str
    ) -> int:
        """Make version `version`'s text the flow's next version; returns its number.

        History is kept (nothing is rewritten); publish the new version to make it live.
        """
        flow = await flow_store.require(self._client.db, profile, assistant)
        return await flow_store.restore(self._client.db, flow, version, requested_by)

    async def _run(
        self, job: ImportFlow | PatchPrompt | PublishFlow, model: type[R], timeout: float
    ) -> R:
        handle = await self._client.enqueue(job)
        result = await handle.result(timeout=timeout)
        assert isinstance(result, model)
        return result
