"""Responses on the sandbox: plain input, function-call loops, conversations, streaming, locks."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from sandbox import model
from tests.sandbox.openapi import assert_matches

GET_PRICE = {
    "type": "function",
    "name": "get_price",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}},
}


async def test_plain_input_answers_with_the_scripted_echo(sandbox_project) -> None:
    client = sandbox_project.client()
    raw = await client.responses.with_raw_response.create(
        model="gpt-4o", input="hello world", instructions="Be kind."
    )
    body = json.loads(raw.text)
    assert_matches("Response", body)
    response = raw.parse()
    assert response.status == "completed"
    assert response.output_text == f"[{model.instructions_tag('Be kind.')}] You said: hello world"
    assert response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    fetched = await client.responses.retrieve(response.id)
    assert fetched.output_text == response.output_text
    raw = await client.responses.input_items.with_raw_response.list(response.id)
    assert_matches("ResponseItemList", json.loads(raw.text))
    items = [i async for i in client.responses.input_items.list(response.id)]
    assert [i.content[0].text for i in items] == ["hello world"]
    deleted = await client.responses.delete(response.id)
    assert deleted is None  # the SDK returns nothing; the response is gone
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(response.id)


async def test_function_call_loop_with_previous_response_id(sandbox_project) -> None:
    client = sandbox_project.client()
    first = await client.responses.create(
        model="gpt-4o",
        input='call get_price {"symbol": "BTC"}\ncall get_price {"symbol": "ETH"}',
        tools=[GET_PRICE],
    )
    assert_matches("Response", first.to_dict())
    calls = [item for item in first.output if item.type == "function_call"]
    assert [json.loads(c.arguments)["symbol"] for c in calls] == ["BTC", "ETH"]
    assert first.output_text == ""

    # Continuing without answering every call is refused, as OpenAI does.
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-4o",
            previous_response_id=first.id,
            tools=[GET_PRICE],
            input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "1"}],
        )
    assert calls[1].call_id in info.value.body["message"]

    second = await client.responses.create(
        model="gpt-4o",
        previous_response_id=first.id,
        tools=[GET_PRICE],
        input=[
            {"type": "function_call_output", "call_id": c.call_id, "output": f'{{"p": {i}}}'}
            for i, c in enumerate(calls)
        ],
    )
    assert 'get_price -> {"p": 0}' in second.output_text
    assert 'get_price -> {"p": 1}' in second.output_text
    assert second.previous_response_id == first.id


async def test_an_output_for_an_unknown_call_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-4o",
            input=[{"type": "function_call_output", "call_id": "call_nope", "output": "1"}],
        )
    assert "call_nope" in info.value.body["message"]


async def test_a_function_the_response_lacks_is_not_called(sandbox_project) -> None:
    client = sandbox_project.client()
    response = await client.responses.create(model="gpt-4o", input="call get_weather {}")
    assert [item.type for item in response.output] == ["message"]
    assert "cannot call get_weather" in response.output_text


async def test_conversation_collects_input_and_output_items(sandbox_project) -> None:
    client = sandbox_project.client()
    conversation = await client.conversations.create()
    first = await client.responses.create(
        model="gpt-4o", conversation=conversation.id, input="call get_price {}", tools=[GET_PRICE]
    )
    call = first.output[0]
    second = await client.responses.create(
        model="gpt-4o",
        conversation=conversation.id,
        tools=[GET_PRICE],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "42"}],
    )
    assert second.conversation.id == conversation.id
    assert second.output_text.endswith("get_price -> 42")
    kinds = [i.type async for i in client.conversations.items.list(conversation.id, order="asc")]
    assert kinds == ["message", "function_call", "function_call_output", "message"]


async def test_store_false_is_not_retrievable(sandbox_project) -> None:
    client = sandbox_project.client()
    response = await client.responses.create(model="gpt-4o", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", input="x", previous_response_id=response.id)
    assert info.value.param == "previous_response_id"


async def test_unknown_vector_store_in_file_search_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-4o",
            input="hi",
            tools=[{"type": "file_search", "vector_store_ids": ["vs_missing"]}],
        )
    assert info.value.param == "tools[0].vector_store_ids"


async def test_streaming_text_deltas_and_events(sandbox_project) -> None:
    client = sandbox_project.client()
    stream = await client.responses.create(
        model="gpt-4o", input="one two three", instructions="I", stream=True
    )
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expected = f"[{model.instructions_tag('I')}] You said: one two three"
    assert deltas == expected
    assert kinds.count("response.output_text.delta") == len(expected.split())
    for event in events:
        assert_matches("ResponseStreamEvent", event.to_dict())


async def test_stream_helper_accumulates_a_function_call(sandbox_project) -> None:
    client = sandbox_project.client()
    async with client.responses.stream(
        model="gpt-4o", input='call get_price {"symbol": "BTC"}', tools=[GET_PRICE]
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert final.output[0].type == "function_call"
    assert json.loads(final.output[0].arguments) == {"symbol": "BTC"}
    raw_stream = await client.responses.create(
        model="gpt-4o", input="call get_price {}", tools=[GET_PRICE], stream=True
    )
    async for event in raw_stream:
        assert_matches("ResponseStreamEvent", event.to_dict())


async def test_a_busy_conversation_is_locked(sandbox_project) -> None:
    client = sandbox_project.client()
    model.set_timing(sandbox_project.project, response_latency_seconds=0.6)
    conversation = await client.conversations.create()
    slow = asyncio.create_task(
        client.responses.create(model="gpt-4o", conversation=conversation.id, input="first")
    )
    await asyncio.sleep(0.2)
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", conversation=conversation.id, input="2nd")
    assert info.value.code == "conversation_locked" and info.value.param == "conversation"
    assert (await slow).status == "completed"
    # Once answered, the conversation takes the next turn; only the first turn was recorded.
    model.set_timing(sandbox_project.project, response_latency_seconds=0)
    await client.responses.create(model="gpt-4o", conversation=conversation.id, input="third")
    texts = [
        i.content[0].text
        async for i in client.conversations.items.list(conversation.id, order="asc")
    ]
    assert [t.rsplit(" ", 1)[-1] for t in texts] == ["first", "first", "third", "third"]


async def test_an_open_stream_locks_its_conversation(sandbox_project) -> None:
    client = sandbox_project.client()
    model.set_timing(sandbox_project.project, response_latency_seconds=0.6)
    conversation = await client.conversations.create()
    stream = await client.responses.create(
        model="gpt-4o", conversation=conversation.id, input="streamed turn", stream=True
    )
    iterator = stream.__aiter__()
    assert (await iterator.__anext__()).type == "response.created"
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", conversation=conversation.id, input="x")
    assert info.value.code == "conversation_locked"
    rest = [event.type async for event in iterator]
    assert rest[-1] == "response.completed"
    model.set_timing(sandbox_project.project, response_latency_seconds=0)
    await client.responses.create(model="gpt-4o", conversation=conversation.id, input="next")


async def test_a_fail_line_fails_the_response(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model="gpt-4o", input="fail out of cheese")
    stream = await client.responses.create(model="gpt-4o", input="fail out of cheese", stream=True)
    events = [event async for event in stream]
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.message == "out of cheese"
    assert_matches("ResponseStreamEvent", events[-1].to_dict())


async def _store_with(client, sandbox_project, text: bytes) -> str:
    sandbox_project.project.ingestion_seconds = 0
    uploaded = await client.files.create(file=("prices.txt", text), purpose="assistants")
    store = await client.vector_stores.create(name="kb", file_ids=[uploaded.id])
    return store.id


async def test_file_search_finds_chunks_of_the_given_store(sandbox_project) -> None:
    client = sandbox_project.client()
    store_id = await _store_with(client, sandbox_project, b"The price of tea is four coins.")
    raw = await client.responses.with_raw_response.create(
        model="gpt-4o",
        input="search price of tea",
        tools=[{"type": "file_search", "vector_store_ids": [store_id]}],
        include=["file_search_call.results"],
    )
    body = json.loads(raw.text)
    assert_matches("Response", body)
    search_call, message = raw.parse().output
    assert search_call.type == "file_search_call" and search_call.queries == ["price of tea"]
    assert search_call.results[0].filename == "prices.txt"
    assert "prices.txt: The price of tea is four coins." in message.content[0].text
    # Without the tool the model says it cannot search.
    plain = await client.responses.create(model="gpt-4o", input="search price of tea")
    assert "cannot search" in plain.output_text


async def test_max_output_tokens_cuts_the_answer_short(sandbox_project) -> None:
    client = sandbox_project.client()
    long_input = " ".join(f"word{i}" for i in range(100))
    response = await client.responses.create(model="gpt-4o", input=long_input, max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert len(response.output_text) == 64 and response.usage.output_tokens == 16
    assert_matches("Response", response.to_dict())
    stream = await client.responses.create(
        model="gpt-4o", input=long_input, max_output_tokens=16, stream=True
    )
    events = [event async for event in stream]
    assert events[-1].type == "response.incomplete"
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", input="hi", max_output_tokens=5)
    assert info.value.param == "max_output_tokens"
