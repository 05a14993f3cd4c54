"""Flow queries: the head of each flow, its immutable versions, and its movable labels.

`append_version` is the one write path for prompt text: it checks the head the caller read
(optimistic concurrency: `StaleFlow` names the current version), adds the version and moves
the head in one transaction. Versions are never updated (a trigger refuses it); publishing and
rolling back move a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from schemas.flows import BlockSpan, mapping_json, mapping_of
from store.registry import Database, connection


class FlowError(LookupError):
    """No such flow, assistant or version; the message says which and what to do."""


class StaleFlow(Exception):
    """The flow moved on since the caller read it: `current` is its version now."""

    def __init__(self, expected: int | None, current: int) -> None:
        super().__init__(f"the flow is at version {current}, not {expected}")
        self.expected, self.current = expected, current


@dataclass(frozen=True)
class Flow:
    """A flow's head: the newest version's text and mapping."""

    id: UUID
    assistant_id: UUID
    profile: str
    assistant: str
    globals: str
    canonical: str
    mapping: list[BlockSpan]
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class Version:
    """One immutable version of a flow."""

    flow_id: UUID
    version: int
    globals: str
    canonical: str
    mapping: list[BlockSpan]
    base_version: int | None
    patch: dict[str, Any]
    changes: list[tuple[int, int, int]]
    requested_by: str
    job_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class VersionSummary:
    """A line of a flow's history."""

    version: int
    base_version: int | None
    kind: str
    requested_by: str
    created_at: datetime
    canonical_chars: int
    blocks: int
    labels: list[str]


_FLOW = """
    SELECT f.id, f.assistant_id, a.profile, a.name, f.globals, f.prompt_master_canonical,
           f.block_mapping, f.version, f.updated_at
    FROM flows f JOIN assistants a ON a.id = f.assistant_id
"""
_VERSION = """
    SELECT flow_id, version, globals, prompt_master_canonical, block_mapping, base_version,
           patch, changes, requested_by, job_id, created_at
    FROM prompt_versions
"""


async def get(db: Database, profile: str, assistant: str) -> Flow | None:
    """The flow of `assistant` in `profile`, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"{_FLOW} WHERE a.profile = $1 AND a.name = $2", profile, assistant
        )
        return _flow(row) if row else None


async def require(db: Database, profile: str, assistant: str) -> Flow:
    """The flow, or `FlowError` saying how to make one."""
    flow = await get(db, profile, assistant)
    if flow is None:
        raise FlowError(
            f"assistant {assistant!r} of profile {profile!r} has no flow: "
            "import its prompt first (ferry flow import)"
        )
    return flow


async def version(db: Database, flow_id: UUID, number: int) -> Version | None:
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"{_VERSION} WHERE flow_id = $1 AND version = $2", flow_id, number
        )
        return _version(row) if row else None


async def require_version(db: Database, flow: Flow, number: int) -> Version:
    """Version `number` of `flow`, or `FlowError` naming the versions there are."""
    found = await version(db, flow.id, number)
    if found is None:
        raise FlowError(
            f"{flow.assistant!r} has no version {number}: its versions are 1-{flow.version}"
        )
    return found


async def version_by_job(db: Database, job_id: str) -> Version | None:
    """The version a job made, if it made one (a retried job finds its own work)."""
    async with connection(db) as conn:
        row = await conn.fetchrow(f"{_VERSION} WHERE job_id = $1", job_id)
        return _version(row) if row else None


async def changes_after(
    db: Database, flow_id: UUID, base: int
) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """Each version after `base`, oldest first, with its changes."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT version, changes FROM prompt_versions WHERE flow_id = $1 AND version > $2 "
            "ORDER BY version",
            flow_id,
            base,
        )
        return [(r["version"], [tuple(c) for c in r["changes"]]) for r in rows]


async def history(db: Database, flow_id: UUID) -> list[VersionSummary]:
    """Every version, newest first, with the labels pointing at it."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            """
            SELECT v.version, v.base_version, v.patch->>'kind' AS kind, v.requested_by,
                   v.created_at, length(v.prompt_master_canonical) AS chars,
                   jsonb_array_length(v.block_mapping) AS blocks,
                   coalesce(array_agg(l.label ORDER BY l.label)
                            FILTER (WHERE l.label IS NOT NULL), '{}') AS labels
            FROM prompt_versions v
            LEFT JOIN flow_labels l ON l.flow_id = v.flow_id AND l.version = v.version
            WHERE v.flow_id = $1
            GROUP BY v.flow_id, v.version ORDER BY v.version DESC
            """,
            flow_id,
        )
        return [
            VersionSummary(
                r["version"],
                r["base_version"],
                r["kind"],
                r["requested_by"],
                r["created_at"],
                r["chars"],
                r["blocks"],
                list(r["labels"]),
            )
            for r in rows
        ]


async def labels(db: Database, flow_id: UUID) -> dict[str, int]:
    """Each label of the flow and the version it points at."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT label, version FROM flow_labels WHERE flow_id = $1 ORDER BY label", flow_id
        )
        return {r["label"]: r["version"] for r in rows}


