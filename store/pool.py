"""The asyncpg pool: one per process, JSONB decoded to Python, an optional schema for isolation."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without a reset query (asyncpg still rolls back a transaction left open)."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


# Serialises schema creation: `CREATE SCHEMA IF NOT EXISTS` run by two sessions at once makes
# one of them fail with a unique violation on pg_namespace.
_SCHEMA_LOCK_ID = 0x4645_5253  # "FERS"


async def ensure_schema(dsn: str, schema: str) -> None:
    """Create `schema` if it is missing; safe when many processes start together."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _SCHEMA_LOCK_ID, schema
            )
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    finally:
        await conn.close()


async def create_pool(
    dsn: str,
    *,
    schema: str | None = None,
    create_schema: bool = False,
    min_size: int = 1,
    max_size: int = 10,
    relaxed_commit: bool = False,
    keep_session: bool = False,
) -> asyncpg.Pool:
    """Open a pool on `dsn`; with `schema`, every connection's search_path is that schema.

    The schema is how tests (and side-by-side deployments) get a ledger of their own;
    `create_schema` makes it first if it is missing (what migrating callers ask for).
    With `relaxed_commit`, a commit returns before its WAL record reaches the disk: a
    Postgres crash may lose the last fraction of a second of such writes, never corrupt
    them; only for writes something else can rebuild (the worker's ledger updates).
    With `keep_session`, a connection goes back to the pool without asyncpg's reset query
    (a round trip per release): only for pools whose queries leave no session state behind
    (no LISTEN, no session advisory locks, no SET outside a transaction), as the ledger's.
    """
    if schema is not None and create_schema:
        await ensure_schema(dsn, schema)
    server_settings: dict[str, Any] = {"application_name": "ferry"}
    if schema is not None:
        # Quoted as it was created: `MySchema` unquoted would name `myschema`.
        server_settings["search_path"] = quote_ident(schema)
    if relaxed_commit:
        server_settings["synchronous_commit"] = "off"
    return await asyncpg.create_pool(
        dsn,
        reset=_keep_session if keep_session else None,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=server_settings,
    )
