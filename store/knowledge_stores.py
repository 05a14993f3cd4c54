"""Knowledge from local files: each assistant's vector store (migration 0010).

The per-profile hash → file-id map lives in `clone_files` (`store.clone_state`): a local
file is recorded there as source `local:<sha256>` with travel `local`, so a file the clone
already copied with the same bytes is reused too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from store.registry import Database, connection

LOCAL_SOURCE_PREFIX = "local:"


def local_source_id(sha256: str) -> str:
    """The `clone_files` source id of a local file's bytes."""
    return f"{LOCAL_SOURCE_PREFIX}{sha256}"


@dataclass(frozen=True)
class KnowledgeStore:
    """An assistant's vector store and the chunking its files were attached with."""

    assistant_id: UUID
    profile: str
    vector_store_id: str
    chunking: dict[str, Any] | None


async def get(db: Database, assistant_id: UUID) -> KnowledgeStore | None:
    """The assistant's knowledge store, or None."""
    async with connection(db) as conn:
        row = await conn.fetchrow(
            "SELECT assistant_id, profile, vector_store_id, chunking FROM knowledge_stores "
            "WHERE assistant_id = $1",
            assistant_id,
        )
    if row is None:
        return None
    chunking = json.loads(row["chunking"]) if row["chunking"] is not None else None
    return KnowledgeStore(row["assistant_id"], row["profile"], row["vector_store_id"], chunking)


async def record(
    db: Database,
    assistant_id: UUID,
    profile: str,
    vector_store_id: str,
    chunking: dict[str, Any] | None,
) -> None:
    """The assistant's store (right after it exists) or its chunking (after re-attaching)."""
    async with connection(db) as conn:
        await conn.execute(
            """
            INSERT INTO knowledge_stores (assistant_id, profile, vector_store_id, chunking)
            VALUES ($1, $2, $3, $4::jsonb)
            ON CONFLICT (assistant_id) DO UPDATE
            SET profile = EXCLUDED.profile, vector_store_id = EXCLUDED.vector_store_id,
                chunking = EXCLUDED.chunking, updated_at = now()
            """,
            assistant_id,
            profile,
            vector_store_id,
            json.dumps(chunking) if chunking is not None else None,
        )


async def forget(db: Database, assistant_id: UUID) -> None:
    """Drop a store found gone remotely; the next sync makes a new one."""
    async with connection(db) as conn:
        await conn.execute("DELETE FROM knowledge_stores WHERE assistant_id = $1", assistant_id)
