"""Workers read assistant configs through here: in-process copy, then Redis, then Postgres.

Seed 002's missing piece. Reads are read-through with a TTL at both levels; every registry
write (`store.registry_writes.announce`) publishes the new version, and a listener task in each
worker drops its stale in-process copy the moment the message arrives, so the next job runs
the edited definition without a restart. If the listener loses its connection it clears the
in-process copies when it reconnects, since it may have missed messages meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from store import registry
from store.channel_listener import ChannelListener
from store.registry_writes import CachedConfig, RegistryChange, decode_cached

DEFAULT_TTL_S = 300


class UnknownAssistant(LookupError):
    """No assistant of that name in that profile's registry."""

    def __init__(self, profile: str, name: str) -> None:
        super().__init__(f"no assistant {name!r} in the registry of profile {profile!r}")
        self.profile, self.name = profile, name


@dataclass
class _Local:
    config: CachedConfig
    expires_at: float


class ConfigCache:
    """One per worker process: `await start()` on start-up, `await aclose()` on shutdown."""

    def __init__(
        self, redis: Redis, db: asyncpg.Pool, keys: RedisKeys, *, ttl_s: int = DEFAULT_TTL_S
    ) -> None:
        self._redis, self._db, self._keys, self._ttl_s = redis, db, keys, ttl_s
        self._local: dict[tuple[str, str], _Local] = {}
        # The last version announced per assistant since (re)subscribing.
        self._announced: dict[tuple[str, str], int] = {}
        self._listener = ChannelListener(
            redis,
            keys.registry_channel,
            name="ferry-registry-listener",
            on_message=lambda data: self.drop(RegistryChange.model_validate_json(data)),
            on_subscribed=self._resubscribed,
        )

    async def get(self, profile: str, name: str) -> CachedConfig:
        """The current config of `name` in `profile`; `UnknownAssistant` if there is none."""
        key = (profile, name)
        local = self._local.get(key)
        if local is not None and local.expires_at > time.monotonic():
            return local.config
        raw, required = await self._redis.mget(
            self._keys.assistant_config(profile, name), self._keys.assistant_version(profile, name)
        )
        config = decode_cached(raw, required)
        if config is None or not self._current(key, config):
            entry = await registry.get(self._db, profile, name)
            if entry is None:
                raise UnknownAssistant(profile, name)
            config = CachedConfig.of(entry)
            await self._redis.set(
                self._keys.assistant_config(profile, name),
                config.model_dump_json(),
                ex=self._ttl_s,
            )
        # A change announced while this read was in flight makes what it read stale: serve it
        # to this caller (it was current when read) but do not keep it.
        if self._current(key, config):
            self._local[key] = _Local(config, time.monotonic() + self._ttl_s)
        return config

    def announced_version(self, profile: str, name: str) -> int | None:
        """The last version this worker heard announced for the assistant (None: none yet)."""
        return self._announced.get((profile, name))

    def _current(self, key: tuple[str, str], config: CachedConfig) -> bool:
        announced = self._announced.get(key)
        return announced is None or announced == config.version

    def drop(self, change: RegistryChange) -> None:
        """Note a change: forget the in-process copy it made stale."""
        key = (change.profile, change.name)
        self._announced[key] = change.version
        local = self._local.get(key)
        if local is not None and local.config.version != change.version:
            del self._local[key]

    async def start(self) -> None:
        """Start listening for registry changes; returns once subscribed."""
        await self._listener.start()

    async def aclose(self) -> None:
        """Stop listening (in-process copies are kept until the cache object goes)."""
        await self._listener.aclose()

    async def _resubscribed(self) -> None:
        # Messages sent while unsubscribed are lost: nothing local may be trusted.
        self._local.clear()
        self._announced.clear()


async def start_config_cache(ctx: dict[str, Any], *, ttl_s: int = DEFAULT_TTL_S) -> ConfigCache:
    """arq `on_startup` step (after `ctx["db"]` is open): `ctx["configs"]`, listening."""
    cache = ConfigCache(ctx["redis"], ctx["db"], ctx["keys"], ttl_s=ttl_s)
    await cache.start()
    ctx["configs"] = cache
    return cache


async def stop_config_cache(ctx: dict[str, Any]) -> None:
    """arq `on_shutdown` step."""
    cache: ConfigCache | None = ctx.pop("configs", None)
    if cache is not None:
        await cache.aclose()
