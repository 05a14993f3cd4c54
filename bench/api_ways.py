"""The ways the API bench reaches a result: the Python client, a lean HTTP client, httpx.

Each job way sends one `EchoJob` and checks its result; `chat_ways` does the same for chat
turns (the client's `chat`/`chat_stream` against `POST /chat` and `?stream=true`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import httpx
from lean_http import LeanHttp  # bench/, on sys.path
from pydantic import BaseModel

from producers.client import FerryClient
from schemas.jobs import Job
from schemas.keys import Queue
from worker.kinds import JobContext

PROFILE = "bench"
CHAT_ASSISTANT = {"name": "bench", "model": "gpt-4o", "instructions": "You answer briefly."}


class Echo(BaseModel):
    n: int


class EchoJob(Job):
    kind: ClassVar[str] = "bench.echo"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 30
    result_model: ClassVar[type[BaseModel]] = Echo

    n: int
    run: str


async def run_echo(ctx: JobContext, job: EchoJob) -> Echo:
    return Echo(n=job.n)


class Server:
    """One API server as the bench reaches it: a lean client and httpx."""

    def __init__(self, label: str, port: int, token: str, concurrency: int) -> None:
        self.label = label
        auth = {"Authorization": f"Bearer {token}"}
        self.lean = LeanHttp("127.0.0.1", port, auth)
        self.leans = [LeanHttp("127.0.0.1", port, auth) for _ in range(concurrency)]
        self.httpx = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers=auth,
            timeout=60,
            limits=httpx.Limits(max_keepalive_connections=concurrency),
        )

    async def aclose(self) -> None:
        for lean in (self.lean, *self.leans):
            await lean.aclose()
        await self.httpx.aclose()


def body(job: EchoJob) -> dict[str, Any]:
    return {"payload": job.model_dump()}


async def direct(client: FerryClient, job: EchoJob) -> None:
    handle = await client.enqueue(job)
    assert await handle.result(timeout=30) == Echo(n=job.n)


async def lean_long_poll(server: Server, job: EchoJob) -> None:
    status, posted = await server.lean.request("POST", f"/jobs/{job.kind}", body(job))
    assert status == 202, posted
    status, outcome = await server.lean.request("GET", f"/jobs/{posted['id']}/result?wait=30")
    assert status == 200 and outcome["result"] == {"n": job.n}, outcome


async def lean_sse(server: Server, job: EchoJob) -> None:
    status, posted = await server.lean.request("POST", f"/jobs/{job.kind}", body(job))
    assert status == 202, posted
    events = server.lean.events("GET", f"/jobs/{posted['id']}/events")
    outcomes = [json.loads(data) async for event, data in events if event == "outcome"]
    assert outcomes[0]["data"]["result"] == {"n": job.n}


async def lean_one_call(server: Server, job: EchoJob) -> None:
    status, outcome = await server.lean.request("POST", f"/jobs/{job.kind}?wait=30", body(job))
    assert status == 200 and outcome["result"] == {"n": job.n}, outcome


async def httpx_long_poll(server: Server, job: EchoJob) -> None:
    posted = await server.httpx.post(f"/jobs/{job.kind}", json=body(job))
    result = await server.httpx.get(f"/jobs/{posted.json()['id']}/result", params={"wait": 30})
    assert result.status_code == 200 and result.json()["result"] == {"n": job.n}


async def httpx_sse(server: Server, job: EchoJob) -> None:
    posted = await server.httpx.post(f"/jobs/{job.kind}", json=body(job))
    seen = False
    async with server.httpx.stream("GET", f"/jobs/{posted.json()['id']}/events") as response:
        async for line in response.aiter_lines():  # to the end: the connection is kept
            if line.startswith("data:") and '"outcome"' in line:
                seen = json.loads(line[5:])["data"]["result"] == {"n": job.n}
    assert seen, "the event stream ended without the outcome"


async def httpx_one_call(server: Server, job: EchoJob) -> None:
    answer = await server.httpx.post(f"/jobs/{job.kind}", params={"wait": 30}, json=body(job))
    assert answer.status_code == 200 and answer.json()["result"] == {"n": job.n}, answer.text


def chat_ways(client: FerryClient, servers: list[Server], run: str) -> dict[str, Any]:
    """The chat turn, each way: the client's calls, then `POST /chat` (lean client)."""

    def turn(way: str, n: int) -> dict[str, Any]:
        return {
            "message_id": f"{run}-{way}-{n}",
            "user_id": f"{run}-{way}",
            "assistant": CHAT_ASSISTANT["name"],
            "profile": PROFILE,
            "text": f"hello {n}",
        }

    async def chat(n: int) -> None:
        asked = turn("chat", n)
        reply = await client.chat(asked.pop("user_id"), asked.pop("assistant"), **asked)
        assert reply.text

    async def chat_stream(n: int) -> None:
        asked = turn("stream", n)
        stream = client.chat_stream(asked.pop("user_id"), asked.pop("assistant"), **asked)
        assert "".join([text async for text in stream]) and stream.reply is not None

    def post_chat(server: Server, way: str) -> Callable[[int], Awaitable[None]]:
        async def call(n: int) -> None:
            status, reply = await server.lean.request("POST", "/chat", turn(way, n))
            assert status == 200 and reply["text"], reply

        return call

    def post_chat_stream(server: Server, way: str) -> Callable[[int], Awaitable[None]]:
        async def call(n: int) -> None:
            events = server.lean.events("POST", "/chat?stream=true", turn(way, n))
            names = [event async for event, _ in events]
            assert names[-1] == "reply" and "delta" in names, names

        return call

    ways: dict[str, Any] = {"client.chat": chat, "client.chat_stream": chat_stream}
    for i, server in enumerate(servers):
        ways[f"{server.label} POST /chat"] = post_chat(server, f"http{i}")
        ways[f"{server.label} POST /chat?stream=true"] = post_chat_stream(server, f"sse{i}")
    return ways
