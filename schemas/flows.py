"""Prompt flows (seed 001): the block map, a patch's edits, the flow jobs and their results.

A flow belongs to one registry assistant. Its canonical prompt is the source of truth; blocks
are a view of it, located by `block_mapping` (`canonical[prompt_start:prompt_end]` is a
block's text). Offsets count Unicode code points (Python `str` indices), not bytes or UTF-16
units, and a line ends at `\\n` (`\\r\\n` included): a lone `\\r` is text.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from schemas.jobs import Job
from schemas.keys import Queue

# The label whose version is the assistant's live instructions; other labels only point.
PRODUCTION_LABEL = "production"
LABEL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class BlockType(StrEnum):
    primeira_mensagem = "primeira_mensagem"  # the first quoted phrase: the greeting
    texto = "texto"  # a quoted phrase the assistant says
    aguardar = "aguardar"  # AGUARDE / Aguardar: wait for the user
    encerrar = "encerrar"  # ENCERRAR: end the conversation
    tool = "tool"  # CHAME tool X


# Not frozen: a patch makes a span for every block after an edit (up to thousands), and a
# frozen dataclass is three times slower to build. Spans are never changed once made.
@dataclass(slots=True)
class BlockSpan:
    """One entry of `block_mapping`: where a block's text sits in the canonical prompt."""

    block_id: str
    type: BlockType
    prompt_start: int
    prompt_end: int
    line_number: int  # 1-based line of `prompt_start`
    tool_name: str | None = None


MAPPING = TypeAdapter(list[BlockSpan])


def mapping_json(mapping: list[BlockSpan]) -> list[dict[str, Any]]:
    """The mapping as JSON-ready dicts (what Postgres and results hold)."""
    return MAPPING.dump_python(mapping, mode="json")


def mapping_of(raw: Any) -> list[BlockSpan]:
    """A mapping read back from JSON."""
    return MAPPING.validate_python(raw)


class PatchMode(StrEnum):
    exact = "exact"  # replace old_text inside the block's span, nothing else
    semantic = "semantic"  # an LLM rewrites a window around the block, checked afterwards


class Edit(BaseModel):
    """Replace `old_text` by `new_text` inside one block's span."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_id: str = Field(min_length=1)
    old_text: str = Field(min_length=1)
    new_text: str
    # Which occurrence (1-based) when `old_text` occurs more than once in the block.
    occurrence: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _changes_something(self) -> Edit:
        if self.old_text == self.new_text:
            raise ValueError("new_text equals old_text: the edit changes nothing")
        return self


def _checked_label(value: str) -> str:
    if not LABEL_PATTERN.match(value):
        raise ValueError(
            "a label is 1-64 lower-case letters, digits, '.', '_' or '-' (e.g. production, staging)"
        )
    return value


def _requester(value: str) -> str:
    if not value.strip():
        raise ValueError("say who asks (a user name or service), e.g. 'ops:maria'")
    return value


class _FlowJob(Job):
    queue: ClassVar[Queue] = Queue.patch
    timeout_s: ClassVar[int] = 120

    profile: str = Field(min_length=1)
    assistant: str = Field(min_length=1, description="the registry assistant the flow belongs to")
    requested_by: str = Field(min_length=1, max_length=256)

    @field_validator("requested_by")
    @classmethod
    def _check_requester(cls, value: str) -> str:
        return _requester(value)

    def flow_key(self) -> str:
        """A short, id-safe name for the flow (assistant names may hold any character)."""
        return hashlib.sha256(f"{self.profile}/{self.assistant}".encode()).hexdigest()[:12]


class ImportResult(BaseModel):
    profile: str
    assistant: str
    version: int
    created: bool
    globals_sections: list[str]
    globals_chars: int
    canonical_chars: int
    mapping: list[BlockSpan]


class ImportFlow(_FlowJob):
    """Parse a prompt and make it the flow's next version (the first, for a new flow)."""

    kind: ClassVar[str] = "flow.import"
    result_model: ClassVar[type[BaseModel]] = ImportResult

    prompt: str
    # The flow's version this import replaces (None: the flow must not exist yet).
    base_version: int | None = Field(default=None, ge=1)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the prompt is empty: give the text of the prompt to import")
        return value

    def job_id(self) -> str:
        digest = hashlib.sha256(self.prompt.encode()).hexdigest()[:24]
        return f"{self.kind}-{self.flow_key()}-v{self.base_version or 0}-{digest}"


