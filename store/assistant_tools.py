"""An assistant's tool and tool-resource rows: written from its spec, read back into one.

Tool rows are shared within a profile (keyed by a digest of the definition) and linked to
assistants in order; a row no assistant links any more is dropped. The caller holds the
registry's per-profile write lock (`store.registry`) around every write here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

import asyncpg

from schemas.assistant_parts import SubAssistantTool
from schemas.assistants import AssistantSpec, SpecError


async def sub_assistant_ids(
    conn: asyncpg.Connection, profile: str, spec: AssistantSpec
) -> dict[str, UUID]:
    """The ids of the assistants `spec` calls as sub-assistants; `SpecError` for a missing one."""
    wanted = spec.sub_assistant_names()
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT name, id FROM assistants WHERE profile = $1 AND name = ANY($2::text[])",
        profile,
        wanted,
    )
    found = {row["name"]: row["id"] for row in rows}
    missing = [
        (f"tools[{i}].assistant", f"no assistant {tool.assistant!r} in profile {profile!r}")
        for i, tool in enumerate(spec.tools)
        if isinstance(tool, SubAssistantTool) and tool.assistant not in found
    ]
    if missing:
        raise SpecError(missing)
    return found


def _tool_row(tool: Any, sub_ids: dict[str, UUID]) -> dict[str, Any]:
    plain = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    kind = plain.pop("type")
    sub_id = sub_ids[plain.pop("assistant")] if kind == "sub_assistant" else None
    name = plain.pop("name", kind)
    row = {
        "kind": kind,
        "name": name,
        "description": plain.pop("description", None),
        "parameters": plain.pop("parameters", None),
        "strict": plain.pop("strict", None),
        "options": plain or None,  # what is left: file_search's overrides
        "sub_assistant_id": sub_id,
    }
    identity = {**row, "sub_assistant_id": str(sub_id) if sub_id else None}
    row["digest"] = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return row


async def write_tools(
    conn: asyncpg.Connection,
    profile: str,
    assistant_id: UUID,
    spec: AssistantSpec,
    sub_ids: dict[str, UUID],
) -> None:
    """Link `spec`'s tools to the assistant in order, sharing equal tool rows in a profile."""
    await conn.execute("DELETE FROM assistant_tools WHERE assistant_id = $1", assistant_id)
    for position, tool in enumerate(spec.tools):
        row = _tool_row(tool, sub_ids)
        tool_id = await conn.fetchval(
            """
            INSERT INTO tools (profile, kind, name, description, parameters, strict, options,
                               sub_assistant_id, digest)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (profile, digest) DO UPDATE SET digest = EXCLUDED.digest
            RETURNING id
            """,
            profile,
            row["kind"],
            row["name"],
            row["description"],
            row["parameters"],
            row["strict"],
            row["options"],
            row["sub_assistant_id"],
            row["digest"],
        )
        await conn.execute(
            "INSERT INTO assistant_tools (assistant_id, tool_id, position) VALUES ($1, $2, $3)",
            assistant_id,
            tool_id,
            position,
        )
    await drop_unlinked_tools(conn, profile)


async def drop_unlinked_tools(conn: asyncpg.Connection, profile: str) -> None:
    """Delete the profile's tool rows no assistant links any more."""
    await conn.execute(
        "DELETE FROM tools t WHERE profile = $1 "
        "AND NOT EXISTS (SELECT 1 FROM assistant_tools l WHERE l.tool_id = t.id)",
        profile,
    )


async def write_resources(
    conn: asyncpg.Connection, assistant_id: UUID, spec: AssistantSpec
) -> None:
    """Replace the assistant's vector store and code-interpreter file ids with `spec`'s."""
    await conn.execute("DELETE FROM assistant_tool_resources WHERE assistant_id = $1", assistant_id)
    resources = spec.tool_resources
    rows: list[tuple[UUID, str, str, int]] = []
    if resources and resources.file_search:
        ids = resources.file_search.vector_store_ids
        rows += [(assistant_id, "file_search", rid, i) for i, rid in enumerate(ids)]
    if resources and resources.code_interpreter:
        ids = resources.code_interpreter.file_ids
        rows += [(assistant_id, "code_interpreter", rid, i) for i, rid in enumerate(ids)]
    if rows:
        await conn.executemany(
            "INSERT INTO assistant_tool_resources (assistant_id, kind, resource_id, position) "
            "VALUES ($1, $2, $3, $4)",
            rows,
        )


async def read_tools(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    """Each assistant's tools in order, as spec dicts (a sub-assistant by its name)."""
    tools: dict[UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    for t in await conn.fetch(
        """
        SELECT l.assistant_id, t.kind, t.name, t.description, t.parameters, t.strict,
               t.options, s.name AS sub_assistant
        FROM assistant_tools l JOIN tools t ON t.id = l.tool_id
        LEFT JOIN assistants s ON s.id = t.sub_assistant_id
        WHERE l.assistant_id = ANY($1::uuid[]) ORDER BY l.assistant_id, l.position
        """,
        ids,
    ):
        tool: dict[str, Any] = {"type": t["kind"], **(t["options"] or {})}
        if t["kind"] in ("function", "sub_assistant"):
            tool["name"] = t["name"]
        for key in ("description", "parameters", "strict"):
            if t[key] is not None:
                tool[key] = t[key]
        if t["sub_assistant"] is not None:
            tool["assistant"] = t["sub_assistant"]
        tools[t["assistant_id"]].append(tool)
    return tools


async def read_resources(
    conn: asyncpg.Connection, ids: list[UUID]
) -> dict[UUID, dict[str, dict[str, list[str]]]]:
    """Each assistant's `tool_resources` as a spec dict (empty when it has none)."""
    resources: dict[UUID, dict[str, dict[str, list[str]]]] = {i: {} for i in ids}
    for r in await conn.fetch(
        "SELECT assistant_id, kind, resource_id FROM assistant_tool_resources "
        "WHERE assistant_id = ANY($1::uuid[]) ORDER BY assistant_id, kind, position",
        ids,
    ):
        key = "vector_store_ids" if r["kind"] == "file_search" else "file_ids"
        resources[r["assistant_id"]].setdefault(r["kind"], {key: []})[key].append(r["resource_id"])
    return resources
