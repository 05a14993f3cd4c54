"""Which backend a profile gets: its API style decides."""

from __future__ import annotations

import asyncpg
from openai import AsyncOpenAI
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from worker.backends.assistants_v2 import AssistantsV2Backend
from worker.backends.port import AssistantBackend
from worker.backends.responses import ResponsesBackend
from worker.settings import ApiStyle, Profile


def backend_for(
    profile: Profile, client: AsyncOpenAI, *, db: asyncpg.Pool, redis: Redis, keys: RedisKeys
) -> AssistantBackend:
    """The port over `profile`'s assistants: remote v2 objects, or registry definitions."""
    if profile.api_style is ApiStyle.assistants:
        return AssistantsV2Backend(client)
    return ResponsesBackend(profile.name, client, db, redis, keys)
