"""Creates started and not yet recorded (migration 0013): what a killed attempt may have left.

A job marks the create of an object before it sends it and clears the mark once the new id
is recorded in the mapping tables. A mark found still there means an earlier attempt (this
job's or another's) may have made the object and died before recording it.
"""

from __future__ import annotations

from datetime import datetime

from store.registry import Database, connection


async def begin(db: Database, kind: str, destination: str, source_id: str) -> datetime | None:
    """Mark a create as started; the start of an earlier mark still there, else None.

    An earlier mark is kept as it is, so the window it opens covers every attempt since.
    """
    async with connection(db) as conn:
        inserted = await conn.fetchval(
            "INSERT INTO create_intents (kind, destination, source_id) VALUES ($1, $2, $3) "
            "ON CONFLICT (kind, destination, source_id) DO NOTHING RETURNING started_at",
            kind,
            destination,
            source_id,
        )
        if inserted is not None:
            return None
        return await conn.fetchval(
            "SELECT started_at FROM create_intents "
            "WHERE kind = $1 AND destination = $2 AND source_id = $3",
            kind,
            destination,
            source_id,
        )


async def finish(db: Database, kind: str, destination: str, source_id: str) -> None:
    """Clear the mark: the object's id is recorded."""
    async with connection(db) as conn:
        await conn.execute(
            "DELETE FROM create_intents WHERE kind = $1 AND destination = $2 AND source_id = $3",
            kind,
            destination,
            source_id,
        )


async def pending(db: Database, destination: str) -> list[tuple[str, str, datetime]]:
    """Every mark still there for `destination`: (kind, source id, started at)."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT kind, source_id, started_at FROM create_intents WHERE destination = $1 "
            "ORDER BY started_at, kind, source_id",
            destination,
        )
    return [(r["kind"], r["source_id"], r["started_at"]) for r in rows]
