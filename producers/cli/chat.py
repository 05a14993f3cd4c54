"""`ferry run` (seed 004's runner: files + a task → an answer file) and `ferry chat`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from producers.cli.stores import with_client
from producers.client import FerryClient
from producers.errors import JobFailed
from schemas.chat import MAX_ATTACHMENT_BYTES, ChatAttachment, ChatReply
from store import blob_rows

console = Console()
# The chunk size of a producer's uploads in the `postgres:` blob store (the worker's default).
UPLOAD_CHUNK_BYTES = 1024 * 1024

AssistantOption = Annotated[str, typer.Option("--assistant", "-a", help="Registry name.")]
ProfileOption = Annotated[str, typer.Option("--profile", "-p", help="Connection profile.")]


def checked_files(files: list[Path]) -> list[Path]:
    """The files, or exit 2 naming the first that is missing or over 10 MB (nothing sent)."""
    for path in files:
        if not path.is_file():
            console.print(f"[red]--file {path}: no such file[/red]")
            raise typer.Exit(2)
        size = path.stat().st_size
        if size > MAX_ATTACHMENT_BYTES:
            console.print(
                f"[red]--file {path}: {size / 1e6:.1f} MB is over the limit of "
                f"{MAX_ATTACHMENT_BYTES / 1e6:.0f} MB: split it or send a smaller extract[/red]"
            )
            raise typer.Exit(2)
    return files


async def keep_uploads(client: FerryClient, files: list[Path]) -> list[ChatAttachment]:
    """Each file's bytes kept in the blob store; the worker uploads them for the turn."""
    attachments = []
    for path in files:
        sha256, _ = await blob_rows.write_blob(client.db, path.read_bytes(), UPLOAD_CHUNK_BYTES)
        attachments.append(ChatAttachment(blob_sha256=sha256, filename=path.name))
    return attachments


def run(
    assistant: AssistantOption,
    message: Annotated[str, typer.Option("--message", "-m", help="The task.")],
    file: Annotated[
        list[Path] | None, typer.Option("--file", "-f", help="A file to attach (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the answer here.")] = None,
    user: Annotated[str, typer.Option(help="Whose thread the task runs in.")] = "ferry-run",
    profile: ProfileOption = "default",
    timeout: Annotated[float, typer.Option(help="Seconds the turn may take.")] = 120.0,
) -> None:
    """Run one task on an assistant with files attached; write the answer (seed 004)."""
    files = checked_files(file or [])

    async def act(client: FerryClient) -> ChatReply:
        attachments = await keep_uploads(client, files)
        return await client.chat(
            user, assistant, message, profile=profile, attachments=attachments, timeout=timeout
        )

    reply = _or_exit(lambda: with_client(act))
    if out is not None:
        out.write_text(reply.text + "\n", encoding="utf-8")
        console.print(f"[green]wrote {out}[/green] ({len(reply.text)} characters)")
    else:
        print(reply.text)
    _summary(reply)


def chat(
    assistant: AssistantOption,
    user: Annotated[str, typer.Option(help="Whose conversation this is.")] = "ferry-cli",
    profile: ProfileOption = "default",
    min_interval: Annotated[float, typer.Option(help="Join deltas for this many s.")] = 0.0,
) -> None:
    """Talk to an assistant, streaming its answers (/clear starts afresh, /quit leaves)."""

    async def talk(client: FerryClient) -> None:
        console.print(f"[dim]talking to {assistant!r} as {user!r}; /clear, /quit[/dim]")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return
            if text.strip() in ("/quit", "/exit"):
                return
            if text.strip() == "/clear":
                await client.chats.clear(user, assistant, profile=profile)
                console.print("[dim]a new conversation starts with your next message[/dim]")
                continue
            if not text.strip():
                continue
            stream = client.chat_stream(
                user, assistant, text, profile=profile, min_interval=min_interval
            )
            try:
                async for delta in stream:
                    sys.stdout.write(delta)
                    sys.stdout.flush()
            except JobFailed as error:
                console.print(f"\n[red]{error}[/red]")
                continue
            print()

    with_client(talk)


def _or_exit(action: Callable[[], ChatReply]) -> ChatReply:
    try:
        return action()
    except JobFailed as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None


def _summary(reply: ChatReply) -> None:
    tools = ", ".join(c.name for c in reply.tool_calls) or "none"
    console.print(
        f"[dim]tools: {tools}; tokens: {reply.usage.total_tokens}; "
        f"{reply.timings.total_ms:.0f} ms; thread {reply.thread_id}[/dim]",
        highlight=False,
    )
