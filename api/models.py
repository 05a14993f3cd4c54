"""The API's own request and response bodies (the registry's specs come from `schemas/`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, RootModel

from schemas.assistant_parts import ResponseFormat, Tool, ToolResources
from schemas.assistants import AssistantSpec
from schemas.results import JobOutcome, JobStatus
from store.ledger import LedgerJob
from store.registry import HistoryEntry, RegistryEntry, WriteResult
from store.tool_library import LibraryTool

# Specs and tools as the registry, the CLI and the export show them: unset (None) fields
# left out.
_PLAIN = PlainSerializer(
    lambda value: value.model_dump(mode="json", by_alias=True, exclude_none=True),
    return_type=dict[str, Any],
    when_used="json",
)
Spec = Annotated[AssistantSpec, _PLAIN]
ToolDefinition = Annotated[Tool, _PLAIN]


class Change(BaseModel):
    field: str
    before: Any = None
    after: Any = None


class Assistant(BaseModel):
    """A registry assistant: its spec and what the registry keeps about it."""

    id: UUID
    profile: str
    name: str
    version: int
    remote_id: str | None
    created_at: datetime
    updated_at: datetime
    spec: Spec

    @classmethod
    def of(cls, entry: RegistryEntry) -> Assistant:
        return cls(
            id=entry.id,
            profile=entry.profile,
            name=entry.name,
            version=entry.version,
            remote_id=entry.remote_id,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            spec=entry.spec,
        )


class AssistantList(BaseModel):
    data: list[Assistant]


class AssistantWrite(BaseModel):
    """What a write did: the assistant as stored now and each field it changed."""

    assistant: Assistant
    created: bool
    changes: list[Change]

    @classmethod
    def of(cls, result: WriteResult) -> AssistantWrite:
        return cls(
            assistant=Assistant.of(result.entry),
            created=result.created,
            changes=[Change(**vars(change)) for change in result.changes],
        )


class AssistantPatch(BaseModel):
    """The fields to change; those left out keep their value (`null` unsets one)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    description: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_resources: ToolResources | None = None
    metadata: dict[str, str] | None = None


class Version(BaseModel):
    version: int
    written_at: datetime
    changes: list[Change]
    spec: Spec

    @classmethod
    def of(cls, entry: HistoryEntry) -> Version:
        return cls(
            version=entry.version,
            written_at=entry.written_at,
            changes=[Change(**vars(change)) for change in entry.changes],
            spec=entry.spec,
        )


class History(BaseModel):
    data: list[Version]


class ImportBody(RootModel[dict[str, Any] | list[dict[str, Any]]]):
    """A `ferry.assistants` snapshot, or a raw Assistants-API dump (a list, or `{"data": …}`)."""


class ImportResult(BaseModel):
    profile: str
    imported: int
    changed: int
    results: list[AssistantWrite]


class LibraryToolOut(BaseModel):
    """A library tool and the assistants that link it."""

    id: UUID
    profile: str
    name: str
    version: int
    definition: ToolDefinition
    assistants: list[UUID]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tool: LibraryTool) -> LibraryToolOut:
        return cls(
            id=tool.id,
            profile=tool.profile,
            name=tool.name,
            version=tool.version,
            definition=tool.definition,  # type: ignore[arg-type]
            assistants=list(tool.linked),
            created_at=tool.created_at,
            updated_at=tool.updated_at,
        )


class LibraryToolList(BaseModel):
    data: list[LibraryToolOut]


class AssistantTool(BaseModel):
    """One tool of an assistant, and the library tool it came from (if any)."""

    definition: ToolDefinition
    library_tool_id: UUID | None = None


class AssistantToolList(BaseModel):
    data: list[AssistantTool]


class JobRequest(BaseModel):
    """`POST /jobs/{kind}`: the kind's payload (and, optionally, the schema version spoken)."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any]
    schema_version: int | None = Field(default=None, description="default: the server's")


class JobView(BaseModel):
    """A job as the ledger has it; `outcome` once it finished."""

    id: str
    kind: str
    queue: str
    status: JobStatus
    attempts: int
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    outcome: JobOutcome | None

    @classmethod
    def of(cls, row: LedgerJob) -> JobView:
        return cls(
            id=row.id,
            kind=row.kind,
            queue=row.queue,
            status=row.status,
            attempts=row.attempts,
            payload=row.payload.get("payload", row.payload),
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            outcome=row.outcome(),
        )


class JobList(BaseModel):
    data: list[JobView]
