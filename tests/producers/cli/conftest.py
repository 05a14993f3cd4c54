"""Run the real `ferry` command in a subprocess, against this test's schema and key prefix."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import pytest

from tests.worker.chat.conftest import (  # noqa: F401 - the chat world, for `ferry run`/`chat`
    api_style,
    chat_settings,
    chat_world,
    chat_world_without_worker,
)
from worker.settings import Settings


@dataclass
class Ran:
    code: int
    out: str


@dataclass
class FerryCLI:
    env: dict[str, str]

    async def __call__(self, *args: str, timeout: float = 60) -> Ran:
        return await self.with_input(None, *args, timeout=timeout)

    async def with_input(self, stdin: str | None, *args: str, timeout: float = 60) -> Ran:
        """Run `ferry args…` with `stdin` typed in (None: no input)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from producers.cli.app import main; main()",
            *args,
            env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        data = stdin.encode() if stdin is not None else None
        out, _ = await asyncio.wait_for(process.communicate(data), timeout)
        return Ran(process.returncode or 0, out.decode())


@pytest.fixture
def cli_env(settings: Settings, tmp_path: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    env.update(
        DATABASE_URL=settings.database_url,
        DATABASE_SCHEMA=settings.database_schema or "",
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        COLUMNS="200",
        LOG_FORMAT="json",
    )
    return env


@pytest.fixture
def ferry_cli(cli_env: dict[str, str]) -> FerryCLI:
    return FerryCLI(cli_env)
