"""The producer's side of knowledge from local files: resolve, check, keep the bytes, enqueue.

An apply file may give an assistant `knowledge: {files: [paths or globs], chunking: …}`.
Paths and globs are relative to the apply file's directory. Every file is checked before
anything is written or enqueued (a glob matching nothing, a missing or empty file, one over
the size limit: each named with its fix); then the bytes go into the blob store and one
`knowledge.sync` job per assistant carries only names and hashes (the producer holds no
keys: a worker uploads).
"""

from __future__ import annotations

import asyncio
import glob
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from schemas.assistants import AssistantSpec, SpecError
from schemas.job_events import JobEvent, JobEventType
from schemas.knowledge import (
    MAX_FILE_MB,
    KnowledgeBlock,
    KnowledgeFile,
    KnowledgeSyncJob,
    KnowledgeSyncResult,
    wired,
)
from schemas.results import JobOutcome
from store import blob_rows, knowledge_stores, registry
from store.settings import StoreSettings

if TYPE_CHECKING:
    from producers.client import FerryClient, JobHandle

# The chunk size of a producer's writes to the `postgres:` blob store (the worker's default).
UPLOAD_CHUNK_BYTES = 1024 * 1024
_GLOB_CHARS = frozenset("*?[")


class KnowledgeSettings(StoreSettings):
    """`KNOWLEDGE_MAX_FILE_MB`: the largest local file an apply may name (OpenAI's: 512)."""

    knowledge_max_file_mb: float = Field(MAX_FILE_MB, gt=0, le=MAX_FILE_MB)


@dataclass
class LocalKnowledge:
    """One assistant's `knowledge:` block, where it sits in its file, and its files."""

    assistant: str
    label: str
    block: KnowledgeBlock
    paths: list[Path] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def resolve(items: list[LocalKnowledge], base: Path, max_mb: float) -> None:
    """Fill each block's paths from its paths and globs (files up to `max_mb` MiB each);
    a `SpecError` names every problem."""
    problems: list[tuple[str, str]] = []
    for item in items:
        seen: set[Path] = set()
        for index, pattern in enumerate(item.block.files):
            where = f"{item.label}.knowledge.files[{index}]".lstrip(".")
            for path, problem in _matches(pattern, base, max_mb):
                if problem is not None:
                    problems.append((where, problem))
                elif path not in seen:
                    seen.add(path)
                    item.paths.append(path)
                    item.names.append(_name(path, base))
    if problems:
        raise SpecError(problems)


def _matches(pattern: str, base: Path, max_mb: float) -> list[tuple[Path, str | None]]:
    if _GLOB_CHARS & set(pattern):
        found = sorted(
            Path(p) if Path(p).is_absolute() else base / p
            for p in glob.glob(pattern, root_dir=base, recursive=True)
        )
        files = [p for p in found if p.is_file()]
        if not files:
            return [
                (
                    base,
                    f"{pattern!r} matches no file in {base}: fix the pattern (globs are "
                    "relative to the apply file's directory)",
                )
            ]
        return [(p, _problem(p, max_mb)) for p in files]
    path = Path(pattern) if Path(pattern).is_absolute() else base / pattern
    if not path.exists():
        return [
            (
                path,
                f"no such file {path}: fix the path (paths are relative to the apply file's "
                "directory) or remove it from the list",
            )
        ]
    if not path.is_file():
        return [(path, f"{path} is not a file: name files, or use a glob such as '{pattern}/*'")]
    return [(path, _problem(path, max_mb))]


def _problem(path: Path, max_mb: float) -> str | None:
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty: OpenAI refuses empty files; remove it from the list"
    if size > max_mb * 2**20:
        return (
            f"{path} is {size / 2**20:.1f} MB ({size} bytes), over the limit of {max_mb:g} MB "
            "(KNOWLEDGE_MAX_FILE_MB): split it into smaller files"
        )
    return None


def _name(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.name


async def with_stores(
    client: FerryClient, profile: str, specs: list[AssistantSpec], items: list[LocalKnowledge]
) -> list[AssistantSpec]:
    """The specs, those with knowledge given a file_search tool over their store (if it
    exists yet), so applying an unchanged file changes nothing in the registry."""
    by_name = {item.assistant: item for item in items}
    problems: list[tuple[str, str]] = []
    result = []
    for spec in specs:
        item = by_name.get(spec.name)
        if item is None:
            result.append(spec)
            continue
        entry = await registry.get(client.db, profile, spec.name)
        store = await knowledge_stores.get(client.db, entry.id) if entry else None
        store_id = store.vector_store_id if store else None
        given = spec.tool_resources.file_search if spec.tool_resources else None
        if given is not None and given.vector_store_ids != [store_id]:
            problems.append(
                (
                    f"{item.label}.tool_resources.file_search",
                    "Ferry keeps the vector store of an assistant with `knowledge`: remove "
                    "tool_resources.file_search (or the knowledge block)",
                )
            )
        result.append(wired(spec, store_id))
    if problems:
        raise SpecError(problems)
    return result


async def keep_files(client: FerryClient, item: LocalKnowledge) -> list[KnowledgeFile]:
    """Each file's bytes kept in the blob store (read chunk by chunk); what the job carries."""
    kept = []
    for path, name in zip(item.paths, item.names, strict=True):
        sha256, size = await blob_rows.write_file(client.db, path, UPLOAD_CHUNK_BYTES)
        kept.append(KnowledgeFile(name=name, sha256=sha256, size=size))
    return kept


async def enqueue(
    client: FerryClient, profile: str, item: LocalKnowledge
) -> JobHandle[KnowledgeSyncResult]:
    """Keep the files and enqueue the assistant's `knowledge.sync` (a new job each apply)."""
    entry = await registry.get(client.db, profile, item.assistant)
    if entry is None:
        raise LookupError(f"assistant {item.assistant!r} is not in the registry of {profile!r}")
    job = KnowledgeSyncJob(
        profile=profile,
        assistant=item.assistant,
        assistant_id=entry.id,
        files=await keep_files(client, item),
        chunking=item.block.chunking_body(),
        request_id=uuid.uuid4().hex,
    )
    return await client.enqueue(job)


ProgressSeen = Callable[[str, dict[str, Any]], None]


async def follow(
    client: FerryClient,
    handles: list[JobHandle[KnowledgeSyncResult]],
    seen: ProgressSeen,
    *,
    timeout: float,
    poll_ms: int = 300,
) -> dict[str, JobOutcome]:
    """Pass each job's progress events to `seen(job_id, data)` until every job has ended;
    each job's outcome. `TimeoutError` after `timeout` seconds."""
    cursors = {client.keys.job_events(h.job_id): "0-0" for h in handles}
    job_of = {client.keys.job_events(h.job_id): h.job_id for h in handles}
    outcomes: dict[str, JobOutcome] = {}

    async def read(block: int | None) -> bool:
        replies = await client.redis.xread(cursors, count=100, block=block)
        for stream, entries in replies or []:
            key = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in entries:
                cursors[key] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                event = JobEvent.model_validate_json(fields.get(b"event", fields.get("event")))
                if event.type is JobEventType.progress:
                    seen(job_of[key], event.data)
        return bool(replies)

    async with asyncio.timeout(timeout):
        while len(outcomes) < len(handles):
            await read(poll_ms)
            for handle in handles:
                if handle.job_id not in outcomes:
                    done = await client.finished_outcome(handle.job_id)
                    if done is not None:
                        outcomes[handle.job_id] = done
        while await read(None):
            pass  # the last events, written before the outcomes
    return outcomes
