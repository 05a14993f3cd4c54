"""Registry queries: assistants by (profile, name), versioned, with their history.

`upsert` is the one write path for definitions: it compares the stored spec with the new one,
writes only when something changed, and then bumps `version` (which the config cache
compares). `delete` is a hard delete: the export is the backup, and a deleted name can be
created again. An assistant another one calls as a sub-assistant cannot be deleted.
Tool and tool-resource rows live in `store.assistant_tools`, user threads in
`store.user_threads`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from schemas.assistant_changes import FieldChange, spec_changes
from schemas.assistants import AssistantSpec, SpecError, parse_spec
from store import assistant_tools

Database = asyncpg.Pool | asyncpg.Connection


class RegistryError(ValueError):
    """A registry write was refused; nothing was changed."""


class StaleVersion(RegistryError):
    """The writer expected another version (an HTTP `If-Match` that lost a race)."""

    def __init__(self, name: str, expected: int, current: int | None) -> None:
        super().__init__(f"{name!r} is at version {current}, not {expected}: read it again")
        self.current = current


@dataclass(frozen=True)
class RegistryEntry:
    """A stored assistant: its spec plus what the registry keeps about it."""

    id: UUID
    profile: str
    spec: AssistantSpec
    version: int
    remote_id: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class WriteResult:
    """What `upsert` did: the entry as stored now and the changes (empty: nothing written)."""

    entry: RegistryEntry
    created: bool
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@asynccontextmanager
async def connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection from a pool, or the connection given (so calls compose in a transaction)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


_ASSISTANT_COLUMNS = (
    "id, profile, name, description, model, instructions, temperature, top_p, response_format, "
    "metadata, remote_id, version, is_active, created_at, updated_at"
)


async def get(db: Database, profile: str, name: str) -> RegistryEntry | None:
    """The assistant called `name` in `profile`, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_ASSISTANT_COLUMNS} FROM assistants WHERE profile = $1 AND name = $2",
            profile,
            name,
        )
        return (await _entries(conn, [row]))[0] if row else None


async def get_by_id(db: Database, assistant_id: UUID) -> RegistryEntry | None:
    """The assistant with registry id `assistant_id`, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_ASSISTANT_COLUMNS} FROM assistants WHERE id = $1", assistant_id
        )
        return (await _entries(conn, [row]))[0] if row else None


async def list_entries(db: Database, profile: str | None = None) -> list[RegistryEntry]:
    """Every assistant (of one profile, or of all), ordered by profile and name."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_ASSISTANT_COLUMNS} FROM assistants "
            "WHERE $1::text IS NULL OR profile = $1 ORDER BY profile, name",
            profile,
        )
        return await _entries(conn, rows)


