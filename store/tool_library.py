"""The tool library (seed 002's standalone tools): definitions kept once, linked into assistants.

A library tool's definition is copied into each assistant that links it (the assistant's
spec stays the one thing workers read); the links say which assistants to rewrite when the
library tool changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from store.registry import Database, connection


@dataclass(frozen=True)
class LibraryTool:
    id: UUID
    profile: str
    name: str
    definition: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    linked: tuple[UUID, ...]  # the assistants that link it


class ToolNameTaken(ValueError):
    """The profile's library already has a tool of that name."""


_SELECT = """
    SELECT t.id, t.profile, t.name, t.definition, t.version, t.created_at, t.updated_at,
           coalesce(array_agg(l.assistant_id ORDER BY l.linked_at)
                    FILTER (WHERE l.assistant_id IS NOT NULL), '{}') AS linked
    FROM tool_library t LEFT JOIN tool_library_links l ON l.tool_id = t.id
"""


def _tool(row: asyncpg.Record) -> LibraryTool:
    return LibraryTool(**{**dict(row), "linked": tuple(row["linked"])})


async def get(db: Database, tool_id: UUID) -> LibraryTool | None:
    async with connection(db) as conn:
        row = await conn.fetchrow(f"{_SELECT} WHERE t.id = $1 GROUP BY t.id", tool_id)
        return _tool(row) if row else None


async def list_tools(db: Database, profile: str | None = None) -> list[LibraryTool]:
    """Library tools (of one profile, or all), by profile and name."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"{_SELECT} WHERE $1::text IS NULL OR t.profile = $1 "
            "GROUP BY t.id ORDER BY t.profile, t.name",
            profile,
        )
        return [_tool(row) for row in rows]


async def linked_to(db: Database, assistant_id: UUID) -> list[LibraryTool]:
    """The library tools an assistant links."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"{_SELECT} WHERE t.id IN (SELECT tool_id FROM tool_library_links "
            "WHERE assistant_id = $1) GROUP BY t.id ORDER BY t.name",
            assistant_id,
        )
        return [_tool(row) for row in rows]


async def create(db: Database, profile: str, name: str, definition: dict[str, Any]) -> LibraryTool:
    async with connection(db) as conn:
        try:
            tool_id = await conn.fetchval(
                "INSERT INTO tool_library (profile, name, definition) VALUES ($1, $2, $3) "
                "RETURNING id",
                profile,
                name,
                definition,
            )
        except asyncpg.UniqueViolationError:
            raise ToolNameTaken(
                f"profile {profile!r} already has a library tool {name!r}"
            ) from None
        found = await get(conn, tool_id)
        assert found is not None
        return found


async def replace(
    db: Database, tool_id: UUID, name: str, definition: dict[str, Any]
) -> LibraryTool | None:
    """Give a library tool a new definition (and version); None if it is gone."""
    async with connection(db) as conn:
        try:
            updated = await conn.fetchval(
                "UPDATE tool_library SET name = $2, definition = $3, version = version + 1, "
                "updated_at = now() WHERE id = $1 RETURNING id",
                tool_id,
                name,
                definition,
            )
        except asyncpg.UniqueViolationError:
            raise ToolNameTaken(f"the library already has a tool {name!r}") from None
        return await get(conn, tool_id) if updated else None


async def delete(db: Database, tool_id: UUID) -> bool:
    """Delete an unlinked library tool (links must be removed first)."""
    async with connection(db) as conn:
        result = await conn.execute("DELETE FROM tool_library WHERE id = $1", tool_id)
        return result.endswith(" 1")


async def link(db: Database, tool_id: UUID, assistant_id: UUID) -> None:
    async with connection(db) as conn:
        await conn.execute(
            "INSERT INTO tool_library_links (tool_id, assistant_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            tool_id,
            assistant_id,
        )


async def unlink(db: Database, tool_id: UUID, assistant_id: UUID) -> bool:
    async with connection(db) as conn:
        result = await conn.execute(
            "DELETE FROM tool_library_links WHERE tool_id = $1 AND assistant_id = $2",
            tool_id,
            assistant_id,
        )
        return result.endswith(" 1")
