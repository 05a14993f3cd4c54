"""Chat turns end to end: producer → worker → sandbox, in both API styles."""

from __future__ import annotations

import hashlib

import pytest

from producers.errors import JobFailed
from schemas.chat import prompt_cache_key, safety_identifier
from store import chat_turns, registry, user_threads
from tests.worker.chat.conftest import ChatWorld


@pytest.fixture(params=["responses", "assistants"])
def api_style(request: pytest.FixtureRequest) -> str:
    return request.param


def tag(instructions: str) -> str:
    return hashlib.sha256(instructions.encode()).hexdigest()[:8]


async def test_a_turn_answers_and_the_next_turn_continues_the_same_thread(
    chat_world: ChatWorld, api_style: str
) -> None:
    first = await chat_world.ferry.chat("u1", "support", "hello", profile="dst")
    assert first.text == f"[{tag('You help.')}] You said: hello"
    assert (first.api_style, first.new_thread, first.resumed) == (api_style, True, False)
    second = await chat_world.ferry.chat("u1", "support", "again", profile="dst")
    assert second.text == f"[{tag('You help.')}] You said: again"
    assert (second.thread_id, second.new_thread) == (first.thread_id, False)
    assert second.usage.total_tokens > 0 and second.timings.total_ms > 0
    if api_style == "responses":
        assert len(second.response_ids) == 1 and second.run_id is None
    else:
        assert second.run_id is not None and second.reply_message_id is not None
    other = await chat_world.ferry.chat("u2", "support", "hi", profile="dst")
    assert other.thread_id != first.thread_id


async def test_a_function_call_goes_to_its_executor_and_the_model_reads_the_output(
    chat_world: ChatWorld,
) -> None:
    reply = await chat_world.ferry.chat(
        "u1", "support", 'call lookup_order {"order_id": "A-7"}', profile="dst"
    )
    output = '{"order_id": "A-7", "status": "shipped"}'
    assert reply.text == f"[{tag('You help.')}] Tool results: lookup_order -> {output}"
    [call] = reply.tool_calls
    assert (call.name, call.arguments, call.output, call.ok) == (
        "lookup_order",
        '{"order_id": "A-7"}',
        output,
        True,
    )


async def test_failing_tools_become_outputs_the_model_sees(chat_world: ChatWorld) -> None:
    names = ["explode", "dawdle", "huge", "not_json", "nowhere"]
    await chat_world.add_assistant(
        "fragile", instructions="F", tools=[{"type": "function", "name": n} for n in names]
    )
    text = "\n".join(f"call {n}" for n in names)
    reply = await chat_world.ferry.chat("u1", "fragile", text, profile="dst")
    outputs = {c.name: (c.ok, c.output) for c in reply.tool_calls}
    assert outputs["explode"] == (
        False,
        "error: tool 'explode' failed: RuntimeError: the warehouse is on fire",
    )
    assert outputs["dawdle"] == (False, "error: tool 'dawdle' timed out after 0.5 s")
    assert outputs["huge"] == (
        True,
        "x" * 1000 + "\n[Ferry cut this tool output: 5000 characters, only the first 1000 "
        "are shown]",
    )
    assert outputs["not_json"] == (True, "(not JSON, shown as text) {1, 2}")
    assert outputs["nowhere"][0] is False
    assert outputs["nowhere"][1].startswith("error: no executor for tool 'nowhere'")
    assert reply.text.startswith(f"[{tag('F')}] Tool results: explode -> error: tool 'explode'")


async def test_a_thread_gone_remotely_is_replaced_and_the_reply_says_so(
    chat_world: ChatWorld,
) -> None:
    first = await chat_world.ferry.chat("u1", "support", "hello", profile="dst")
    entry_id = (await registry.get(chat_world.db, "dst", "support")).id
    await user_threads.put(chat_world.db, "u1", entry_id, "dst", "conv_gone0000")
    reply = await chat_world.ferry.chat("u1", "support", "still there?", profile="dst")
    assert reply.replaced_thread_id == "conv_gone0000" and reply.new_thread
    assert reply.thread_id not in (first.thread_id, "conv_gone0000")
    assert reply.text.endswith("You said: still there?")


