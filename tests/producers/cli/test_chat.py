"""`ferry run` and `ferry chat` against a chat worker and the sandbox."""

from __future__ import annotations

import hashlib
from pathlib import Path

from store import blob_rows
from tests.producers.cli.conftest import FerryCLI
from tests.worker.chat.conftest import ChatWorld


def tag(instructions: str) -> str:
    return hashlib.sha256(instructions.encode()).hexdigest()[:8]


async def test_ferry_run_uploads_the_files_keeps_their_bytes_and_writes_the_answer(
    chat_world: ChatWorld, ferry_cli: FerryCLI, tmp_path: Path
) -> None:
    await chat_world.add_assistant(
        "analyst", instructions="A", tools=[{"type": "code_interpreter"}]
    )
    data = tmp_path / "sales.csv"
    data.write_text("month,total\njan,10\n")
    out = tmp_path / "out.md"
    ran = await ferry_cli(
        "run", "-a", "analyst", "-p", "dst", "-f", str(data), "-m", "sum it", "-o", str(out)
    )
    assert ran.code == 0, ran.out
    assert out.read_text() == f"[{tag('A')}] You said: sum it\n"
    sha256 = hashlib.sha256(data.read_bytes()).hexdigest()
    assert (await blob_rows.get_blob(chat_world.db, sha256)).size == data.stat().st_size
    uploaded = await chat_world.sandbox.client().files.list()
    assert [(f.filename, f.purpose) for f in uploaded.data] == [("sales.csv", "user_data")]


async def test_ferry_run_refuses_a_file_over_ten_megabytes_before_sending(
    chat_world: ChatWorld, ferry_cli: FerryCLI, tmp_path: Path
) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(b"x" * (10 * 1024 * 1024 + 1))
    ran = await ferry_cli("run", "-a", "support", "-p", "dst", "-f", str(big), "-m", "read")
    assert ran.code == 2
    assert "10.5 MB is over the limit of 10 MB" in ran.out
    assert await chat_world.ferry.jobs() == []


async def test_ferry_chat_streams_answers_and_clears(
    chat_world: ChatWorld, ferry_cli: FerryCLI
) -> None:
    ran = await ferry_cli.with_input(
        "hello\n/clear\nagain\n/quit\n", "chat", "-a", "support", "-p", "dst", "--user", "u9"
    )
    assert ran.code == 0, ran.out
    assert f"[{tag('You help.')}] You said: hello" in ran.out
    assert "a new conversation starts" in ran.out
    assert f"[{tag('You help.')}] You said: again" in ran.out
