"""What changes, field by field, when one AssistantSpec replaces another (`apply` prints it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.assistants import AssistantSpec

_SCALARS = ("model", "description", "instructions", "temperature", "top_p")


@dataclass(frozen=True)
class FieldChange:
    """One field's value before and after (None: absent)."""

    field: str
    before: Any
    after: Any


def _plain(value: Any) -> Any:
    return (
        value.model_dump(mode="json", by_alias=True, exclude_none=True)
        if hasattr(value, "model_dump")
        else value
    )


def spec_changes(old: AssistantSpec | None, new: AssistantSpec) -> list[FieldChange]:
    """Every difference from `old` to `new`; with no `old`, every field `new` sets."""
    base = old or AssistantSpec.model_construct(
        **dict.fromkeys(_SCALARS),
        name=new.name,
        response_format=None,
        tools=[],
        tool_resources=None,
        metadata={},
    )
    changes: list[FieldChange] = []
    if old is None:
        changes.append(FieldChange("name", None, new.name))
    for field in _SCALARS:
        before, after = getattr(base, field), getattr(new, field)
        if before != after:
            changes.append(FieldChange(field, None if old is None else before, after))
    if base.response_format != new.response_format:
        changes.append(
            FieldChange(
                "response_format", _plain(base.response_format), _plain(new.response_format)
            )
        )
    changes.extend(_tool_changes(base, new))
    before_res, after_res = _plain(base.tool_resources) or {}, _plain(new.tool_resources) or {}
    for section in sorted(set(before_res) | set(after_res)):
        if before_res.get(section) != after_res.get(section):
            changes.append(
                FieldChange(
                    f"tool_resources.{section}", before_res.get(section), after_res.get(section)
                )
            )
    for key in sorted(set(base.metadata) | set(new.metadata)):
        if base.metadata.get(key) != new.metadata.get(key):
            changes.append(
                FieldChange(f"metadata.{key}", base.metadata.get(key), new.metadata.get(key))
            )
    return changes


def _tool_changes(old: AssistantSpec, new: AssistantSpec) -> list[FieldChange]:
    before = {tool.name: _plain(tool) for tool in old.tools}
    after = {tool.name: _plain(tool) for tool in new.tools}
    changes: list[FieldChange] = []
    for name in [*before, *(n for n in after if n not in before)]:
        was, now = before.get(name), after.get(name)
        if was is None or now is None or was.get("type") != now.get("type"):
            if was != now:
                changes.append(FieldChange(f"tools[{name}]", was, now))
            continue
        for key in sorted(set(was) | set(now)):
            if was.get(key) != now.get(key):
                changes.append(FieldChange(f"tools[{name}].{key}", was.get(key), now.get(key)))
    common_before = [n for n in before if n in after]
    common_after = [n for n in after if n in before]
    if common_before != common_after:
        changes.append(FieldChange("tools (order)", common_before, common_after))
    return changes
