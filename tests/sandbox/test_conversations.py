"""Conversations and their items on the sandbox, driven by the official SDK."""

from __future__ import annotations

import json

import openai
import pytest

from tests.sandbox.openapi import assert_matches


async def test_conversation_round_trip(sandbox_project) -> None:
    client = sandbox_project.client()
    raw = await client.conversations.with_raw_response.create(
        items=[{"type": "message", "role": "user", "content": "hello"}],
        metadata={"user": "u1"},
    )
    assert_matches("ConversationResource", json.loads(raw.text), strict=True)
    conversation = raw.parse()
    assert conversation.id.startswith("conv_") and conversation.metadata == {"user": "u1"}

    fetched = await client.conversations.retrieve(conversation.id)
    assert fetched.created_at == conversation.created_at
    updated = await client.conversations.update(conversation.id, metadata={"user": "u2"})
    assert updated.metadata == {"user": "u2"}

    raw = await client.conversations.with_raw_response.delete(conversation.id)
    assert_matches("DeletedConversationResource", json.loads(raw.text), strict=True)
    assert raw.parse().deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.conversations.retrieve(conversation.id)


async def test_items_create_list_retrieve_delete(sandbox_project) -> None:
    client = sandbox_project.client()
    conversation = await client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "one"}]
    )
    raw = await client.conversations.items.with_raw_response.create(
        conversation.id,
        items=[
            {"type": "message", "role": "assistant", "content": "two"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "3"}]},
        ],
    )
    created = json.loads(raw.text)
    assert_matches("ConversationItemList", created)
    assert len(created["data"]) == 2

    raw = await client.conversations.items.with_raw_response.list(conversation.id, order="asc")
    listed = json.loads(raw.text)
    assert_matches("ConversationItemList", listed)
    texts = [item["content"][0]["text"] for item in listed["data"]]
    assert texts == ["one", "two", "3"]
    # Newest first by default; cursor paging loses nothing.
    newest = [i.id async for i in client.conversations.items.list(conversation.id, limit=1)]
    assert newest == [item["id"] for item in reversed(listed["data"])]

    second = listed["data"][1]
    item = await client.conversations.items.retrieve(second["id"], conversation_id=conversation.id)
    assert item.role == "assistant" and item.content[0].type == "output_text"
    after = await client.conversations.items.delete(second["id"], conversation_id=conversation.id)
    assert after.id == conversation.id
    with pytest.raises(openai.NotFoundError):
        await client.conversations.items.retrieve(second["id"], conversation_id=conversation.id)
    remaining = [i.id async for i in client.conversations.items.list(conversation.id)]
    assert second["id"] not in remaining and len(remaining) == 2


async def test_bad_requests_are_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.conversations.create(metadata={f"k{i}": "v" for i in range(17)})
    assert info.value.param == "metadata"
    with pytest.raises(openai.BadRequestError) as info:
        await client.conversations.create(
            items=[{"type": "message", "role": "user", "content": str(i)} for i in range(21)]
        )
    assert info.value.param == "items"
    with pytest.raises(openai.NotFoundError):
        await client.conversations.items.list("conv_missing")


async def test_conversations_have_no_list_route(sandbox_project) -> None:
    client = sandbox_project.client()
    await client.conversations.create()
    with pytest.raises(openai.APIStatusError) as info:
        await client.get("/conversations", cast_to=object)
    assert info.value.status_code in (404, 405)
