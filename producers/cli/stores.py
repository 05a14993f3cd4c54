"""Running a CLI command against Ferry's stores, with their failures said plainly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer
from redis.exceptions import RedisError
from rich.console import Console

from producers.client import FerryClient

T = TypeVar("T")
console = Console()


def with_client(action: Callable[[FerryClient], Awaitable[T]]) -> T:
    """Run `action` with a connected client; a store that is missing or unreachable exits 1."""

    async def run() -> T:
        async with await FerryClient.connect() as client:
            return await action(client)

    try:
        return asyncio.run(run())
    except asyncpg.UndefinedTableError:
        console.print("[red]Ferry's tables are not there yet: run `ferry db migrate`[/red]")
    except (
        ConnectionError,
        socket.gaierror,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        RedisError,
    ) as error:
        console.print(
            f"[red]cannot reach Ferry's stores: {error}[/red] (check DATABASE_URL, REDIS_URL)"
        )
    raise typer.Exit(1)
