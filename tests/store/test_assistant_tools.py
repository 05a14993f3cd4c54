"""Tool and tool-resource rows: shared by digest, read back in order, dropped once unlinked."""

from __future__ import annotations

import asyncpg

from schemas.assistants import parse_spec
from store import assistant_tools, registry

LOOKUP = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


async def test_tools_are_linked_in_order_shared_by_definition_and_dropped_when_unlinked(
    db: asyncpg.Pool,
) -> None:
    first = (await registry.upsert(db, "p", parse_spec({"name": "a", "model": "m"}))).entry
    second = (await registry.upsert(db, "p", parse_spec({"name": "b", "model": "m"}))).entry
    two = parse_spec({"name": "a", "model": "m", "tools": [{"type": "file_search"}, LOOKUP]})
    async with db.acquire() as conn, conn.transaction():
        await assistant_tools.write_tools(conn, "p", first.id, two, {})
        await assistant_tools.write_tools(conn, "p", second.id, two, {})
        assert await conn.fetchval("SELECT count(*) FROM tools WHERE profile = 'p'") == 2
        tools = await assistant_tools.read_tools(conn, [first.id, second.id])
        assert tools[first.id] == [{"type": "file_search"}, {**LOOKUP}]
        assert tools[second.id] == tools[first.id]
        # b keeps only the function: file_search's row is still a's
        await assistant_tools.write_tools(
            conn, "p", second.id, two.model_copy(update={"tools": two.tools[1:]}), {}
        )
        assert await conn.fetchval("SELECT count(*) FROM tools WHERE profile = 'p'") == 2
        await assistant_tools.write_tools(
            conn, "p", first.id, two.model_copy(update={"tools": []}), {}
        )
        assert await conn.fetch("SELECT kind FROM tools WHERE profile = 'p'") == [("function",)]


async def test_resources_read_back_in_the_order_written(db: asyncpg.Pool) -> None:
    entry = (await registry.upsert(db, "p", parse_spec({"name": "a", "model": "m"}))).entry
    spec = parse_spec(
        {
            "name": "a",
            "model": "m",
            "tools": [{"type": "file_search"}, {"type": "code_interpreter"}],
            "tool_resources": {
                "file_search": {"vector_store_ids": ["vs_2"]},
                "code_interpreter": {"file_ids": ["file-b", "file-a", "file-c"]},
            },
        }
    )
    async with db.acquire() as conn, conn.transaction():
        assert await assistant_tools.read_resources(conn, [entry.id]) == {entry.id: {}}
        await assistant_tools.write_resources(conn, entry.id, spec)
        assert await assistant_tools.read_resources(conn, [entry.id]) == {
            entry.id: {
                "file_search": {"vector_store_ids": ["vs_2"]},
                "code_interpreter": {"file_ids": ["file-b", "file-a", "file-c"]},
            }
        }
