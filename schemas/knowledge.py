"""Knowledge from local files (issue 10 item 11, seed 004's manager): the apply file's
`knowledge:` block, and the `knowledge.sync` job that makes an assistant's vector store hold
exactly those files.

The producer (who holds no keys) resolves paths and globs, keeps each file's bytes in the
blob store and sends only names and hashes; a worker uploads what the profile lacks (one
file per content hash), creates or reuses the assistant's vector store, attaches and
detaches, waits for ingestion and wires the store into the assistant's definition.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError, field_validator

from schemas.assistants import AssistantSpec, SpecError, parse_spec
from schemas.jobs import Job
from schemas.keys import Queue

# OpenAI's limit on one uploaded file; `KNOWLEDGE_MAX_FILE_MB` may lower it.
MAX_FILE_MB = 512
# Chunking limits of `static` strategies (the OpenAPI spec's StaticChunkingStrategy).
MIN_CHUNK_TOKENS, MAX_CHUNK_TOKENS = 100, 4096
# The `metadata` key that tags a knowledge store with its assistant's registry id, so a
# create whose answer was lost is found instead of made twice.
KNOWLEDGE_OF_KEY = "ferry_knowledge_of"


class StaticChunking(BaseModel):
    """Fixed-size chunks: `max_chunk_size_tokens` with `chunk_overlap_tokens` of overlap."""

    model_config = {"extra": "forbid", "frozen": True}

    max_chunk_size_tokens: int = Field(ge=MIN_CHUNK_TOKENS, le=MAX_CHUNK_TOKENS)
    chunk_overlap_tokens: int = Field(ge=0)

    def body(self) -> dict[str, Any]:
        """The `chunking_strategy` OpenAI takes."""
        return {"type": "static", "static": self.model_dump()}


class KnowledgeBlock(BaseModel):
    """`knowledge:` in an apply file: the files (paths or globs) and how to chunk them."""

    model_config = {"extra": "forbid", "frozen": True}

    files: list[str] = Field(min_length=1)
    # `auto` (or absent): the server's default; otherwise static chunks.
    chunking: Literal["auto"] | StaticChunking | None = None

    @field_validator("files")
    @classmethod
    def _no_blank(cls, files: list[str]) -> list[str]:
        for index, item in enumerate(files):
            if not item.strip():
                raise ValueError(f"files[{index}] is empty: give a path or a glob")
        return files

    @field_validator("chunking", mode="before")
    @classmethod
    def _openai_shape(cls, value: Any) -> Any:
        # Accept OpenAI's own shape too: {"type": "static", "static": {...}} or {"type": "auto"}.
        if isinstance(value, dict) and value.get("type") == "auto" and len(value) == 1:
            return "auto"
        if isinstance(value, dict) and value.get("type") == "static":
            return value.get("static")
        return value

    @field_validator("chunking")
    @classmethod
    def _overlap(cls, value: Any) -> Any:
        if isinstance(value, StaticChunking):
            half = value.max_chunk_size_tokens // 2
            if value.chunk_overlap_tokens > half:
                raise ValueError(
                    f"chunk_overlap_tokens {value.chunk_overlap_tokens} is over half of "
                    f"max_chunk_size_tokens ({half}): lower the overlap"
                )
        return value

    def chunking_body(self) -> dict[str, Any] | None:
        """The chunking strategy to attach files with (None: the server's default)."""
        return self.chunking.body() if isinstance(self.chunking, StaticChunking) else None


def parse_knowledge(data: Any, prefix: str) -> KnowledgeBlock:
    """Validate a `knowledge:` block; a `SpecError` names each bad field under `prefix`."""
    try:
        return KnowledgeBlock.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            path = prefix
            for part in item["loc"]:
                if part in ("StaticChunking", "literal['auto']"):
                    continue
                path += f"[{part}]" if isinstance(part, int) else f".{part}"
            message = item["msg"].removeprefix("Value error, ")
            if item["loc"][:1] == ("chunking",) and item["type"] in ("literal_error", "model_type"):
                message = "expected 'auto' or {max_chunk_size_tokens: N, chunk_overlap_tokens: M}"
            if (path, message) not in problems:  # each branch of a union says it once
                problems.append((path, message))
        raise SpecError(problems) from None


def wired(spec: AssistantSpec, store_id: str | None) -> AssistantSpec:
    """`spec` with a file_search tool searching `store_id` (None: no store yet).

    The registry keeps the store in `tool_resources.file_search` (v2's place); Responses'
    file_search tool gets it as `vector_store_ids` from `to_responses_params`.
    """
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    if store_id is not None:
        resources = dict(data.get("tool_resources") or {})
        resources["file_search"] = {"vector_store_ids": [store_id]}
        data["tool_resources"] = resources
    if not any(tool["type"] == "file_search" for tool in data.get("tools", [])):
        data["tools"] = [*data.get("tools", []), {"type": "file_search"}]
    return parse_spec(data)


class KnowledgeFile(BaseModel):
    """One local file, as the job carries it: its name and the hash of its kept bytes."""

    model_config = {"extra": "forbid", "frozen": True}

    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)


class FileSynced(BaseModel):
    """What happened to one file: its id in the profile and its ingestion status."""

    name: str
    sha256: str
    bytes: int
    file_id: str
    uploaded: bool  # False: the profile already had these bytes
    attached: bool  # False: it was already in the store
    status: str  # completed / failed / cancelled
    error: str | None = None


class KnowledgeSyncResult(BaseModel):
    """What one sync did to one assistant's knowledge."""

    profile: str
    assistant: str
    vector_store_id: str
    store_created: bool = False
    files: list[FileSynced] = Field(default_factory=list)
    detached: list[str] = Field(default_factory=list)  # file ids no longer listed
    # The registry version the store was wired into (None: it already was).
    wired_version: int | None = None
    # A v2 profile's remote assistant (the registry's `remote_id`) was pointed at the store.
    remote_wired: bool = False
    write_requests: int = 0

    @property
    def failed(self) -> list[FileSynced]:
        return [f for f in self.files if f.status != "completed"]


class KnowledgeSyncJob(Job[KnowledgeSyncResult]):
    """Make assistant `assistant_id`'s vector store hold exactly `files`, and wire it in."""

    kind: ClassVar[str] = "knowledge.sync"
    queue: ClassVar[Queue] = Queue.clone
    timeout_s: ClassVar[int] = 1800
    max_tries: ClassVar[int] = 5
    result_model: ClassVar[type[BaseModel]] = KnowledgeSyncResult

    profile: str = Field(min_length=1)
    assistant: str = Field(min_length=1)
    assistant_id: UUID
    files: list[KnowledgeFile] = Field(min_length=1)
    chunking: dict[str, Any] | None = None
    # Each apply is its own job: it checks the remote as it is now (and repairs it).
    request_id: str = Field(min_length=1)
