"""The config cache's shared protocol: what a cached entry holds, and how a write announces itself.

Producers (the CLI) and workers both write the registry, and every write must reach every
worker's cache at once, so the write side lives here, importable by both:

- `ferry:registry:config:<profile>:<name>` holds a `CachedConfig` (JSON) with a TTL;
- `ferry:registry:version:<profile>:<name>` holds the version a cached entry must carry to
  be served (`0` once deleted), so an entry filled from a read that lost a race with a write
  is refused instead of living out its TTL;
- each write publishes `{"profile", "name", "version"}` on `ferry:registry:changed`, and every
  worker drops its in-process copy on receipt.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel
from redis.asyncio import Redis

from schemas.assistants import AssistantSpec, SpecError
from schemas.keys import RedisKeys
from store import registry
from store.registry import RegistryEntry

DELETED_VERSION = 0
# A deletion's tombstone outlives any cached copy it must refuse (cache TTLs are minutes).
TOMBSTONE_TTL_S = 86_400


class CachedConfig(BaseModel):
    """What a worker needs of an assistant to run it, as cached."""

    id: UUID
    profile: str
    version: int
    remote_id: str | None
    spec: AssistantSpec

    @classmethod
    def of(cls, entry: RegistryEntry) -> CachedConfig:
        """The cacheable part of a registry entry."""
        return cls(
            id=entry.id,
            profile=entry.profile,
            version=entry.version,
            remote_id=entry.remote_id,
            spec=entry.spec,
        )


class RegistryChange(BaseModel):
    """One registry write, as published on the channel."""

    profile: str
    name: str
    version: int

    @property
    def deleted(self) -> bool:
        return self.version == DELETED_VERSION


async def announce(redis: Redis, keys: RedisKeys, profile: str, name: str, version: int) -> None:
    """After a committed write: record the current version, drop the cached entry, publish."""
    change = RegistryChange(profile=profile, name=name, version=version)
    expiry: dict[str, Any] = {"ex": TOMBSTONE_TTL_S} if change.deleted else {}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.assistant_version(profile, name), str(version), **expiry)
        pipe.delete(keys.assistant_config(profile, name))
        pipe.publish(keys.registry_channel, change.model_dump_json())
        await pipe.execute()


def decode_cached(
    raw: bytes | str | None, required_version: bytes | str | None
) -> CachedConfig | None:
    """A cached entry if it may be served: present and carrying the announced version."""
    if raw is None:
        return None
    try:
        config = CachedConfig.model_validate(json.loads(raw))
    except ValueError:
        return None  # written by another release of Ferry: read through instead
    if required_version is not None and int(required_version) != config.version:
        return None
    return config


# --- the write paths: a registry write, then its announcement ---
# A process that dies between the commit and the announcement leaves caches stale for at most
# their TTL; the next write of that assistant announces again.


async def write(
    db: registry.Database, redis: Redis, keys: RedisKeys, profile: str, spec: AssistantSpec
) -> registry.WriteResult:
    """`registry.upsert`, announced when it changed anything."""
    result = await registry.upsert(db, profile, spec)
    if result.changed:
        await announce(redis, keys, profile, spec.name, result.entry.version)
    return result


async def create(
    db: registry.Database, redis: Redis, keys: RedisKeys, profile: str, spec: AssistantSpec
) -> registry.WriteResult:
    """Insert-only, in one transaction: a taken name is refused (`SpecError` on `name`)."""
    result = await registry.upsert(db, profile, spec, create_only=True)
    await announce(redis, keys, profile, spec.name, result.entry.version)
    return result


async def update(
    db: asyncpg.Pool,
    redis: Redis,
    keys: RedisKeys,
    profile: str,
    current_name: str,
    spec: AssistantSpec,
) -> registry.WriteResult:
    """Rename (when `spec.name` differs) and write, in one transaction; then announce both."""
    async with db.acquire() as conn, conn.transaction():
        if current_name != spec.name:
            await registry.rename(conn, profile, current_name, spec.name)
        result = await registry.upsert(conn, profile, spec)
    if current_name != spec.name:
        await announce(redis, keys, profile, current_name, DELETED_VERSION)
    if result.changed or current_name != spec.name:
        await announce(redis, keys, profile, spec.name, result.entry.version)
    return result


async def write_many(
    db: asyncpg.Pool,
    redis: Redis,
    keys: RedisKeys,
    profile: str,
    specs: list[AssistantSpec],
    *,
    labels: list[str] | None = None,
    dry_run: bool = False,
) -> list[registry.WriteResult]:
    """Upsert every spec in one transaction (all or nothing), then announce the changed ones.

    Specs are written callees first, so a file may define an assistant and the assistants
    that call it as a sub-assistant in any order. Results come back in the given order.
    `labels` prefix the field paths of a refusal (where each spec sits in its file). With
    `dry_run` every check runs and the results say what would change, but the transaction
    is rolled back.
    """
    label = dict(zip((s.name for s in specs), labels or [""] * len(specs), strict=True))
    order = _callees_first(specs, label)
    results: dict[str, registry.WriteResult] = {}
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            for spec in order:
                try:
                    results[spec.name] = await registry.upsert(conn, profile, spec)
                except SpecError as error:
                    where = label[spec.name]
                    raise SpecError(
                        [(f"{where}.{p}" if where else p, m) for p, m in error.problems]
                    ) from None
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
            return [results[spec.name] for spec in specs]
        await transaction.commit()
    for spec in order:
        if results[spec.name].changed:
            await announce(redis, keys, profile, spec.name, results[spec.name].entry.version)
    return [results[spec.name] for spec in specs]


def _callees_first(specs: list[AssistantSpec], label: dict[str, str]) -> list[AssistantSpec]:
    by_name = {spec.name: spec for spec in specs}
    done: dict[str, AssistantSpec] = {}
    visiting: set[str] = set()

    def visit(spec: AssistantSpec) -> None:
        if spec.name in done:
            return
        if spec.name in visiting:
            where = f"{label[spec.name]}.tools" if label[spec.name] else "tools"
            raise SpecError([(where, f"{spec.name!r} is part of a cycle of sub-assistant calls")])
        visiting.add(spec.name)
        for callee in spec.sub_assistant_names():
            if callee in by_name and callee != spec.name:
                visit(by_name[callee])
        visiting.discard(spec.name)
        done[spec.name] = spec

    for spec in specs:
        visit(spec)
    return list(done.values())


async def delete(
    db: registry.Database, redis: Redis, keys: RedisKeys, profile: str, name: str
) -> bool:
    """`registry.delete`, announced; False when there was no such assistant."""
    deleted = await registry.delete(db, profile, name)
    if deleted is None:
        return False
    await announce(redis, keys, profile, name, DELETED_VERSION)
    return True


async def set_remote_id(
    db: registry.Database, redis: Redis, keys: RedisKeys, profile: str, name: str, remote_id: str
) -> int:
    """`registry.set_remote_id`, announced (workers read the remote id from the cache)."""
    new_version = await registry.set_remote_id(db, profile, name, remote_id)
    await announce(redis, keys, profile, name, new_version)
    return new_version
