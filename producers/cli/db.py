"""`ferry db`: the Postgres schema."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from producers.settings import ClientSettings
from store.migrate import migrate as apply_migrations
from store.pool import create_pool

app = typer.Typer(help="The Postgres schema.", no_args_is_help=True)
console = Console()


@app.command()
def migrate() -> None:
    """Apply pending migrations (safe to run while workers start)."""

    async def run() -> list[str]:
        settings = ClientSettings()
        pool = await create_pool(
            settings.database_url, schema=settings.database_schema, create_schema=True
        )
        try:
            return [f"{m.version:04d}_{m.name}" for m in await apply_migrations(pool)]
        finally:
            await pool.close()

    applied = asyncio.run(run())
    if applied:
        for name in applied:
            console.print(f"applied [bold]{name}[/bold]")
    else:
        console.print("the schema is up to date")
