"""Clone jobs: seed 000's replicator as a plan job, then one apply job per assistant.

`ClonePlanJob` reads the source and the destination and stores a `ClonePlan` in Postgres
under an id; nothing is written remotely. `CloneAssistantJob` carries out one assistant of
a stored plan; its id comes from the plan id and the source assistant, so enqueueing twice
runs once, while a plan made next week gets new ids and runs again.
"""

from __future__ import annotations

import csv
import io
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


class ThreadRow(BaseModel):
    """One line of a `--threads-from` CSV: a user's thread with a source assistant."""

    user_id: str = Field(min_length=1)
    assistant_id: str = Field(min_length=1)
    thread_id: str = Field(min_length=1)
    line: int = Field(ge=1)


class ThreadRowsError(ValueError):
    """A `--threads-from` file with bad rows; every problem names its line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


THREADS_CSV_HEADER = ("user_id", "assistant_id", "thread_id")


def parse_thread_rows(text: str, source: str = "--threads-from") -> list[ThreadRow]:
    """The rows of a `user_id,assistant_id,thread_id` CSV (a header line is optional).

    Every bad line is named (wrong field count, an empty field, an id that is not a v2
    assistant or thread id, a thread listed twice with different owners); nothing is
    returned unless every line is good.
    """
    rows: list[ThreadRow] = []
    problems: list[str] = []
    owners: dict[str, tuple[str, str, int]] = {}
    for line, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [f.strip() for f in fields]
        if not any(cells) or (cells and cells[0].startswith("#")):
            continue
        if line == 1 and tuple(c.lower() for c in cells) == THREADS_CSV_HEADER:
            continue
        if len(cells) != 3:
            problems.append(
                f"line {line}: {len(cells)} field(s), expected 3 (user_id,assistant_id,thread_id)"
            )
            continue
        user_id, assistant_id, thread_id = cells
        if not user_id:
            problems.append(f"line {line}: user_id is empty")
        elif not assistant_id.startswith("asst_"):
            problems.append(
                f"line {line}: assistant_id {assistant_id!r} is not an assistant id (asst_…)"
            )
        elif not thread_id.startswith("thread_"):
            problems.append(f"line {line}: thread_id {thread_id!r} is not a thread id (thread_…)")
        elif (seen := owners.get(thread_id)) is not None:
            if seen[:2] != (user_id, assistant_id):
                problems.append(
                    f"line {line}: thread {thread_id} is already given to user {seen[0]!r} "
                    f"with {seen[1]} on line {seen[2]}"
                )
        else:
            owners[thread_id] = (user_id, assistant_id, line)
            rows.append(
                ThreadRow(
                    user_id=user_id, assistant_id=assistant_id, thread_id=thread_id, line=line
                )
            )
    if problems:
        raise ThreadRowsError(source, problems)
    return rows


class CloneOptions(BaseModel):
    """What a clone carries across, besides the definitions."""

    name_prefix: str = ""
    include_file_search: bool = False
    include_code_interpreter: bool = False
    # old model → new model, for a destination without the source's model.
    model_map: dict[str, str] = Field(default_factory=dict)
    # A directory of original files on the worker's machine (`--originals DIR`).
    originals_dir: str | None = None
    # Chat history (assistants → responses): every user thread of a cloned assistant becomes
    # a conversation. Threads come from Ferry's `user_threads` and from `thread_rows`.
    threads: bool = False
    # The rows of `--threads-from FILE`, read by the producer.
    thread_rows: list[ThreadRow] = Field(default_factory=list)
    threads_from: str | None = None

    @model_validator(mode="after")
    def _rows_mean_threads(self) -> CloneOptions:
        if self.thread_rows and not self.threads:
            self.threads = True
        return self


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
    # The source file's creation time (Unix seconds); None in plans stored before it was kept.
    created_at: int | None = None


class PlannedVectorStore(BaseModel):
    source_id: str
    name: str | None
    metadata: dict[str, str] = Field(default_factory=dict)
    expires_after: dict[str, Any] | None = None
    chunking_strategy: dict[str, Any] | None = None
    file_ids: list[str] = Field(default_factory=list)
    reused_as: str | None = None
    # Each file's attributes in this store, by source file id (a file may sit in several
    # stores, each with its own); None in plans stored before they were kept here.
    file_attributes: dict[str, dict[str, Any] | None] | None = None


class PlannedThread(BaseModel):
    """One user's thread of a source assistant, and how much of it is left to copy."""

    thread_id: str
    user_id: str
    # `user_threads`, or `<file> line N`.
    origin: str
    messages: int = 0
    # What an earlier run copied already (the journal), and the conversation it made.
    copied: int = 0
    conversation_id: str | None = None
    write_requests: int = 0


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
    threads: list[PlannedThread] = Field(default_factory=list)


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
    # What the plan left out on purpose and why (e.g. CSV rows of unselected assistants).
    notes: list[str] = Field(default_factory=list)

    @property
    def thread_count(self) -> int:
        return sum(len(a.threads) for a in self.assistants)

    @property
    def thread_messages(self) -> int:
        return sum(t.messages for a in self.assistants for t in a.threads)

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


class ThreadCopyResult(BaseModel):
    """What one thread's copy did: its conversation and what was carried, dropped, re-mapped."""

    thread_id: str
    user_id: str
    conversation_id: str | None = None
    # copied (this run appended messages) / unchanged (copied before) / failed
    status: str
    messages_copied: int = 0
    annotations_dropped: int = 0
    images_remapped: int = 0
    images_dropped: int = 0
    write_requests: int = 0
    error: str | None = None
    retry_recommended: bool = False
    # Something the report must say (e.g. a create whose answer was lost).
    note: str | None = None


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
    threads: list[ThreadCopyResult] = Field(default_factory=list)

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