async def find_by_metadata(db: Database, profile: str, key: str, value: str) -> list[RegistryEntry]:
    """Assistants of `profile` whose metadata has `key` = `value` (e.g. `cloned_from`)."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_ASSISTANT_COLUMNS} FROM assistants "
            "WHERE profile = $1 AND metadata @> $2::jsonb ORDER BY name",
            profile,
            {key: value},
        )
        return await _entries(conn, rows)


async def version(db: Database, profile: str, name: str) -> int | None:
    """The stored version of an assistant (None: no such assistant)."""
    async with connection(db) as conn:
        return await conn.fetchval(
            "SELECT version FROM assistants WHERE profile = $1 AND name = $2", profile, name
        )


async def upsert(
    db: Database,
    profile: str,
    spec: AssistantSpec,
    *,
    create_only: bool = False,
    expected_version: int | None = None,
) -> WriteResult:
    """Create or update `spec.name` in `profile` to equal `spec`; idempotent.

    With `create_only` an existing name is refused (`SpecError` on `name`), in the same
    transaction as the insert: of two concurrent creates, exactly one succeeds. With
    `expected_version` the assistant must exist at that version (`StaleVersion`).
    """
    async with connection(db) as conn, conn.transaction():
        await _serialise_writes(conn, profile)
        current = await _locked(conn, profile, spec.name)
        if create_only and current is not None:
            raise SpecError(
                [("name", f"profile {profile!r} already has an assistant {spec.name!r}")]
            )
        if expected_version is not None and (
            current is None or current.version != expected_version
        ):
            raise StaleVersion(spec.name, expected_version, current.version if current else None)
        created = False
        if current is None:
            # Two first applies may race: the loser finds the winner's row and updates it.
            assistant_id = await conn.fetchval(
                "INSERT INTO assistants (profile, name, model) VALUES ($1, $2, $3) "
                "ON CONFLICT (profile, name) DO NOTHING RETURNING id",
                profile,
                spec.name,
                spec.model,
            )
            created = assistant_id is not None
            if not created:
                if create_only:
                    raise SpecError(
                        [("name", f"profile {profile!r} already has an assistant {spec.name!r}")]
                    )
                current = await _locked(conn, profile, spec.name)
        changes = spec_changes(current.spec if current else None, spec)
        if current is not None and not changes:
            return WriteResult(current, created=False)
        if current is not None:
            assistant_id = current.id
        sub_ids = await assistant_tools.sub_assistant_ids(conn, profile, spec)
        await conn.execute(
            """
            UPDATE assistants SET description = $2, model = $3, instructions = $4,
                temperature = $5, top_p = $6, response_format = $7, metadata = $8,
                version = CASE WHEN $9 THEN 1 ELSE version + 1 END, updated_at = now()
            WHERE id = $1
            """,
            assistant_id,
            spec.description,
            spec.model,
            spec.instructions,
            spec.temperature,
            spec.top_p,
            _format_json(spec.response_format),
            spec.metadata,
            created,
        )
        await assistant_tools.write_tools(conn, profile, assistant_id, spec, sub_ids)
        await assistant_tools.write_resources(conn, assistant_id, spec)
        entry = await get_by_id(conn, assistant_id)
        assert entry is not None
        await _record_history(conn, entry, changes)
        return WriteResult(entry, created=created, changes=changes)


async def set_remote_id(db: Database, profile: str, name: str, remote_id: str | None) -> int:
    """Record the remote v2 object of an assistant; returns the new version."""
    async with connection(db) as conn:
        new_version = await conn.fetchval(
            "UPDATE assistants SET remote_id = $3, version = version + 1, updated_at = now() "
            "WHERE profile = $1 AND name = $2 AND remote_id IS DISTINCT FROM $3 "
            "RETURNING version",
            profile,
            name,
            remote_id,
        )
        if new_version is None:
            current = await version(conn, profile, name)
            if current is None:
                raise RegistryError(f"no assistant {name!r} in profile {profile!r}")
            return current
        return new_version


async def rename(db: Database, profile: str, name: str, new_name: str) -> int:
    """Give an assistant a new name in its profile; returns the new version."""
    async with connection(db) as conn:
        try:
            new_version = await conn.fetchval(
                "UPDATE assistants SET name = $3, version = version + 1, updated_at = now() "
                "WHERE profile = $1 AND name = $2 RETURNING version",
                profile,
                name,
                new_name,
            )
        except asyncpg.UniqueViolationError:
            raise SpecError(
                [("name", f"profile {profile!r} already has an assistant {new_name!r}")]
            ) from None
        if new_version is None:
            raise RegistryError(f"no assistant {name!r} in profile {profile!r}")
        return new_version


async def delete(db: Database, profile: str, name: str) -> int | None:
    """Delete an assistant, its links and resources, archiving its users' threads; returns the
    deleted version (None: there was none). Refused while another assistant calls it as a tool."""
    async with connection(db) as conn, conn.transaction():
        await _serialise_writes(conn, profile)
        entry = await _locked(conn, profile, name)
        if entry is None:
            return None
        callers = await conn.fetch(
            """
            SELECT DISTINCT a.name FROM tools t
            JOIN assistant_tools l ON l.tool_id = t.id
            JOIN assistants a ON a.id = l.assistant_id
            WHERE t.sub_assistant_id = $1 AND a.id <> $1 ORDER BY a.name
            """,
            entry.id,
        )
        if callers:
            names = ", ".join(row["name"] for row in callers)
            raise RegistryError(f"{name!r} is a sub-assistant of {names}: change those first")
        # Its users' threads are archived, not wiped: the ids stay for audit.
        await conn.execute(
            "UPDATE user_threads SET archived_at = now(), archive_reason = 'assistant deleted', "
            "assistant_name = $2 WHERE assistant_id = $1 AND archived_at IS NULL",
            entry.id,
            entry.name,
        )
        await conn.execute("DELETE FROM assistant_tools WHERE assistant_id = $1", entry.id)
        await assistant_tools.drop_unlinked_tools(conn, profile)
        await conn.execute("DELETE FROM assistants WHERE id = $1", entry.id)
        return entry.version


@dataclass(frozen=True)
class HistoryEntry:
    """One version of an assistant as written, and what changed from the one before."""

    version: int
    spec: AssistantSpec
    changes: list[FieldChange]
    written_at: datetime


async def history(db: Database, assistant_id: UUID, limit: int = 50) -> list[HistoryEntry]:
    """The assistant's versions, newest first (those written since history was kept)."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT version, spec, changes, written_at FROM assistant_history "
            "WHERE assistant_id = $1 ORDER BY version DESC LIMIT $2",
            assistant_id,
            limit,
        )
    return [
        HistoryEntry(
            version=row["version"],
            spec=parse_spec(row["spec"]),
            changes=[FieldChange(**change) for change in row["changes"]],
            written_at=row["written_at"],
        )
        for row in rows
    ]


