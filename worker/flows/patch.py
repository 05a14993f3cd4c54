"""Exact patches: replace text inside block spans, move the spans after, touch nothing else.

Pure functions over (canonical, mapping): no re-parse. All edits are located first and
checked together, so either every edit applies or none does. A change is recorded as
`(start, end, new_length)` in the coordinates of the text it was applied to, which is what
the rebase check of a later, stale patch compares against.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.flows import BlockSpan, Edit

Change = tuple[int, int, int]  # start, end (in the old text), length of the replacement


class EditError(ValueError):
    """An edit cannot apply; `index` is its position in the request, `field` what to fix."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"edits[{index}].{field}: {message}")
        self.index, self.field = index, field


@dataclass
class PatchOutcome:
    """A patched prompt and everything that changed with it."""

    canonical: str
    mapping: list[BlockSpan]
    changes: list[Change]
    changed_blocks: list[str] = field(default_factory=list)
    deleted_blocks: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Located:
    start: int
    end: int
    new_text: str
    index: int
    block: int  # position of its block in the mapping


def apply_exact(
    canonical: str, mapping: Sequence[BlockSpan], edits: Sequence[Edit]
) -> PatchOutcome:
    """Apply every edit inside its block's span, or raise `EditError` and change nothing."""
    positions = {span.block_id: i for i, span in enumerate(mapping)}
    located = []
    for index, edit in enumerate(edits):
        block = positions.get(edit.block_id)
        if block is None:
            raise EditError(index, "block_id", unknown_block(edit.block_id, mapping))
        start = locate_edit(canonical, mapping, block, edit, index)
        located.append(_Located(start, start + len(edit.old_text), edit.new_text, index, block))
    located.sort(key=lambda e: e.start)
    for before, after in itertools.pairwise(located):
        if after.start < before.end:
            first, second = sorted((before.index, after.index))
            raise EditError(
                second,
                "old_text",
                f"overlaps edit {first} (both change offsets {after.start}-{before.end}): "
                "merge them into one edit",
            )
    return _rewrite(canonical, mapping, located)


def locate_edit(
    canonical: str, mapping: Sequence[BlockSpan], block: int, edit: Edit, index: int
) -> int:
    """Where `edit.old_text` starts inside block `block`'s span, or an `EditError` saying why."""
    span = mapping[block]
    old = edit.old_text
    starts = []
    at = canonical.find(old, span.prompt_start, span.prompt_end)
    while at >= 0:
        starts.append(at)
        at = canonical.find(old, at + 1, span.prompt_end)
    if not starts:
        elsewhere = canonical.find(old)
        if elsewhere >= 0:
            owner = next(
                (s.block_id for s in mapping if s.prompt_start <= elsewhere < s.prompt_end), None
            )
            where = f"in {owner}" if owner else "outside every block"
            raise EditError(
                index,
                "old_text",
                f"not found in {span.block_id} (offsets {span.prompt_start}-{span.prompt_end}); "
                f"it occurs at offset {elsewhere}, {where}: patch the block that holds it",
            )
        raise EditError(
            index,
            "old_text",
            f"not found in {span.block_id}, which reads "
            f"{_excerpt(canonical[span.prompt_start : span.prompt_end])!r}",
        )
    if edit.occurrence is not None:
        if edit.occurrence > len(starts):
            raise EditError(
                index,
                "occurrence",
                f"{span.block_id} holds old_text {len(starts)} time(s), not {edit.occurrence}",
            )
        return starts[edit.occurrence - 1]
    if len(starts) > 1:
        raise EditError(
            index,
            "old_text",
            f"occurs {len(starts)} times in {span.block_id} (offsets "
            f"{', '.join(map(str, starts))}): add surrounding text to make it unique, or set "
            f"occurrence (1-{len(starts)})",
        )
    return starts[0]


def _rewrite(canonical: str, mapping: Sequence[BlockSpan], located: list[_Located]) -> PatchOutcome:
    pieces, cursor = [], 0
    inside: dict[int, tuple[int, int]] = {}  # block -> (length delta, line delta) of its edits
    for edit in located:
        pieces += [canonical[cursor : edit.start], edit.new_text]
        cursor = edit.end
        old = canonical[edit.start : edit.end]
        delta, lines = inside.get(edit.block, (0, 0))
        inside[edit.block] = (
            delta + len(edit.new_text) - len(old),
            lines + edit.new_text.count("\n") - old.count("\n"),
        )
    pieces.append(canonical[cursor:])
    new_mapping: list[BlockSpan] = []
    changed, deleted = [], []
    shift, line_shift, cursor = 0, 0, 0
    for position in sorted(inside):
        new_mapping += _shifted(mapping[cursor:position], shift, line_shift)
        span = mapping[position]
        delta, lines = inside[position]
        start, end = span.prompt_start + shift, span.prompt_end + shift + delta
        if end > start:
            changed.append(span.block_id)
            new_mapping.append(
                BlockSpan(
                    span.block_id,
                    span.type,
                    start,
                    end,
                    span.line_number + line_shift,
                    span.tool_name,
                )
            )
        else:
            deleted.append(span.block_id)
        shift, line_shift, cursor = shift + delta, line_shift + lines, position + 1
    new_mapping += _shifted(mapping[cursor:], shift, line_shift)
    changes = [(e.start, e.end, len(e.new_text)) for e in located]
    return PatchOutcome("".join(pieces), new_mapping, changes, changed, deleted)


def _shifted(spans: Sequence[BlockSpan], shift: int, lines: int) -> list[BlockSpan]:
    """`spans` moved by `shift` characters and `lines` lines (the same objects if neither)."""
    if not shift and not lines:
        return list(spans)
    return [
        BlockSpan(
            s.block_id,
            s.type,
            s.prompt_start + shift,
            s.prompt_end + shift,
            s.line_number + lines,
            s.tool_name,
        )
        for s in spans
    ]


def unknown_block(block_id: str, mapping: Sequence[BlockSpan]) -> str:
    """The message for a block id the mapping does not hold."""
    if not mapping:
        return f"unknown block {block_id!r}: the flow has no blocks"
    return (
        f"unknown block {block_id!r}: the flow's blocks are {mapping[0].block_id} … "
        f"{mapping[-1].block_id} ({len(mapping)} in all; `ferry flow show` lists them)"
    )


def _excerpt(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def conflicting_version(
    spans: Sequence[BlockSpan], newer: Sequence[tuple[int, Sequence[Change]]]
) -> int | None:
    """The first newer version whose changes touch one of `spans` (base-version offsets).

    `newer` lists each version after the base with its changes, oldest first. A span that no
    change touches is carried forward through each version's shifts; None means the patch
    can be rebased onto the newest version.
    """
    ranges = [(s.prompt_start, s.prompt_end) for s in spans]
    for version, changes in newer:
        moved = []
        for start, end in ranges:
            shift = 0
            for c_start, c_end, length in changes:
                if (c_start < end and start < c_end) or (
                    c_start == c_end and start <= c_start <= end
                ):
                    return version
                if c_end <= start:
                    shift += length - (c_end - c_start)
            moved.append((start + shift, end + shift))
        ranges = moved
    return None
