"""The bodies of `/flows`: a flow version with its blocks, its history, a diff, a restore."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from producers.flows import FlowView
from schemas.flows import BlockType, final_prompt
from store.flows import VersionSummary


class Block(BaseModel):
    """One block: its text is `canonical[prompt_start:prompt_end]`."""

    block_id: str
    type: BlockType
    text: str
    prompt_start: int
    prompt_end: int
    line_number: int
    tool_name: str | None = None


class FlowOut(BaseModel):
    """One version of a flow (the head unless `?version=` names another)."""

    profile: str
    assistant: str
    version: int
    head_version: int
    labels: dict[str, int] = Field(description="each label and the version it points at")
    globals: str
    canonical: str
    final_prompt: str = Field(description="globals + canonical, never recomposed from blocks")
    blocks: list[Block] = Field(description="in prompt order")

    @classmethod
    def of(cls, view: FlowView) -> FlowOut:
        return cls(
            profile=view.flow.profile,
            assistant=view.flow.assistant,
            version=view.version,
            head_version=view.flow.version,
            labels=view.labels,
            globals=view.globals,
            canonical=view.canonical,
            final_prompt=final_prompt(view.globals, view.canonical),
            blocks=blocks_of(view.canonical, view),
        )


def blocks_of(canonical: str, view: FlowView) -> list[Block]:
    """The blocks of a version, in prompt order, with their text."""
    return [
        Block(
            block_id=span.block_id,
            type=span.type,
            text=canonical[span.prompt_start : span.prompt_end],
            prompt_start=span.prompt_start,
            prompt_end=span.prompt_end,
            line_number=span.line_number,
            tool_name=span.tool_name,
        )
        for span in sorted(view.mapping, key=lambda s: s.prompt_start)
    ]


class FlowVersion(BaseModel):
    version: int
    base_version: int | None
    kind: str = Field(description="what made it: import, patch, restore")
    requested_by: str
    created_at: datetime
    canonical_chars: int
    blocks: int
    labels: list[str]

    @classmethod
    def of(cls, summary: VersionSummary) -> FlowVersion:
        return cls(
            version=summary.version,
            base_version=summary.base_version,
            kind=summary.kind or "import",
            requested_by=summary.requested_by,
            created_at=summary.created_at,
            canonical_chars=summary.canonical_chars,
            blocks=summary.blocks,
            labels=summary.labels,
        )


class FlowHistory(BaseModel):
    data: list[FlowVersion] = Field(description="newest first")


class FlowDiff(BaseModel):
    old: int
    new: int
    diff: str = Field(description="a unified diff of the two versions' final prompts")


class RestoreBody(BaseModel):
    """Make an old version's text the flow's next version."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version whose text comes back")
    base_version: int | None = Field(
        default=None, ge=1, description="the head you read; a 409 if the flow moved since"
    )


class Restored(BaseModel):
    version: int = Field(description="the new version (publish it to make it live)")
    restored: int
