"""Fixtures shared by every test package: the sandbox over loopback, Postgres, Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import asyncpg
import pytest
import structlog
from arq.connections import ArqRedis, RedisSettings
from arq.connections import create_pool as create_redis_pool
from openai import AsyncOpenAI

from producers.client import FerryClient
from producers.settings import ClientSettings
from sandbox.server import ThreadedSandbox
from sandbox.state import Project, SandboxState
from store.migrate import migrate
from store.pool import create_pool
from worker.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def plain_tracebacks() -> None:
    """Logged exceptions as plain tracebacks: structlog's default renders them with rich,
    every frame's locals included, which took seconds per logged error (5 s for one 500)."""
    processors = list(structlog.get_config()["processors"])
    if isinstance(processors[-1], structlog.dev.ConsoleRenderer):
        processors[-1] = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback
        )
        structlog.configure(processors=processors)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[ThreadedSandbox]:
    """One sandbox server for the whole session; tests isolate themselves by project."""
    # "m" and "m2": the short model names the unit tests use, besides OpenAI's defaults
    with ThreadedSandbox(SandboxState(extra_models=("m", "m2"))) as server:
        yield server


@dataclass
class SandboxProject:
    """A fresh org + project + API key on the shared sandbox, seen by no other test."""

    server: ThreadedSandbox
    api_key: str
    org_id: str
    project_id: str
    clients: list[AsyncOpenAI] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def project(self) -> Project:
        return self.server.state.projects[self.project_id]

    def client(self, **kwargs: object) -> AsyncOpenAI:
        """The official SDK pointed at this project, with no retries of its own.

        A hung request fails the test in 30 s rather than the SDK's 10 minutes; the client
        is closed when the test ends.
        """
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        client = AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client


@pytest.fixture
async def sandbox_project(sandbox_server: ThreadedSandbox) -> AsyncIterator[SandboxProject]:
    token = secrets.token_hex(8)
    api_key = f"sk-proj-test{secrets.token_hex(20)}"
    org_id, project_id = f"org-{token}", f"proj_{token}"
    sandbox_server.state.add_key(api_key, org_id, project_id)
    project = SandboxProject(sandbox_server, api_key, org_id, project_id)
    try:
        yield project
    finally:
        for client in project.clients:
            await client.close()


# --- Postgres and Redis: the real services, each test isolated by schema and key prefix ---

DATABASE_URL = os.environ.get(
    "FERRY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("FERRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def db_schema() -> AsyncIterator[str]:
    """A Postgres schema of this test's own, dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def db(db_schema: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's schema with every migration applied."""
    pool = await create_pool(DATABASE_URL, schema=db_schema, max_size=5)
    try:
        await migrate(pool)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of this test's own (queues, channels, caches)."""
    return f"ferry-t{secrets.token_hex(6)}"


@pytest.fixture
async def redis(key_prefix: str) -> AsyncIterator[ArqRedis]:
    """An arq Redis client; every key under this test's prefix is deleted afterwards."""
    client = await create_redis_pool(RedisSettings.from_dsn(REDIS_URL))
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def settings(db_schema: str, key_prefix: str) -> Settings:
    """Worker settings on this test's schema and key prefix, ignoring any `.env`."""
    return Settings(
        _env_file=None,
        database_url=DATABASE_URL,
        database_schema=db_schema,
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
        sweeper_interval_s=1,
        sweeper_grace_s=1,
        worker_shutdown_grace_s=5,
    )


@pytest.fixture
async def ferry(db: asyncpg.Pool, settings: Settings) -> AsyncIterator[FerryClient]:
    """A producer client on this test's schema and key prefix."""
    client = await FerryClient.connect(
        ClientSettings(
            _env_file=None,
            database_url=settings.database_url,
            database_schema=settings.database_schema,
            redis_url=settings.redis_url,
            redis_key_prefix=settings.redis_key_prefix,
        )
    )
    try:
        yield client
    finally:
        await client.aclose()