class PublishResult(BaseModel):
    label: str
    version: int
    previous_version: int | None
    instructions_written: bool
    api_style: str | None
    final_chars: int
    # OpenAI's prompt cache reuses only an unchanged prefix: how much of the start survived.
    unchanged_prefix_chars: int


class PublishFlow(_FlowJob):
    """Point a label at a version; the `production` label also makes it the instructions."""

    kind: ClassVar[str] = "flow.publish"
    result_model: ClassVar[type[BaseModel]] = PublishResult

    version: int | None = Field(default=None, ge=1, description="default: the flow's head")
    label: str = PRODUCTION_LABEL
    # Publishing is idempotent, so each request is its own job (the label may have moved since).
    request_id: str = Field(min_length=1, max_length=64)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        return _checked_label(value)


class PatchResult(BaseModel):
    profile: str
    assistant: str
    mode: PatchMode
    base_version: int
    version: int
    # The head the patch was rebased onto when base_version was stale (None: it was current).
    rebased_onto: int | None
    changed_blocks: list[str]
    deleted_blocks: list[str]
    diff: str
    mapping: list[BlockSpan]
    final_chars: int
    unchanged_prefix_chars: int
    published: PublishResult | None = None


class PatchPrompt(_FlowJob):
    """Patch blocks of a flow's canonical prompt, made from `base_version`."""

    kind: ClassVar[str] = "flow.patch"
    result_model: ClassVar[type[BaseModel]] = PatchResult

    base_version: int = Field(ge=1)
    edits: list[Edit] = Field(min_length=1)
    mode: PatchMode = PatchMode.exact
    # Extra guidance for a semantic rewrite (seed 001's `context`).
    context: str | None = None
    # Publish the new version under this label once it is made (None: do not publish).
    publish_label: str | None = None

    @field_validator("publish_label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else _checked_label(value)

    @model_validator(mode="after")
    def _one_semantic_edit(self) -> PatchPrompt:
        if self.mode is PatchMode.semantic and len(self.edits) != 1:
            raise ValueError("semantic mode rewrites one block at a time: send one edit per job")
        return self

    def job_id(self) -> str:
        """The flow, its base version and a hash of the edits: a retry is the same job."""
        what = {
            "edits": [e.model_dump(mode="json") for e in self.edits],
            "mode": self.mode.value,
            "context": self.context,
            "publish_label": self.publish_label,
        }
        canonical = json.dumps(what, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:24]
        return f"{self.kind}-{self.flow_key()}-v{self.base_version}-{digest}"


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def prompt_diff(old: str, new: str, old_name: str, new_name: str, context: int = 3) -> str:
    """A unified diff of two prompts, line by line (line ends kept, so CRLF shows).

    The lines both share at the start and the end are set aside before difflib runs (a
    patch touches a few lines of thousands), and the hunk headers are numbered back.
    """
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    same = 0
    while same < min(len(a), len(b)) and a[same] == b[same]:
        same += 1
    tail = 0
    while tail < min(len(a), len(b)) - same and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    skip, keep_tail = max(0, same - context), max(0, tail - context)
    lines = difflib.unified_diff(
        a[skip : len(a) - keep_tail],
        b[skip : len(b) - keep_tail],
        fromfile=old_name,
        tofile=new_name,
        n=context,
    )
    out = []
    for line in lines:
        if skip and (hunk := _HUNK.match(line)):
            old_at, old_len, new_at, new_len = hunk.groups()
            line = (
                f"@@ -{int(old_at) + skip}{old_len or ''} +{int(new_at) + skip}{new_len or ''} @@"
                f"{line[hunk.end() :]}"
            )
        out.append(line if line.endswith("\n") else line + "\n")
    return "".join(out)


def final_prompt(globals_text: str, canonical: str) -> str:
    """Globals, then the canonical prompt (a line break between them if the globals lack one)."""
    if globals_text and canonical and not globals_text.endswith("\n"):
        newline = "\r\n" if "\r\n" in globals_text or "\r\n" in canonical else "\n"
        return f"{globals_text}{newline}{canonical}"
    return globals_text + canonical
