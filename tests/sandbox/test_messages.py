"""Thread messages: attachments become the thread's own tools' files, as OpenAI's guide says."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DEADLINE = 5.0


async def test_a_file_search_attachment_makes_the_threads_vector_store(sandbox_project) -> None:
    client = sandbox_project.client()
    sandbox_project.project.ingestion_seconds = 0
    tea = await client.files.create(
        file=("tea.txt", b"Tea costs four coins."), purpose="assistants"
    )
    cake = await client.files.create(
        file=("cake.txt", b"Cake costs nine coins."), purpose="assistants"
    )
    assistant = await client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
    thread = await client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Here is the tea list.",
                "attachments": [{"file_id": tea.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    (store_id,) = thread.tool_resources.file_search.vector_store_ids
    store = await client.vector_stores.retrieve(store_id)
    assert_matches("VectorStoreObject", store.to_dict())
    assert store.file_counts.total == 1
    assert store.expires_after.anchor == "last_active_at" and store.expires_after.days == 7
    # a later attachment joins the same store
    message = await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="search costs coins",
        attachments=[{"file_id": cake.id, "tools": [{"type": "file_search"}]}],
    )
    assert_matches("MessageObject", message.to_dict())
    again = await client.beta.threads.retrieve(thread.id)
    assert again.tool_resources.file_search.vector_store_ids == [store_id]
    listed = [f.id async for f in client.vector_stores.files.list(store_id)]
    assert sorted(listed) == sorted([tea.id, cake.id])
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    page = await client.beta.threads.messages.list(thread.id, run_id=run.id)
    reply = page.data[0].content[0].text.value
    assert "tea.txt: Tea costs four coins." in reply
    assert "cake.txt: Cake costs nine coins." in reply


async def test_a_code_interpreter_attachment_joins_the_threads_files(sandbox_project) -> None:
    client = sandbox_project.client()
    data = await client.files.create(file=("q3.csv", b"a,b\n1,2\n"), purpose="assistants")
    thread = await client.beta.threads.create()
    await client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="chart it",
        attachments=[{"file_id": data.id, "tools": [{"type": "code_interpreter"}]}],
    )
    again = await client.beta.threads.retrieve(thread.id)
    assert again.tool_resources.code_interpreter.file_ids == [data.id]
    assert again.tool_resources.file_search is None


async def test_an_unknown_attachment_tool_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    data = await client.files.create(file=("a.txt", b"x"), purpose="assistants")
    thread = await client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.messages.create(
            thread.id,
            role="user",
            content="x",
            attachments=[{"file_id": data.id, "tools": [{"type": "web_search"}]}],
        )
    assert info.value.body["param"] == "attachments[0].tools[0].type"
