"""Runs v2 on the sandbox: the lazy state machine, tool calls, cancel, and the one-run rule."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from sandbox import model, run_engine
from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GET_PRICE = {
    "type": "function",
    "function": {"name": "get_price", "parameters": {"type": "object", "properties": {}}},
}
DEADLINE = 5.0


async def _setup(client, content: str, *, tools=None, instructions: str = "Be brief."):
    assistant = await client.beta.assistants.create(
        model="gpt-4o", instructions=instructions, tools=tools or [GET_PRICE]
    )
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": content}])
    return assistant, thread


async def _reply(client, thread_id: str, run_id: str) -> str:
    page = await client.beta.threads.messages.list(thread_id, run_id=run_id)
    assert len(page.data) == 1
    return page.data[0].content[0].text.value


async def test_a_plain_run_walks_queued_in_progress_completed(sandbox_project) -> None:
    client = sandbox_project.client()
    model.set_timing(sandbox_project.project, run_step_seconds=0.2)
    assistant, thread = await _setup(client, "hello there")
    raw = await client.beta.threads.runs.with_raw_response.create(
        thread.id, assistant_id=assistant.id
    )
    created = json.loads(raw.text)
    run = raw.parse()
    assert run.status == "queued" and run.usage is None and run.instructions == "Be brief."
    seen = [run.status]
    deadline = time.monotonic() + DEADLINE
    while run.status not in ("completed", "failed") and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        run = await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        if run.status != seen[-1]:
            seen.append(run.status)
    assert seen == ["queued", "in_progress", "completed"]
    # Validated only now: the first validation parses the whole spec, longer than a step.
    assert_matches("RunObject", created, strict=True)
    assert run.started_at is not None and run.completed_at is not None
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens
    raw = await client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert_matches("RunObject", json.loads(raw.text), strict=True)

    reply = await _reply(client, thread.id, run.id)
    assert reply == f"[{model.instructions_tag('Be brief.')}] You said: hello there"
    raw = await client.beta.threads.messages.with_raw_response.list(thread.id)
    newest = json.loads(raw.text)["data"][0]
    assert_matches("MessageObject", newest, strict=True)
    assert newest["role"] == "assistant" and newest["assistant_id"] == assistant.id
    assert newest["run_id"] == run.id and newest["completed_at"] == run.completed_at


async def test_create_and_poll_with_a_deadline(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "hi")
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, instructions="Override."
        ),
        DEADLINE,
    )
    assert run.status == "completed"
    # Run-level instructions replace the assistant's, and the reply says which were used.
    assert (await _reply(client, thread.id, run.id)).startswith(
        f"[{model.instructions_tag('Override.')}]"
    )


async def test_tool_calls_require_action_then_complete_with_outputs(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(
        client, 'call get_price {"symbol": "BTC"}\ncall get_price {"symbol": "ETH"}'
    )
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    assert run.status == "requires_action"
    raw = await client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert_matches("RunObject", json.loads(raw.text), strict=True)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_price", {"symbol": "BTC"}),
        ("get_price", {"symbol": "ETH"}),
    ]
    # A partial set of outputs is refused; the run still waits.
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "1"}]
        )
    run = await asyncio.wait_for(
        client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[
                {"tool_call_id": calls[0].id, "output": '{"price": 100}'},
                {"tool_call_id": calls[1].id, "output": '{"price": 7}'},
            ],
        ),
        DEADLINE,
    )
    assert run.status == "completed" and run.required_action is None
    reply = await _reply(client, thread.id, run.id)
    assert 'get_price -> {"price": 100}' in reply and 'get_price -> {"price": 7}' in reply
    # Usage covers both model turns: the call and the answer.
    assert run.usage.completion_tokens > len(reply) // 4


async def test_outputs_are_refused_unless_the_run_requires_action(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "no tools here")
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "1"}]
        )
    assert "completed" in info.value.message


async def test_an_active_run_blocks_messages_and_runs_on_its_thread(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "call get_price {}")
    run = await client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.messages.create(thread.id, role="user", content="more")
    assert (
        info.value.body["message"]
        == f"Can't add messages to {thread.id} while a run {run.id} is active."
    )
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert info.value.body["message"] == f"Thread {thread.id} already has an active run {run.id}."
    # Waiting for tools still counts as active; another thread is not affected.
    run = await asyncio.wait_for(client.beta.threads.runs.poll(run.id, thread.id), DEADLINE)
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.messages.create(thread.id, role="user", content="more")
    other = await client.beta.threads.create()
    await client.beta.threads.messages.create(other.id, role="user", content="fine")


async def test_cancel_goes_through_cancelling_and_frees_the_thread(sandbox_project) -> None:
    client = sandbox_project.client()
    model.set_timing(sandbox_project.project, run_step_seconds=0.2)
    assistant, thread = await _setup(client, "hello")
    run = await client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    run = await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert run.status == "cancelling"
    run = await asyncio.wait_for(client.beta.threads.runs.poll(run.id, thread.id), DEADLINE)
    assert run.status == "cancelled" and run.cancelled_at is not None
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    # A cancelled run never answers, and the thread takes messages again.
    assert (await client.beta.threads.messages.list(thread.id, run_id=run.id)).data == []
    await client.beta.threads.messages.create(thread.id, role="user", content="again")


async def test_a_fail_line_fails_the_run_with_last_error(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "fail the disk is full")
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    assert run.status == "failed" and run.failed_at is not None
    assert run.last_error.code == "server_error"
    assert run.last_error.message == "the disk is full"


async def test_create_thread_and_run_and_list_runs(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant = await client.beta.assistants.create(model="gpt-4o")
    run = await client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "ping"}]},
        metadata={"turn": "1"},
    )
    run = await asyncio.wait_for(client.beta.threads.runs.poll(run.id, run.thread_id), DEADLINE)
    assert run.status == "completed" and run.metadata == {"turn": "1"}
    assert (await _reply(client, run.thread_id, run.id)).endswith("You said: ping")
    second = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(
            thread_id=run.thread_id,
            assistant_id=assistant.id,
            additional_messages=[{"role": "user", "content": "pong"}],
        ),
        DEADLINE,
    )
    assert (await _reply(client, run.thread_id, second.id)).endswith("You said: pong")
    raw = await client.beta.threads.runs.with_raw_response.list(run.thread_id)
    assert_matches("ListRunsResponse", json.loads(raw.text))
    assert [r.id for r in raw.parse().data] == [second.id, run.id]


async def test_unknown_assistant_and_unknown_function(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "call get_weather {}")
    with pytest.raises(openai.NotFoundError):
        await client.beta.threads.runs.create(thread.id, assistant_id="asst_missing")
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    # A function the assistant lacks is not called: the model says so and the run completes.
    assert run.status == "completed"
    assert "cannot call get_weather" in await _reply(client, thread.id, run.id)


async def test_file_search_reads_the_assistants_and_the_threads_stores(sandbox_project) -> None:
    client = sandbox_project.client()
    sandbox_project.project.ingestion_seconds = 0
    tea = await client.files.create(
        file=("tea.txt", b"Tea costs four coins."), purpose="assistants"
    )
    cake = await client.files.create(
        file=("cake.txt", b"Cake costs nine coins."), purpose="assistants"
    )
    # The `vector_stores` helper makes the assistant's store from files.
    assistant = await client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [tea.id]}]}},
    )
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    assert (await client.vector_stores.retrieve(store_id)).file_counts.total == 1
    thread_store = await client.vector_stores.create(file_ids=[cake.id])
    thread = await client.beta.threads.create(
        messages=[{"role": "user", "content": "search costs coins"}],
        tool_resources={"file_search": {"vector_store_ids": [thread_store.id]}},
    )
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    reply = await _reply(client, thread.id, run.id)
    assert "tea.txt: Tea costs four coins." in reply
    assert "cake.txt: Cake costs nine coins." in reply


async def test_a_run_left_waiting_for_tools_expires(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "call get_price {}")
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    assert run.status == "requires_action" and run.expires_at == run.created_at + 600
    # Travel past `expires_at` instead of waiting ten minutes.
    stored = sandbox_project.project.objects["run"][run.id]
    run_engine.advance(sandbox_project.project, stored, at=run.expires_at + 1)
    run = await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "expired" and run.required_action is None
    with pytest.raises(openai.BadRequestError):
        await client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "x", "output": "1"}]
        )
    await client.beta.threads.messages.create(thread.id, role="user", content="free again")


async def test_run_steps_record_the_calls_their_outputs_and_the_reply(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "call get_price {}")
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        DEADLINE,
    )
    (waiting,) = (await client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)).data
    assert waiting.status == "in_progress" and waiting.usage is None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    run = await asyncio.wait_for(
        client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "7"}],
        ),
        DEADLINE,
    )
    raw = await client.beta.threads.runs.steps.with_raw_response.list(
        run.id, thread_id=thread.id, order="asc"
    )
    body = json.loads(raw.text)
    assert_matches("ListRunStepsResponse", body)
    for step in body["data"]:
        assert_matches("RunStepObject", step, strict=True)
    tools_step, reply_step = raw.parse().data
    assert tools_step.type == "tool_calls" and tools_step.status == "completed"
    assert tools_step.step_details.tool_calls[0].function.output == "7"
    reply = (await client.beta.threads.messages.list(thread.id, run_id=run.id)).data[0]
    assert reply_step.step_details.message_creation.message_id == reply.id
    total = tools_step.usage.total_tokens + reply_step.usage.total_tokens
    assert total == run.usage.total_tokens
    fetched = await client.beta.threads.runs.steps.retrieve(
        reply_step.id, thread_id=thread.id, run_id=run.id
    )
    assert fetched.id == reply_step.id


async def test_streamed_runs_tell_each_state_and_the_text_deltas(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "call get_price {}")
    async with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id
    ) as stream:
        kinds = [event.event async for event in stream]
        run = await stream.get_final_run()
    assert kinds == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",  # the call, named
        "thread.run.step.delta",  # its arguments, `{}`
        "thread.run.requires_action",
    ]
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    async with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "5"}]
    ) as stream:
        kinds = [event.event async for event in stream]
        final = await stream.get_final_run()
        (reply,) = await stream.get_final_messages()
    assert kinds[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    assert kinds.count("thread.message.delta") == len(reply.content[0].text.value.split())
    assert kinds[-3:] == [
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    assert final.status == "completed"
    assert reply.content[0].text.value.endswith("get_price -> 5")
    stored = await client.beta.threads.messages.retrieve(reply.id, thread_id=thread.id)
    assert stored.content[0].text.value == reply.content[0].text.value


async def test_a_stream_woken_late_still_tells_in_progress(sandbox_project) -> None:
    """A run that lands within one wake-up (here: steps of 0 s) passed through in_progress."""
    model.set_timing(sandbox_project.project, run_step_seconds=0)
    client = sandbox_project.client()
    assistant, thread = await _setup(client, "call get_price {}")
    async with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id
    ) as stream:
        events = [event async for event in stream]
    assert [e.event for e in events][:4] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
    ]
    told = events[2].data
    assert told.status == "in_progress" and told.required_action is None
    assert events[-1].event == "thread.run.requires_action"


async def test_create_thread_and_run_streams_the_new_thread_first(sandbox_project) -> None:
    client = sandbox_project.client()
    assistant = await client.beta.assistants.create(model="gpt-4o")
    async with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "yo"}]}
    ) as stream:
        deltas = [d async for d in stream.text_deltas]
        run = await stream.get_final_run()
    assert "".join(deltas).endswith("You said: yo")
    assert run.status == "completed"


async def test_streamed_tool_calls_fire_the_sdks_tool_call_callbacks(sandbox_project) -> None:
    client = sandbox_project.client()
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
        for name in ("get_price", "get_rate")
    ]
    assistant, thread = await _setup(
        client, 'call get_price {"symbol": "BTC", "venue": "spot"}\ncall get_rate {}', tools=tools
    )
    seen: list[tuple[str, str, str]] = []

    class Handler(openai.AsyncAssistantEventHandler):
        async def on_tool_call_created(self, tool_call) -> None:
            seen.append(("created", tool_call.function.name, tool_call.function.arguments))

        async def on_tool_call_delta(self, delta, snapshot) -> None:
            seen.append(("delta", snapshot.function.name, delta.function.arguments))

        async def on_tool_call_done(self, tool_call) -> None:
            seen.append(("done", tool_call.function.name, tool_call.function.arguments))

        async def on_event(self, event) -> None:
            if event.event == "thread.run.step.delta":
                assert_matches("RunStepDeltaObject", event.data.to_dict())

    async with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=Handler()
    ) as stream:
        await stream.until_done()
    arguments = '{"symbol": "BTC", "venue": "spot"}'
    assert seen == [
        ("created", "get_price", ""),
        ("delta", "get_price", '{"symbol": '),
        ("delta", "get_price", '"BTC", '),
        ("delta", "get_price", '"venue": '),
        ("delta", "get_price", '"spot"}'),
        ("done", "get_price", arguments),
        ("created", "get_rate", ""),
        ("delta", "get_rate", "{}"),
        ("done", "get_rate", "{}"),
    ]
