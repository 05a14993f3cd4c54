"""Responses-style items: each role carries only its own content parts, as OpenAI checks."""

from __future__ import annotations

import openai
import pytest


async def test_an_assistant_message_of_input_text_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "yo"}]},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        await client.conversations.create(items=history)
    error = info.value.body
    assert error["message"] == (
        "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'."
    )
    assert error["param"] == "items[1].content[0]" and error["code"] == "invalid_value"
    conversation = await client.conversations.create()
    with pytest.raises(openai.BadRequestError) as info:
        await client.conversations.items.create(conversation.id, items=history)
    assert info.value.body["param"] == "items[1].content[0]"
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o", input=history)
    assert info.value.body["param"] == "input[1].content[0]"
    assert [i async for i in client.conversations.items.list(conversation.id)] == []


async def test_an_assistant_message_of_output_text_is_taken(sandbox_project) -> None:
    client = sandbox_project.client()
    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "yo", "annotations": []}],
        },
    ]
    conversation = await client.conversations.create(items=history)
    listed = [i async for i in client.conversations.items.list(conversation.id, order="asc")]
    assert [i.role for i in listed] == ["user", "assistant"]


async def test_a_user_message_of_output_text_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-4o",
            input=[{"role": "user", "content": [{"type": "output_text", "text": "hi"}]}],
        )
    assert info.value.body["param"] == "input[0].content[0]"
