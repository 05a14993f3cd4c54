"""Threads v2 and messages on the sandbox, driven by the official SDK."""

from __future__ import annotations

import json

import openai
import pytest

from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_thread_with_messages_round_trip(sandbox_project) -> None:
    client = sandbox_project.client()
    raw = await client.beta.threads.with_raw_response.create(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [{"type": "text", "text": "second"}]},
        ],
        metadata={"user": "u1"},
    )
    assert_matches("ThreadObject", json.loads(raw.text), strict=True)
    thread = raw.parse()
    assert thread.metadata == {"user": "u1"}

    listed = await client.beta.threads.messages.with_raw_response.list(thread.id, order="asc")
    body = json.loads(listed.text)
    assert_matches("ListMessagesResponse", body)
    for message in body["data"]:
        assert_matches("MessageObject", message, strict=True)
    page = listed.parse()
    assert [(m.role, m.content[0].text.value) for m in page.data] == [
        ("user", "first"),
        ("assistant", "second"),
    ]

    updated = await client.beta.threads.update(thread.id, metadata={"user": "u2"})
    assert updated.metadata == {"user": "u2"}
    assert (await client.beta.threads.retrieve(thread.id)).metadata == {"user": "u2"}

    raw_message_deleted = await client.beta.threads.messages.with_raw_response.delete(
        page.data[1].id, thread_id=thread.id
    )
    assert_matches("DeleteMessageResponse", json.loads(raw_message_deleted.text), strict=True)
    remaining = await client.beta.threads.messages.list(thread.id)
    assert [m.id for m in remaining.data] == [page.data[0].id]

    raw_deleted = await client.beta.threads.with_raw_response.delete(thread.id)
    assert_matches("DeleteThreadResponse", json.loads(raw_deleted.text), strict=True)
    deleted = raw_deleted.parse()
    assert deleted.deleted is True and deleted.object == "thread.deleted"
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.messages.list(thread.id)


async def test_messages_create_list_retrieve_in_order(sandbox_project) -> None:
    client = sandbox_project.client()
    thread = await client.beta.threads.create()
    made = [
        await client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}")
        for i in range(5)
    ]
    newest_first = await client.beta.threads.messages.list(thread.id)
    assert [m.id for m in newest_first.data] == [m.id for m in reversed(made)]
    # Cursor paging walks the thread two by two, oldest first, with no gaps or repeats.
    seen = [m.id async for m in client.beta.threads.messages.list(thread.id, order="asc", limit=2)]
    assert seen == [m.id for m in made]
    fetched = await client.beta.threads.messages.retrieve(made[2].id, thread_id=thread.id)
    assert fetched.content[0].text.value == "m2"
    assert fetched.thread_id == thread.id and fetched.run_id is None


async def test_a_message_of_another_thread_is_not_found(sandbox_project) -> None:
    client = sandbox_project.client()
    one = await client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    two = await client.beta.threads.create()
    message = (await client.beta.threads.messages.list(one.id)).data[0]
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.messages.retrieve(message.id, thread_id=two.id)


async def test_bad_messages_are_refused_and_leave_no_thread(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.messages.create("thread_missing", role="user", content="x")
    thread = await client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.messages.create(thread.id, role="system", content="x")
    assert info.value.param == "role"
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.messages.create(
            thread.id, role="user", content="x", metadata={f"k{i}": "v" for i in range(17)}
        )
    assert info.value.param == "metadata"
    assert (await client.beta.threads.messages.list(thread.id)).data == []


async def test_thread_tool_resources_must_exist(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.create(
            tool_resources={"file_search": {"vector_store_ids": ["vs_missing"]}}
        )
    assert info.value.param == "tool_resources.file_search.vector_store_ids"


async def test_attachments_must_name_existing_files(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.create(
            messages=[
                {"role": "user", "content": "ok"},
                {
                    "role": "user",
                    "content": "see file",
                    "attachments": [
                        {"file_id": "file-missing", "tools": [{"type": "file_search"}]}
                    ],
                },
            ]
        )
    assert info.value.param == "messages[1].attachments[0].file_id"
    # Threads cannot be listed: look inside the project to see nothing was half-made.
    assert not sandbox_project.project.table("thread")
    assert not sandbox_project.project.table("message")
    uploaded = await client.files.create(file=("a.txt", b"x"), purpose="assistants")
    thread = await client.beta.threads.create()
    message = await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="see file",
        attachments=[{"file_id": uploaded.id, "tools": [{"type": "code_interpreter"}]}],
    )
    assert message.attachments[0].file_id == uploaded.id
