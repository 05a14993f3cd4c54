"""Background responses (poll, cancel, resumable streams) and cut foreground streams."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from sandbox import model
from tests.sandbox.openapi import assert_matches


async def test_background_response_is_queued_then_lands_when_polled(sandbox_project) -> None:
    model.set_timing(sandbox_project.project, response_latency_seconds=1.0)
    client = sandbox_project.client()
    raw = await client.responses.with_raw_response.create(
        model="gpt-4o", input="hello", background=True
    )
    during = await client.responses.retrieve(raw.parse().id)
    assert during.status == "in_progress"
    created = raw.parse()
    assert created.status == "queued" and created.background is True
    assert created.output == []
    body = json.loads(raw.text)
    assert_matches("Response", body)
    assert "usage" not in body
    # wait for it to land on its own events (the resumable stream ends when it does)
    events = [e async for e in await client.responses.retrieve(created.id, stream=True)]
    assert events[-1].type == "response.completed"
    polled = await client.responses.retrieve(created.id)
    assert polled.status == "completed"
    assert polled.output_text.endswith("You said: hello")
    final = json.loads((await client.responses.with_raw_response.retrieve(created.id)).text)
    assert isinstance(final["completed_at"], int)  # integer seconds, as the spec says
    assert_matches("Response", polled.to_dict())


async def test_background_needs_store(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", input="x", background=True, store=False)
    assert info.value.body["param"] == "background"
    assert "store" in info.value.body["message"]


async def test_cancel_stops_a_background_response(sandbox_project) -> None:
    model.set_timing(sandbox_project.project, response_latency_seconds=30)
    client = sandbox_project.client()
    created = await client.responses.create(model="gpt-4o", input="long job", background=True)
    cancelled = await client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert cancelled.output == []
    assert (await client.responses.retrieve(created.id)).status == "cancelled"
    # cancelling again answers the same cancelled response
    assert (await client.responses.cancel(created.id)).status == "cancelled"


async def test_only_background_responses_can_be_cancelled(sandbox_project) -> None:
    client = sandbox_project.client()
    done = await client.responses.create(model="gpt-4o", input="quick")
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.cancel(done.id)
    assert "background=true" in info.value.body["message"]


async def _slow_background_on_a_conversation(sandbox_project):
    """A client, a conversation, and a background response on it that takes 30 s."""
    model.set_timing(sandbox_project.project, response_latency_seconds=30)
    client = sandbox_project.client()
    conversation = await client.conversations.create()
    response = await client.responses.create(
        model="gpt-4o", input="one", conversation=conversation.id, background=True
    )
    return client, conversation, response


async def test_a_background_conversation_stays_locked_until_it_lands(sandbox_project) -> None:
    client, conversation, first = await _slow_background_on_a_conversation(sandbox_project)
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", input="two", conversation=conversation.id)
    assert info.value.code == "conversation_locked"
    await client.responses.cancel(first.id)
    model.set_timing(sandbox_project.project, response_latency_seconds=0)
    second = await client.responses.create(
        model="gpt-4o", input="two", conversation=conversation.id
    )
    assert second.status == "completed"


async def test_a_dropped_background_stream_resumes_after_its_sequence_number(
    sandbox_project,
) -> None:
    model.set_timing(sandbox_project.project, response_latency_seconds=0.5)
    client = sandbox_project.client()
    stream = await client.responses.create(
        model="gpt-4o", input="one two three four", background=True, stream=True
    )
    seen = []
    async for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break  # the connection drops here
    await stream.close()
    last = seen[-1].sequence_number
    response_id = seen[0].response.id
    resumed = await client.responses.retrieve(response_id, stream=True, starting_after=last)
    rest = [event async for event in resumed]
    assert rest[0].sequence_number == last + 1
    numbers = [e.sequence_number for e in seen] + [e.sequence_number for e in rest]
    assert numbers == list(range(len(numbers)))
    assert rest[-1].type == "response.completed"
    text = "".join(e.delta for e in [*seen, *rest] if e.type == "response.output_text.delta")
    assert text.endswith("You said: one two three four")
    assert (await client.responses.retrieve(response_id)).status == "completed"


async def test_streaming_a_foreground_response_by_id_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    done = await client.responses.create(model="gpt-4o", input="quick")
    with pytest.raises(openai.BadRequestError) as info:
        stream = await client.responses.retrieve(done.id, stream=True)
        async for _ in stream:
            pass
    assert "background=true" in info.value.body["message"]


async def test_a_cut_foreground_stream_ends_the_response(sandbox_project) -> None:
    model.set_timing(sandbox_project.project, response_latency_seconds=2)
    client = sandbox_project.client()
    conversation = await client.conversations.create()
    url = f"{sandbox_project.base_url}/responses"
    body = {"model": "gpt-4o", "input": "a b c d e f", "stream": True,
            "conversation": conversation.id}  # fmt: skip
    headers = {"Authorization": f"Bearer {sandbox_project.api_key}"}
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", url, json=body, headers=headers) as answer,
    ):
        async for line in answer.aiter_lines():
            if line.startswith("data:") and "response.created" in line:
                response_id = json.loads(line[5:])["response"]["id"]
                break  # the client goes away mid-stream
    model.set_timing(sandbox_project.project, response_latency_seconds=0)
    # the sandbox notices the disconnect on its next event: the lock goes with the stream
    while True:
        try:
            ended = await client.responses.retrieve(response_id)
            break
        except openai.NotFoundError:
            await asyncio.sleep(0.05)
    assert ended.status == "cancelled"
    items = [i async for i in client.conversations.items.list(conversation.id)]
    assert items == []
    after = await client.responses.create(
        model="gpt-4o", input="next", conversation=conversation.id
    )
    assert after.status == "completed"


async def test_deleting_an_unfinished_background_response_stops_it(sandbox_project) -> None:
    client, conversation, created = await _slow_background_on_a_conversation(sandbox_project)
    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    model.set_timing(sandbox_project.project, response_latency_seconds=0)
    after = await client.responses.create(model="gpt-4o", input="y", conversation=conversation.id)
    assert after.status == "completed"
