"""Which backend a profile gets: its API style decides."""

from __future__ import annotations

import asyncpg
from openai import AsyncOpenAI
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from worker.backends.assistants_v2 import AssistantsV2Backend
from worker.backends.calls import Caller, direct
from worker.backends.knowledge import Knowledge
from worker.backends.port import AssistantBackend
from worker.backends.responses import ResponsesBackend
from worker.blobs import BlobStore, PostgresBlobStore
from worker.settings import ApiStyle, Profile


def backend_for(
    profile: Profile,
    client: AsyncOpenAI,
    *,
    db: asyncpg.Pool,
    redis: Redis,
    keys: RedisKeys,
    blobs: BlobStore | None = None,
    via: Caller | None = None,
) -> AssistantBackend:
    """The port over `profile`'s assistants: remote v2 objects, or registry definitions.

    Both carry the profile's knowledge (files and vector stores), whose uploads keep their
    bytes in `blobs` (default: Ferry's own database). Every request goes through `via`
    (default: sent once on `client`, as is); jobs pass the OpenAI call layer.
    """
    call = via or direct(client)
    knowledge = Knowledge(profile.name, call, blobs or PostgresBlobStore(db))
    if profile.api_style is ApiStyle.assistants:
        return AssistantsV2Backend(client, knowledge=knowledge, via=call)
    return ResponsesBackend(profile.name, client, db, redis, keys, knowledge=knowledge, via=call)
