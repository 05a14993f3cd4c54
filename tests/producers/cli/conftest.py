"""Run the real `ferry` command in a subprocess, against this test's schema and key prefix."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

import pytest

from worker.settings import Settings


@dataclass
class Ran:
    code: int
    out: str


@dataclass
class FerryCLI:
    env: dict[str, str]

    async def __call__(self, *args: str, timeout: float = 60) -> Ran:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from producers.cli.app import main; main()",
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
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
