"""A worker SIGKILLed mid-turn: the retried job resumes the turn; it completes exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import model as sandbox_model
from schemas.chat import ChatReply
from schemas.keys import Queue
from store import chat_turns
from tests.pipeline import running_worker
from tests.worker.chat.conftest import ChatWorld
from tests.worker.chat.serve import HANDLERS, QuickChatRun

ROOT = Path(__file__).parents[3]
LONG = "tell me " + " ".join(f"w{i}" for i in range(30))


async def until_recorded(world: ChatWorld, message_id: str, field: str = "response_id") -> str:
    """The remote id the first worker wrote, once it is written (the turn's own record)."""
    async with asyncio.timeout(20):
        while True:
            turn = await chat_turns.get(world.db, message_id)
            if turn is not None and getattr(turn, field) is not None:
                return getattr(turn, field)
            await asyncio.sleep(0.02)


def worker_command(world: ChatWorld, db_schema: str, key_prefix: str) -> list[str]:
    return [
        sys.executable, "-m", "tests.worker.chat.serve",
        "--redis", world.settings.redis_url,
        "--db", world.settings.database_url,
        "--schema", db_schema,
        "--prefix", key_prefix,
    ]  # fmt: skip


def start_worker(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, env=os.environ)


async def kill_mid_turn(
    world: ChatWorld, job: QuickChatRun, field: str, command: list[str], log: Path
) -> tuple[ChatReply, str]:
    """Start a worker, SIGKILL it once the turn recorded `field`, finish with another one."""
    doomed = start_worker(command, log)
    try:
        handle = await world.ferry.enqueue(job)
        recorded = await until_recorded(world, job.message_id, field)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        async with running_worker(world.settings, Queue.chat, HANDLERS):
            reply = await handle.result(timeout=60)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert (await world.ferry.ledger_row(job.message_id)).attempts == 2
    return reply, recorded


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True])
async def test_a_turn_whose_worker_is_killed_completes_once(
    chat_world_without_worker: ChatWorld,
    db_schema: str,
    key_prefix: str,
    stream: bool,
    tmp_path: Path,
) -> None:
    world = chat_world_without_worker
    sandbox_model.set_timing(world.sandbox.project, response_latency_seconds=2.0)
    job = QuickChatRun(
        message_id=f"kill-{stream}",
        user_id="u1",
        assistant="support",
        profile="dst",
        text=LONG,
        stream=stream,
        timeout=3.0,
    )
    command = worker_command(world, db_schema, key_prefix)
    reply, first_response = await kill_mid_turn(
        world, job, "response_id", command, tmp_path / "worker.log"
    )
    assert reply.resumed is True
    assert reply.response_ids == [first_response]
    assert reply.text == "[" + reply.text[1:9] + "] You said: " + LONG
    items = await world.sandbox.client().conversations.items.list(reply.thread_id, order="asc")
    assert [(i.role, i.content[0].text) for i in items.data] == [
        ("user", LONG),
        ("assistant", reply.text),
    ]
    if stream:
        deltas = world.ferry.chats.follow(job.message_id, job.kind)
        replayed = "".join([chunk async for chunk in deltas])
        assert replayed == reply.text  # no delta written twice, none lost


@pytest.mark.slow
@pytest.mark.parametrize("api_style", ["assistants"])
async def test_an_assistants_turn_whose_worker_is_killed_polls_its_run_once(
    chat_world_without_worker: ChatWorld,
    db_schema: str,
    key_prefix: str,
    tmp_path: Path,
    api_style: str,
) -> None:
    world = chat_world_without_worker
    # Each run state lasts a second: the worker dies while its run is queued or in progress.
    sandbox_model.set_timing(world.sandbox.project, run_step_seconds=1.0)
    job = QuickChatRun(
        message_id="kill-run", user_id="u1", assistant="support", profile="dst", text="hi"
    )
    command = worker_command(world, db_schema, key_prefix)
    reply, run_id = await kill_mid_turn(world, job, "run_id", command, tmp_path / "worker.log")
    assert (reply.resumed, reply.run_id) == (True, run_id)
    client = world.sandbox.client()
    runs = await client.beta.threads.runs.list(reply.thread_id)
    assert [r.id for r in runs.data] == [run_id]
    messages = await client.beta.threads.messages.list(reply.thread_id, order="asc")
    assert [(m.role, m.content[0].text.value) for m in messages.data] == [
        ("user", "hi"),
        ("assistant", reply.text),
    ]
