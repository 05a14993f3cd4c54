"""Tool executors: HTTP tools, Python callables, sub-assistants and their depth limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from schemas.assistants import parse_spec
from worker.chat.tools import ToolBox
from worker.settings import Settings

SPEC = parse_spec(
    {
        "name": "a",
        "model": "m",
        "tools": [
            {"type": "function", "name": "weather"},
            {"type": "function", "name": "broken"},
            {"type": "function", "name": "slow"},
            {"type": "sub_assistant", "name": "ask_expert", "assistant": "expert"},
        ],
    }
)


@pytest.fixture
async def http_tool() -> AsyncIterator[str]:
    """A tiny HTTP server: /weather echoes the JSON it got, /broken answers 500, /slow hangs."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = json.loads(await reader.readexactly(length))
        if path == "/slow":
            await asyncio.sleep(5)
        status, answer = ("500 Oops", b"down") if path == "/broken" else ("200 OK", b"")
        if path == "/weather":
            answer = f"sunny in {body['city']}".encode()
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(answer)}\r\nConnection: close\r\n"
        writer.write(head.encode() + b"\r\n" + answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


def box(settings: Settings, url: str, *, depth: int = 0) -> ToolBox:
    configured = settings.model_copy(
        update={
            "chat_http_tools": {n: f"{url}/{n}" for n in ("weather", "broken", "slow")},
            "chat_tool_timeout_s": 0.5,
            "chat_max_depth": 2,
        }
    )

    async def sub_turn(assistant: str, request: str, depth: int) -> str:
        return f"{assistant} at depth {depth} answers {request!r}"

    return ToolBox(configured, SPEC, depth=depth, sub_turn=sub_turn)


async def test_an_http_tool_gets_the_arguments_as_json_and_its_body_is_the_output(
    settings: Settings, http_tool: str
) -> None:
    record = await box(settings, http_tool).run("c1", "weather", '{"city": "Lisbon"}')
    assert (record.ok, record.output) == (True, "sunny in Lisbon")


async def test_http_errors_and_timeouts_become_outputs(settings: Settings, http_tool: str) -> None:
    tools = box(settings, http_tool)
    broken = await tools.run("c1", "broken", "{}")
    assert (broken.ok, broken.output) == (False, "error: tool 'broken' answered HTTP 500: down")
    slow = await tools.run("c2", "slow", "{}")
    assert (slow.ok, slow.output) == (False, "error: tool 'slow' timed out after 0.5 s")


async def test_arguments_that_are_not_json_become_an_output(settings: Settings) -> None:
    record = await box(settings, "http://unused").run("c1", "weather", "{city")
    assert record.ok is False
    assert record.output.startswith("error: the arguments are not JSON")


async def test_a_sub_assistant_runs_a_nested_turn_up_to_the_depth_limit(
    settings: Settings,
) -> None:
    record = await box(settings, "http://unused", depth=1).run(
        "c1", "ask_expert", '{"request": "2+2?"}'
    )
    assert (record.ok, record.output) == (True, "expert at depth 2 answers '2+2?'")
    too_deep = await box(settings, "http://unused", depth=2).run(
        "c1", "ask_expert", '{"request": "2+2?"}'
    )
    assert (too_deep.ok, too_deep.output) == (
        False,
        "error: sub-assistant 'expert' not called: sub-assistants may nest 2 deep (CHAT_MAX_DEPTH)",
    )
