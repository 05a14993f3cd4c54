"""Registry export files, and the raw Assistants-API dumps that `import` also reads.

A snapshot is versioned JSON: `{"format": "ferry.assistants", "version": 1, "profile": ...,
"exported_at": ..., "assistants": [spec, ...]}`. Exporting, importing and exporting again
gives the same `assistants`. A raw dump (a JSON list of v2 assistant objects, or a list
endpoint's `{"data": [...]}`) is how teams whose assistants now live only in a pre-shutdown
dump bring them into the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from schemas.assistants import AssistantSpec, SpecError, parse_spec

SNAPSHOT_FORMAT = "ferry.assistants"
SNAPSHOT_VERSION = 1


class RegistrySnapshot(BaseModel):
    """One profile's assistants as exported by `ferry assistants export`."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["ferry.assistants"] = SNAPSHOT_FORMAT
    version: Literal[1] = SNAPSHOT_VERSION
    profile: str
    exported_at: datetime
    assistants: list[AssistantSpec]

    @classmethod
    def of(cls, profile: str, specs: list[AssistantSpec]) -> RegistrySnapshot:
        """A snapshot taken now, assistants in name order (so exports diff cleanly)."""
        return cls(
            profile=profile,
            exported_at=datetime.now(UTC),
            assistants=sorted(specs, key=lambda spec: spec.name),
        )

    def to_json(self) -> str:
        """The file's text; unset (None) fields are left out, as the spec defaults them."""
        return self.model_dump_json(indent=2, by_alias=True, exclude_none=True) + "\n"


@dataclass
class ImportBatch:
    """Specs read from an import file, with where they came from."""

    kind: Literal["snapshot", "assistants_api_dump"]
    profile: str | None
    specs: list[AssistantSpec]
    # For a raw dump, the dead API's `asst_…` id of each spec (same order).
    source_ids: list[str | None] = field(default_factory=list)
    # Where each spec sits in the file (`assistants[3]`), for error paths.
    labels: list[str] = field(default_factory=list)


def read_import(data: Any) -> ImportBatch:
    """Parse an import file's JSON; a `SpecError` names every bad field of every entry."""
    if isinstance(data, dict) and data.get("format") == SNAPSHOT_FORMAT:
        return _read_snapshot(data)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        entries, prefix = data["data"], "data"
    elif isinstance(data, list):
        entries, prefix = data, ""
    else:
        raise SpecError(
            [
                (
                    "file",
                    f"expected a {SNAPSHOT_FORMAT!r} snapshot, a JSON list of assistant objects "
                    "or a list response ({'data': [...]})",
                )
            ]
        )
    specs: list[AssistantSpec] = []
    source_ids: list[str | None] = []
    indexes: list[int] = []
    problems: list[tuple[str, str]] = []
    for index, entry in enumerate(entries):
        where = f"{prefix}[{index}]"
        if not isinstance(entry, dict) or entry.get("object", "assistant") != "assistant":
            problems.append((where, "not an assistant object"))
            continue
        if not entry.get("name"):
            problems.append((f"{where}.name", "the registry needs a name for every assistant"))
            continue
        try:
            specs.append(AssistantSpec.from_v2(entry))
            source_ids.append(entry.get("id"))
            indexes.append(index)
        except SpecError as error:
            problems.extend((f"{where}.{path}", message) for path, message in error.problems)
    problems.extend(_duplicate_names(specs, prefix, indexes))
    if problems:
        raise SpecError(problems)
    labels = [f"{prefix}[{i}]" for i in indexes]
    return ImportBatch("assistants_api_dump", None, specs, source_ids, labels)


def _read_snapshot(data: dict[str, Any]) -> ImportBatch:
    if data.get("version") != SNAPSHOT_VERSION:
        raise SpecError(
            [("version", f"snapshot version {data.get('version')!r}; this Ferry reads version 1")]
        )
    problems: list[tuple[str, str]] = []
    if not isinstance(data.get("profile"), str):
        problems.append(("profile", "expected the profile name the snapshot was taken from"))
    entries = data.get("assistants")
    if not isinstance(entries, list):
        raise SpecError([*problems, ("assistants", "expected a list of assistant specs")])
    specs: list[AssistantSpec] = []
    indexes: list[int] = []
    for index, entry in enumerate(entries):
        try:
            specs.append(parse_spec(entry, prefix=f"assistants[{index}]"))
            indexes.append(index)
        except SpecError as error:
            problems.extend(error.problems)
    problems.extend(_duplicate_names(specs, "assistants", indexes))
    if problems:
        raise SpecError(problems)
    labels = [f"assistants[{i}]" for i in indexes]
    return ImportBatch("snapshot", data["profile"], specs, [None] * len(specs), labels)


def _duplicate_names(
    specs: list[AssistantSpec], prefix: str, indexes: list[int]
) -> list[tuple[str, str]]:
    seen: set[str] = set()
    problems = []
    for index, spec in zip(indexes, specs, strict=True):
        if spec.name in seen:
            problems.append((f"{prefix}[{index}].name", f"{spec.name!r} appears twice"))
        seen.add(spec.name)
    return problems