async def move_label(
    db: Database, flow_id: UUID, label: str, number: int, moved_by: str
) -> int | None:
    """Point `label` at version `number`; returns the version it pointed at before (None: new)."""
    async with connection(db) as conn, conn.transaction():
        previous = await conn.fetchval(
            "SELECT version FROM flow_labels WHERE flow_id = $1 AND label = $2 FOR UPDATE",
            flow_id,
            label,
        )
        await conn.execute(
            """
            INSERT INTO flow_labels (flow_id, label, version, moved_by) VALUES ($1, $2, $3, $4)
            ON CONFLICT (flow_id, label) DO UPDATE
            SET version = EXCLUDED.version, moved_by = EXCLUDED.moved_by, moved_at = now()
            """,
            flow_id,
            label,
            number,
            moved_by,
        )
        return previous


async def append_version(
    db: Database,
    *,
    profile: str,
    assistant: str,
    expected: int | None,
    globals_text: str,
    canonical: str,
    mapping: list[BlockSpan],
    patch: dict[str, Any],
    changes: list[tuple[int, int, int]],
    requested_by: str,
    job_id: str | None = None,
) -> int:
    """Make the flow's next version (its first when `expected` is None); returns its number.

    Raises `StaleFlow` when the head is not `expected`, `FlowError` for an unknown assistant.
    """
    mapping_data = mapping_json(mapping)
    async with connection(db) as conn, conn.transaction():
        assistant_id = await conn.fetchval(
            "SELECT id FROM assistants WHERE profile = $1 AND name = $2", profile, assistant
        )
        if assistant_id is None:
            raise FlowError(
                f"no assistant {assistant!r} in profile {profile!r}: "
                "a flow belongs to a registry assistant (ferry assistants apply)"
            )
        head = await conn.fetchrow(
            "SELECT id, version FROM flows WHERE assistant_id = $1 FOR UPDATE", assistant_id
        )
        if head is None and expected is None:
            flow_id = await conn.fetchval(
                """
                INSERT INTO flows (assistant_id, globals, prompt_master_canonical, block_mapping,
                                   version)
                VALUES ($1, $2, $3, $4, 1)
                ON CONFLICT (assistant_id) DO NOTHING RETURNING id
                """,
                assistant_id,
                globals_text,
                canonical,
                mapping_data,
            )
            if flow_id is None:  # a concurrent first import won
                current = await conn.fetchval(
                    "SELECT version FROM flows WHERE assistant_id = $1", assistant_id
                )
                raise StaleFlow(expected, current)
            number = 1
        elif head is None:
            raise FlowError(
                f"assistant {assistant!r} of profile {profile!r} has no flow, "
                f"so it has no version {expected}"
            )
        elif head["version"] != expected:
            raise StaleFlow(expected, head["version"])
        else:
            flow_id, number = head["id"], head["version"] + 1
            await conn.execute(
                """
                UPDATE flows SET globals = $2, prompt_master_canonical = $3, block_mapping = $4,
                    version = $5, updated_at = now()
                WHERE id = $1
                """,
                flow_id,
                globals_text,
                canonical,
                mapping_data,
                number,
            )
        await conn.execute(
            """
            INSERT INTO prompt_versions (flow_id, version, globals, prompt_master_canonical,
                block_mapping, base_version, patch, changes, requested_by, job_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            flow_id,
            number,
            globals_text,
            canonical,
            mapping_data,
            expected,
            patch,
            [list(c) for c in changes],
            requested_by,
            job_id,
        )
        return number


async def restore(db: Database, flow: Flow, number: int, requested_by: str) -> int:
    """A new version whose text and mapping are version `number`'s (history is kept)."""
    old = await require_version(db, flow, number)
    return await append_version(
        db,
        profile=flow.profile,
        assistant=flow.assistant,
        expected=flow.version,
        globals_text=old.globals,
        canonical=old.canonical,
        mapping=old.mapping,
        patch={"kind": "restore", "restored": number},
        changes=[(0, len(flow.canonical), len(old.canonical))],
        requested_by=requested_by,
    )


def _flow(row: asyncpg.Record) -> Flow:
    return Flow(
        id=row["id"],
        assistant_id=row["assistant_id"],
        profile=row["profile"],
        assistant=row["name"],
        globals=row["globals"],
        canonical=row["prompt_master_canonical"],
        mapping=mapping_of(row["block_mapping"]),
        version=row["version"],
        updated_at=row["updated_at"],
    )


def _version(row: asyncpg.Record) -> Version:
    return Version(
        flow_id=row["flow_id"],
        version=row["version"],
        globals=row["globals"],
        canonical=row["prompt_master_canonical"],
        mapping=mapping_of(row["block_mapping"]),
        base_version=row["base_version"],
        patch=row["patch"],
        changes=[tuple(c) for c in row["changes"]],
        requested_by=row["requested_by"],
        job_id=row["job_id"],
        created_at=row["created_at"],
    )
