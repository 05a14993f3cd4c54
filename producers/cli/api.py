"""`ferry api`: serve the HTTP API, and manage its bearer tokens.

The server is started by module path (`python -m api`), as the worker is. Tokens belong to
this deployment (`REDIS_KEY_PREFIX`); only their hash is stored, so a new token is shown
once.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from producers.cli.stores import with_client
from store import api_tokens
from store.api_tokens import Scope

app = typer.Typer(help="The HTTP API and web console.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(ctx: typer.Context) -> None:
    """Serve the API under uvicorn (options: --host, --port; API_HOST, API_PORT)."""
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "api", *ctx.args])


@token_app.command("create")
def create(
    scope: Annotated[
        list[Scope], typer.Option("--scope", "-s", help="read, jobs:write, registry:write; repeat")
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Who or what uses it.")] = "token",
) -> None:
    """Make a token; it is printed once (only its hash is kept)."""
    token, row = with_client(
        lambda c: api_tokens.create(c.db, deployment=c.keys.prefix, name=name, scopes=set(scope))
    )
    console.print(
        f"token {escape(row.name)} ({row.id}), scopes {', '.join(sorted(row.scopes))}; "
        "store it now, it is not shown again:",
        highlight=False,
    )
    typer.echo(token)


@token_app.command("list")
def list_tokens() -> None:
    """This deployment's tokens (never their values)."""
    rows = with_client(lambda c: api_tokens.list_tokens(c.db, c.keys.prefix))
    table = Table("id", "name", "scopes", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            str(row.id),
            escape(row.name),
            ", ".join(sorted(row.scopes)),
            row.created_at.strftime("%Y-%m-%d %H:%M"),
            row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "—",
            row.revoked_at.strftime("%Y-%m-%d %H:%M") if row.revoked_at else "—",
        )
    console.print(table)


@token_app.command("revoke")
def revoke(token_id: UUID) -> None:
    """Revoke a token at once."""
    if not with_client(lambda c: api_tokens.revoke(c.db, c.redis, c.keys, token_id)):
        console.print(f"[red]error:[/red] no live token {token_id} in this deployment")
        raise typer.Exit(1)
    console.print(f"revoked {token_id}")
