"""The API served by uvicorn over loopback, in the test's event loop, on the test's stores."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from selenium import webdriver

from api.app import create_app
from api.settings import ApiSettings
from schemas.jobs import Job
from store import api_tokens
from store.api_tokens import Scope
from tests.api.browser import Browser, start_chromium
from tests.pipeline import BulkProbeJob, ProbeJob

# The chat world (assistant `support` on the sandbox, a chat worker), for `POST /chat`.
from tests.worker.chat.conftest import (  # noqa: F401
    chat_settings,
    chat_world,
    chat_world_without_worker,
)

# Seed 001's flow world (profile `dst` on the sandbox, assistant `Sofia — Clínica`, a
# patch-queue worker), shared with the worker's flow tests.
from tests.worker.flows.conftest import api_style, flow_world  # noqa: F401
from worker.settings import Settings


@dataclass
class RunningApi:
    base_url: str
    settings: ApiSettings
    db: asyncpg.Pool

    async def token(self, *scopes: Scope, name: str = "test") -> str:
        token, _ = await api_tokens.create(
            self.db, deployment=self.settings.redis_key_prefix, name=name, scopes=set(scopes)
        )
        return token

    async def client(self, *scopes: Scope) -> httpx.AsyncClient:
        """A client holding a fresh token with `scopes` (none: no Authorization header)."""
        headers = {"Authorization": f"Bearer {await self.token(*scopes)}"} if scopes else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


def api_settings(settings: Settings, **overrides: Any) -> ApiSettings:
    stores = {
        "database_url": settings.database_url,
        "database_schema": settings.database_schema,
        "redis_url": settings.redis_url,
        "redis_key_prefix": settings.redis_key_prefix,
    }
    return ApiSettings(_env_file=None, **{**stores, **overrides})


@contextlib.asynccontextmanager
async def serving(
    settings: ApiSettings, db: asyncpg.Pool, kinds: list[type[Job]] | None = None
) -> AsyncIterator[RunningApi]:
    """uvicorn serving the app on a free loopback port until the block ends."""
    app = create_app(settings, kinds=[ProbeJob, BulkProbeJob] if kinds is None else kinds)
    # A connection a test left open (a browser's event stream) cannot hold shutdown forever.
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    # A socket bound and listening before the server starts: requests made at once wait in
    # its backlog until the app is up, so nothing has to poll for readiness. IPPROTO_TCP
    # named explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.bind(("127.0.0.1", 0))
    listening.listen(128)
    port = listening.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        yield RunningApi(f"http://127.0.0.1:{port}", settings, db)
    finally:
        server.should_exit = True
        await task
        listening.close()


@pytest.fixture
async def api(db: asyncpg.Pool, settings: Settings) -> AsyncIterator[RunningApi]:
    """The API on this test's schema and key prefix, serving the probe job kinds."""
    async with serving(api_settings(settings), db) as running:
        yield running


@pytest.fixture(scope="session")
def chromium() -> Iterator[webdriver.Chrome]:
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def browser(chromium: webdriver.Chrome, api: RunningApi) -> AsyncIterator[Browser]:
    tab = Browser(chromium, api.base_url)
    yield tab
    await tab.open("/health")  # leave the console: its event streams close
    await tab.run(chromium.delete_all_cookies)


async def log_in(browser: Browser, api: RunningApi, *scopes: Scope) -> None:
    """Log in to the console with a fresh token (default scope: read)."""
    await browser.open("/console/login")
    await browser.type("#token", await api.token(*(scopes or (Scope.read,))))
    await browser.follow("#login")
