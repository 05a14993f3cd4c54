"""An export file as a clone's source: Ferry's own snapshot or a raw Assistants-API dump.

The file is read with the same parser as `ferry assistants import` (`read_import`); this
module adds what a clone needs on top: a stable source id per assistant (the dump's `asst_…`
id; a snapshot has none, so its names stand in) and a reference to the file's bytes, which
the producer keeps in Ferry's blob store so the job itself stays small.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from schemas.assistants import AssistantSpec, SpecError
from schemas.registry_snapshot import ImportBatch, read_import

# An export is kept whole in the blob store before the plan job reads it.
MAX_EXPORT_BYTES = 64 * 1024 * 1024
# `clone_plans.source` of a clone from an export: `export:<file name>`.
EXPORT_SOURCE_PREFIX = "export:"


class ExportRef(BaseModel):
    """Where a clone's export file is: its bytes in the blob store, by hash."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0)
    format: Literal["snapshot", "assistants_api_dump"]
    # The profile a Ferry snapshot was taken from (None for a raw dump).
    profile: str | None = None

    @property
    def label(self) -> str:
        """The clone's source name: `export:<file name>` (the mapping tables key on it)."""
        return EXPORT_SOURCE_PREFIX + self.filename


@dataclass(frozen=True)
class ExportedAssistant:
    """One assistant of an export and the id a clone knows it by."""

    source_id: str
    spec: AssistantSpec


@dataclass(frozen=True)
class ParsedExport:
    batch: ImportBatch
    assistants: list[ExportedAssistant]


def parse_export(data: bytes) -> ParsedExport:
    """Parse an export's bytes; a `SpecError` names every bad field and the fix."""
    if len(data) > MAX_EXPORT_BYTES:
        raise SpecError(
            [
                (
                    "file",
                    f"{len(data) / 2**20:.1f} MiB is over the limit of "
                    f"{MAX_EXPORT_BYTES / 2**20:.0f} MiB: split the export into several files",
                )
            ]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError([("file", f"not UTF-8 text ({error}); export it again as JSON")]) from None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(
            [
                (
                    "file",
                    f"not JSON: {error.msg} at line {error.lineno}, column {error.colno}; "
                    "use `ferry assistants export` or a saved `GET /v1/assistants` answer",
                )
            ]
        ) from None
    batch = read_import(loaded)
    if not batch.specs:
        where = "assistants" if batch.kind == "snapshot" else (batch.labels or ["data"])[0]
        raise SpecError([(where, "the export holds no assistants: nothing to clone")])
    assistants: list[ExportedAssistant] = []
    seen: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for spec, source_id, label in zip(batch.specs, batch.source_ids, batch.labels, strict=True):
        if source_id is not None and not isinstance(source_id, str):
            problems.append((f"{label}.id", "expected the assistant's id as a string (asst_…)"))
            continue
        # A snapshot has no ids: the name (unique in it) is the source id.
        key = source_id or spec.name
        if key in seen:
            problems.append(
                (f"{label}.id", f"{key!r} appears twice (also at {seen[key]}): keep one")
            )
            continue
        seen[key] = label
        assistants.append(ExportedAssistant(key, spec))
    if problems:
        raise SpecError(problems)
    return ParsedExport(batch, assistants)


def export_ref(data: bytes, filename: str) -> ExportRef:
    """The reference a plan job carries for these bytes (parsed first: `SpecError`)."""
    parsed = parse_export(data)
    return ExportRef(
        sha256=hashlib.sha256(data).hexdigest(),
        filename=filename,
        size=len(data),
        format=parsed.batch.kind,
        profile=parsed.batch.profile,
    )
