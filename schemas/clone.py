"""Clone jobs: seed 000's replicator as a plan job, then one apply job per assistant.

`ClonePlanJob` reads the source and the destination and stores a `ClonePlan` in Postgres
under an id; nothing is written remotely. `CloneAssistantJob` carries out one assistant of
a stored plan; its id comes from the plan id and the source assistant, so enqueueing twice
runs once, while a plan made next week gets new ids and runs again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator

from schemas.clone_export import EXPORT_SOURCE_PREFIX, ExportRef
from schemas.jobs import Job
from schemas.keys import Queue

# Where a destination object remembers its source (seed 000's tag).
CLONED_FROM_KEY = "cloned_from"


class SelectionMode(StrEnum):
    all = "all"
    by_id = "by_id"
    by_name = "by_name"


class Selection(BaseModel):
    """Which source assistants: all, a list of ids, or names containing any of a list."""

    mode: SelectionMode = SelectionMode.all
    ids: list[str] = Field(default_factory=list)
    # Case-insensitive "contains", any of them.
    names: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_what_its_mode_needs(self) -> Selection:
        if self.mode is SelectionMode.by_id and not self.ids:
            raise ValueError("selection.ids: by_id needs at least one id (--ids / CLONE_IDS)")
        if self.mode is SelectionMode.by_name and not self.names:
            raise ValueError(
                "selection.names: by_name needs at least one name (--names / CLONE_NAMES)"
            )
        return self


class CloneOptions(BaseModel):
    """What a clone carries across, besides the definitions."""

    name_prefix: str = ""
    include_file_search: bool = False
    include_code_interpreter: bool = False
    # old model → new model, for a destination without the source's model.
    model_map: dict[str, str] = Field(default_factory=dict)
    # A directory of original files on the worker's machine (`--originals DIR`).
    originals_dir: str | None = None


class Operation(StrEnum):
    create = "create"
    update = "update"
    unchanged = "unchanged"
    blocked = "blocked"  # the plan found a problem apply cannot get past


class FieldChange(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class PlannedFile(BaseModel):
    """One source file and how its bytes will travel (or that an earlier run copied it)."""

    source_id: str
    filename: str
    bytes: int
    purpose: str
    # blob_store / originals / download / parsed_text; `reused` when already copied.
    travel: str
    reused_as: str | None = None
    # Attributes it has in the vector store it is attached to.
    attributes: dict[str, Any] | None = None


class PlannedVectorStore(BaseModel):
    source_id: str
    name: str | None
    metadata: dict[str, str] = Field(default_factory=dict)
    expires_after: dict[str, Any] | None = None
    chunking_strategy: dict[str, Any] | None = None
    file_ids: list[str] = Field(default_factory=list)
    reused_as: str | None = None


class PlannedAssistant(BaseModel):
    """What apply will do for one source assistant."""

    source_id: str
    name: str
    operation: Operation
    destination_id: str | None = None
    # The destination definition apply writes (source ids of files and stores; apply maps
    # them to the destination's).
    spec: dict[str, Any]
    changes: list[FieldChange] = Field(default_factory=list)
    vector_stores: list[PlannedVectorStore] = Field(default_factory=list)
    code_interpreter_files: list[str] = Field(default_factory=list)
    # False when the source already uses all 16 metadata keys: the mapping table alone
    # carries the link to the source.
    tagged: bool = True
    write_requests: int = 0
    problems: list[str] = Field(default_factory=list)


class ClonePlan(BaseModel):
    """A stored plan: apply executes exactly this document."""

    plan_id: str
    source: str
    destination: str
    # Set when the source is an export file (`source` is then `export:<file name>`).
    source_export: ExportRef | None = None
    source_style: str
    destination_style: str
    options: CloneOptions
    assistants: list[PlannedAssistant]
    # Every file of the plan, once, by source id.
    files: dict[str, PlannedFile] = Field(default_factory=dict)
    write_requests: int = 0
    # The destination's request limit (per minute) when known, and the time at it.
    requests_per_minute: float | None = None
    estimated_seconds: float | None = None
    # When the plan was stored (set when it is read back).
    created_at: datetime | None = None

    @field_validator("assistants")
    @classmethod
    def _unique_sources(cls, assistants: list[PlannedAssistant]) -> list[PlannedAssistant]:
        ids = [a.source_id for a in assistants]
        if len(set(ids)) != len(ids):
            raise ValueError("assistants: a source assistant appears twice")
        return assistants


class FileOutcome(BaseModel):
    source_id: str
    destination_id: str | None = None
    filename: str
    bytes: int
    travel: str
    # completed / failed / cancelled in a vector store; `copied` for code-interpreter files.
    status: str = "copied"
    flagged: bool = False


class ValidationCheck(BaseModel):
    field: str
    ok: bool
    expected: Any = None
    found: Any = None


class AssistantCloneResult(BaseModel):
    """What one assistant's apply did; it fills the report's row."""

    plan_id: str
    source_id: str
    name: str
    destination_id: str | None = None
    status: str  # created / updated / unchanged / failed
    operations: dict[str, str] = Field(default_factory=dict)
    files: list[FileOutcome] = Field(default_factory=list)
    vector_stores: dict[str, str] = Field(default_factory=dict)  # source id → destination id
    validation: list[ValidationCheck] = Field(default_factory=list)
    write_requests: int = 0
    error: str | None = None
    retry_recommended: bool = False

    @property
    def valid(self) -> bool:
        return all(check.ok for check in self.validation)


class ClonePlanJob(Job[ClonePlan]):
    """Plan a clone of `source`'s selected assistants into `destination`; store the plan."""

    kind: ClassVar[str] = "clone.plan"
    queue: ClassVar[Queue] = Queue.clone
    timeout_s: ClassVar[int] = 600
    result_model: ClassVar[type[BaseModel]] = ClonePlan

    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)
    # An export file as the source (`--from-file`): its bytes wait in the blob store.
    source_export: ExportRef | None = None
    selection: Selection = Field(default_factory=Selection)
    options: CloneOptions = Field(default_factory=CloneOptions)
    # Makes each request its own job: a plan describes the source as it is now.
    request_id: str = Field(min_length=1)

    @model_validator(mode="after")
    def _two_profiles(self) -> ClonePlanJob:
        if self.source_export is not None and self.source != self.source_export.label:
            raise ValueError(
                f"source: a clone from an export file is named {self.source_export.label!r}"
            )
        if self.source_export is None and self.source.startswith(EXPORT_SOURCE_PREFIX):
            raise ValueError(
                f"source: {self.source!r} names an export file; pass the file with --from-file"
            )
        if self.source.lower() == self.destination.lower():
            raise ValueError(
                f"source and destination are both {self.source!r}: a clone needs two "
                "profiles (--from and --to)"
            )
        return self


class CloneAssistantJob(Job[AssistantCloneResult]):
    """Carry out one assistant of a stored plan."""

    kind: ClassVar[str] = "clone.assistant"
    queue: ClassVar[Queue] = Queue.clone
    timeout_s: ClassVar[int] = 1800
    max_tries: ClassVar[int] = 5
    result_model: ClassVar[type[BaseModel]] = AssistantCloneResult

    plan_id: str
    source_id: str
    # A later apply of the same plan re-runs an assistant that failed under a new number.
    run: int = Field(default=1, ge=1)

    def job_id(self) -> str:
        """`clone.assistant-<plan>-<source assistant>[-r<run>]`."""
        suffix = f"-r{self.run}" if self.run > 1 else ""
        return f"{self.kind}-{self.plan_id}-{self.source_id}{suffix}"
