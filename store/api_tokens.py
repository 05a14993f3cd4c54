"""HTTP API bearer tokens: only their SHA-256 is stored; each belongs to one deployment.

A token is 256 random bits, so a plain SHA-256 is enough to make the stored digest useless
to whoever reads the table (no salt or slow hash is needed against brute force of such
a space).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from schemas.keys import RedisKeys

TOKEN_PREFIX = "fry_"
_USE_GRANULARITY = timedelta(minutes=1)


class Scope(StrEnum):
    """What a token may do; every route names the one it needs."""

    read = "read"
    jobs_write = "jobs:write"
    registry_write = "registry:write"


@dataclass(frozen=True)
class ApiToken:
    id: UUID
    deployment: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ApiToken:
        return cls(
            id=row["id"],
            deployment=row["deployment"],
            name=row["name"],
            scopes=frozenset(Scope(s) for s in row["scopes"]),
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )


_COLUMNS = "id, deployment, name, scopes, created_at, last_used_at, revoked_at"


def digest(token: str) -> str:
    """What the table keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create(
    db: asyncpg.Pool, *, deployment: str, name: str, scopes: set[Scope]
) -> tuple[str, ApiToken]:
    """A new token (shown once, never stored) and its row."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await db.fetchrow(
        f"INSERT INTO api_tokens (deployment, name, digest, scopes) VALUES ($1, $2, $3, $4) "
        f"RETURNING {_COLUMNS}",
        deployment,
        name,
        digest(token),
        sorted(scope.value for scope in scopes),
    )
    return token, ApiToken.from_row(row)


async def find(db: asyncpg.Pool, deployment: str, token: str) -> ApiToken | None:
    """The live token of this deployment that `token` is, or None."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM api_tokens "
        "WHERE digest = $1 AND deployment = $2 AND revoked_at IS NULL",
        digest(token),
        deployment,
    )
    if row is None:
        return None
    found = ApiToken.from_row(row)
    # `last_used_at` is coarse (a minute) so that reads do not each cost a write.
    if found.last_used_at is None or datetime.now(UTC) - found.last_used_at > _USE_GRANULARITY:
        await db.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", found.id)
    return found


async def list_tokens(db: asyncpg.Pool, deployment: str) -> list[ApiToken]:
    """Every token of the deployment, revoked ones included, oldest first."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM api_tokens WHERE deployment = $1 ORDER BY created_at",
        deployment,
    )
    return [ApiToken.from_row(row) for row in rows]


async def revoke(db: asyncpg.Pool, redis: Redis, keys: RedisKeys, token_id: UUID) -> bool:
    """Revoke a token at once; False if the deployment has no such live token.

    The deployment's token generation moves on after the row is written and is published,
    so every API process drops the tokens it has cached (a lookup under way when it moves
    caches its answer under the old generation, which no longer counts).
    """
    result = await db.execute(
        "UPDATE api_tokens SET revoked_at = now() "
        "WHERE id = $1 AND deployment = $2 AND revoked_at IS NULL",
        token_id,
        keys.prefix,
    )
    generation = await redis.incr(keys.api_token_generation())
    await redis.publish(keys.api_token_channel, str(generation))
    return result.endswith(" 1")