async def test_history_and_clear(chat_world: ChatWorld) -> None:
    first = await chat_world.ferry.chat("u1", "support", "one", profile="dst")
    await chat_world.ferry.chat("u1", "support", "two", profile="dst")
    history = await chat_world.ferry.chats.history("u1", "support", profile="dst", limit=3)
    assert history.thread_id == first.thread_id
    assert [(m.role, m.text) for m in history.messages] == [
        ("assistant", f"[{tag('You help.')}] You said: one"),
        ("user", "two"),
        ("assistant", f"[{tag('You help.')}] You said: two"),
    ]
    assert await chat_world.ferry.chats.clear("u1", "support", profile="dst")
    after = await chat_world.ferry.chat("u1", "support", "three", profile="dst")
    assert after.new_thread and after.thread_id != first.thread_id
    archived = await user_threads.archived(chat_world.db, "u1")
    assert [(a.thread_id, a.reason) for a in archived] == [(first.thread_id, "cleared")]


async def test_the_same_message_id_twice_is_one_turn(chat_world: ChatWorld) -> None:
    one = await chat_world.ferry.chat("u1", "support", "hi", profile="dst", message_id="tg-1")
    two = await chat_world.ferry.chat("u1", "support", "hi", profile="dst", message_id="tg-1")
    assert one == two
    assert (await chat_turns.get(chat_world.db, "tg-1")).thread_id == one.thread_id


async def test_a_turn_past_its_timeout_is_cancelled_remotely(
    chat_world: ChatWorld, api_style: str
) -> None:
    from sandbox import model as sandbox_model

    if api_style == "responses":
        sandbox_model.set_timing(chat_world.sandbox.project, response_latency_seconds=30)
    else:
        sandbox_model.set_timing(chat_world.sandbox.project, run_step_seconds=30)
    with pytest.raises(JobFailed) as failure:
        await chat_world.ferry.chat("u1", "support", "slow", profile="dst", timeout=0.5)
    assert failure.value.outcome.error.detail["code"] == "timeout"
    in_flight = failure.value.outcome.error.detail["in_flight"]
    client = chat_world.sandbox.client()
    if api_style == "responses":
        assert (await client.responses.retrieve(in_flight)).status == "cancelled"
    else:
        turn = await chat_turns.get(chat_world.db, failure.value.job_id)
        run = await client.beta.threads.runs.retrieve(in_flight, thread_id=turn.thread_id)
        assert run.status in ("cancelling", "cancelled")


def test_hygiene_hashes_the_user_and_keys_the_cache_per_assistant() -> None:
    assert safety_identifier("u1") == safety_identifier("u1") != safety_identifier("u2")
    assert "u1" not in safety_identifier("u1")
    assert prompt_cache_key("dst", "a") != prompt_cache_key("dst", "b")


async def test_a_sub_assistant_tool_runs_a_nested_turn_on_the_other_assistant(
    chat_world: ChatWorld,
) -> None:
    await chat_world.add_assistant("expert", instructions="E")
    await chat_world.add_assistant(
        "boss",
        instructions="B",
        tools=[{"type": "sub_assistant", "name": "ask_expert", "assistant": "expert"}],
    )
    reply = await chat_world.ferry.chat(
        "u1", "boss", 'call ask_expert {"request": "what is 2+2"}', profile="dst"
    )
    nested = f"[{tag('E')}] You said: what is 2+2"
    assert reply.text == f"[{tag('B')}] Tool results: ask_expert -> {nested}"
    assert [(c.name, c.output, c.ok) for c in reply.tool_calls] == [("ask_expert", nested, True)]