# --- internals ---


async def _record_history(
    conn: asyncpg.Connection, entry: RegistryEntry, changes: list[FieldChange]
) -> None:
    await conn.execute(
        "INSERT INTO assistant_history (assistant_id, version, spec, changes) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        entry.id,
        entry.version,
        entry.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        [dataclasses.asdict(change) for change in changes],
    )


async def _serialise_writes(conn: asyncpg.Connection, profile: str) -> None:
    """One tool-changing write per profile at a time.

    Tool rows are shared between assistants and dropped once unlinked: without this lock a
    write could drop a row another write is linking, and fail on the foreign key.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('ferry.registry'), hashtext($1))", profile
    )


async def _locked(conn: asyncpg.Connection, profile: str, name: str) -> RegistryEntry | None:
    row = await conn.fetchrow(
        f"SELECT {_ASSISTANT_COLUMNS} FROM assistants WHERE profile = $1 AND name = $2 FOR UPDATE",
        profile,
        name,
    )
    return (await _entries(conn, [row]))[0] if row else None


def _format_json(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return value.model_dump(mode="json", by_alias=True, exclude_none=True)


async def _entries(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[RegistryEntry]:
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    tools = await assistant_tools.read_tools(conn, ids)
    resources = await assistant_tools.read_resources(conn, ids)
    entries = []
    for row in rows:
        data = {
            "name": row["name"],
            "model": row["model"],
            "description": row["description"],
            "instructions": row["instructions"],
            "temperature": row["temperature"],
            "top_p": row["top_p"],
            "tools": tools[row["id"]],
            "tool_resources": resources[row["id"]] or None,
            "metadata": row["metadata"],
        }
        if row["response_format"] is not None:
            data["response_format"] = row["response_format"]
        entries.append(
            RegistryEntry(
                id=row["id"],
                profile=row["profile"],
                spec=parse_spec(data),
                version=row["version"],
                remote_id=row["remote_id"],
                is_active=row["is_active"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
            )
        )
    return entries
