"""`POST /chat` and a chat turn's events: the reply in one call, streamed, resumed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from schemas.chat import ChatReply
from store import ledger
from store.api_tokens import Scope
from tests.api.conftest import RunningApi
from tests.api.sse import Event, events, read_all
from tests.worker.chat.conftest import ChatWorld

LONG = "tell me " + " ".join(f"w{i}" for i in range(40))


@pytest.fixture
async def http(api: RunningApi) -> httpx.AsyncClient:
    client = await api.client(Scope.read, Scope.jobs_write)
    async with client:
        yield client


def turn(message_id: str, text: str = "hi", **fields: object) -> dict[str, object]:
    return {
        "message_id": message_id,
        "user_id": "u1",
        "assistant": "support",
        "profile": "dst",
        "text": text,
        **fields,
    }


def joined(seen: list[Event]) -> str:
    return "".join(event.data["data"]["text"] for event in seen if event.event == "delta")


async def test_post_chat_answers_the_reply(http: httpx.AsyncClient, chat_world: ChatWorld) -> None:
    response = await http.post("/chat", json=turn("gw-1", "where is my order?"))
    assert response.status_code == 200, response.text
    reply = ChatReply.model_validate(response.json())
    assert reply.message_id == "gw-1" and reply.user_id == "u1"
    assert reply.text.endswith("You said: where is my order?")
    assert reply.new_thread is True


async def test_the_same_message_id_twice_runs_one_turn(
    http: httpx.AsyncClient, chat_world: ChatWorld
) -> None:
    one, two = await asyncio.gather(
        http.post("/chat", json=turn("gw-2")), http.post("/chat", json=turn("gw-2"))
    )
    assert one.status_code == two.status_code == 200, (one.text, two.text)
    assert one.json() == two.json()
    assert (await ledger.get(chat_world.db, "gw-2")).attempts == 1
    history = await chat_world.ferry.chats.history("u1", "support", profile="dst")
    assert [(m.role, m.text) for m in history.messages] == [
        ("user", "hi"),
        ("assistant", one.json()["text"]),
    ]


async def test_a_bad_body_names_the_field(
    http: httpx.AsyncClient, chat_world_without_worker: ChatWorld
) -> None:
    empty = await http.post("/chat", json=turn("gw-3", "   "))
    assert empty.status_code == 422, empty.text
    fields = {f["loc"]: f["message"] for f in empty.json()["error"]["fields"]}
    assert list(fields) == ["text"] and "text is empty" in fields["text"]

    unknown = await http.post("/chat", json=turn("gw-4", assistant="nobody"))
    fields = {f["loc"]: f["message"] for f in unknown.json()["error"]["fields"]}
    assert unknown.status_code == 422 and list(fields) == ["assistant"]
    assert "no assistant 'nobody' in profile 'dst'" in fields["assistant"]

    attachment = await http.post("/chat", json=turn("gw-5", attachments=[{"filename": "a.txt"}]))
    fields = {f["loc"]: f["message"] for f in attachment.json()["error"]["fields"]}
    assert attachment.status_code == 422 and list(fields) == ["attachments[0]"]

    missing = await http.post("/chat", json={"message_id": "gw-6", "text": "hi"})
    fields = {f["loc"] for f in missing.json()["error"]["fields"]}
    assert missing.status_code == 422 and fields == {"user_id", "assistant"}
    # Nothing refused reached the ledger.
    for message_id in ("gw-3", "gw-4", "gw-5", "gw-6"):
        assert await ledger.get(chat_world_without_worker.db, message_id) is None


async def test_a_token_without_jobs_write_gets_403(
    api: RunningApi, chat_world_without_worker: ChatWorld
) -> None:
    async with await api.client(Scope.read) as reader:
        response = await reader.post("/chat", json=turn("gw-7"))
    assert response.status_code == 403
    assert "jobs:write" in response.json()["error"]["message"]
    assert await ledger.get(chat_world_without_worker.db, "gw-7") is None


async def test_stream_true_yields_the_deltas_then_the_reply(
    http: httpx.AsyncClient, chat_world: ChatWorld
) -> None:
    async with http.stream("POST", "/chat?stream=true", json=turn("gw-8", LONG)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = [event async for event in events(response)]
    assert {event.event for event in seen[:-1]} == {"delta"} and len(seen) > 2
    assert seen[-1].event == "reply"
    reply = ChatReply.model_validate(seen[-1].data)
    assert joined(seen) == reply.text and reply.text.endswith("You said: " + LONG)
    # A gateway that retries the same message gets the same events, ids included.
    async with http.stream("POST", "/chat?stream=true", json=turn("gw-8", LONG)) as response:
        assert [event async for event in events(response)] == seen


async def test_a_reconnect_with_last_event_id_resumes_without_repeats_or_gaps(
    http: httpx.AsyncClient, chat_world: ChatWorld
) -> None:
    head: list[Event] = []
    async with http.stream("POST", "/chat?stream=true", json=turn("gw-9", LONG)) as response:
        async for event in events(response):
            head.append(event)
            if len(head) == 3:
                break  # the gateway's connection drops
    assert [event.event for event in head] == ["delta"] * 3

    rest = await read_all(http, "/jobs/gw-9/events", **{"Last-Event-ID": head[-1].id})
    assert rest[-1].event == "outcome" and {e.event for e in rest[:-1]} == {"delta"}
    text = rest[-1].data["data"]["result"]["text"]
    assert joined(head + rest) == text
    ids = [event.id for event in head + rest]
    assert len(set(ids)) == len(ids)

    # The same resume through POST /chat (a gateway retrying its streamed call).
    again = http.stream(
        "POST", "/chat?stream=true", json=turn("gw-9", LONG), headers={"Last-Event-ID": head[0].id}
    )
    async with again as response:
        tail = [event async for event in events(response)]
    assert joined(head[:1] + tail) == text and tail[-1].event == "reply"
    # Past the end: nothing more.
    assert await read_all(http, "/jobs/gw-9/events", **{"Last-Event-ID": rest[-1].id}) == []


async def test_a_chat_jobs_events_carry_its_deltas(
    http: httpx.AsyncClient, chat_world: ChatWorld
) -> None:
    # A streaming turn a gateway enqueued itself (the producer client, or POST /jobs).
    await chat_world.ferry.chats.send(
        "u1", "support", LONG, profile="dst", message_id="gw-10", stream=True
    )
    seen = await read_all(http, "/jobs/gw-10/events")
    assert seen[0].event == "status" and seen[0].id is None
    assert seen[-1].event == "outcome" and {e.event for e in seen[1:-1]} == {"delta"}
    assert joined(seen) == seen[-1].data["data"]["result"]["text"]


async def test_a_failed_turn_answers_its_error(
    http: httpx.AsyncClient, chat_world: ChatWorld
) -> None:
    failed = await http.post("/chat", json=turn("gw-11", "fail on purpose"))
    assert failed.status_code == 502, failed.text
    assert failed.json()["error"]["code"] == "failed"
    assert "on purpose" in failed.json()["error"]["message"]
    async with http.stream("POST", "/chat?stream=true", json=turn("gw-11", "fail on purpose")) as r:
        seen = [event async for event in events(r)]
    assert [event.event for event in seen] == ["error"]
    assert seen[0].data["error"] == failed.json()["error"]


async def test_a_turn_sent_plain_then_streamed_answers_one_reply(
    http: httpx.AsyncClient, chat_world: ChatWorld
) -> None:
    plain = await http.post("/chat", json=turn("gw-12"))
    assert plain.status_code == 200, plain.text
    async with http.stream("POST", "/chat?stream=true", json=turn("gw-12")) as response:
        seen = [event async for event in events(response)]
    # It wrote no deltas when it ran: the stream is its reply alone, the same reply.
    assert [event.event for event in seen] == ["reply"]
    assert seen[0].data == plain.json()
