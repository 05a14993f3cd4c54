"""The scripted model: its script language, its admin queue, and its token counts."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandbox import model
from sandbox.model import Entry
from sandbox.state import Project

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _project() -> Project:
    return Project(id="proj_model", org_id="org-model")


def _say(project: Project, text: str, *, functions=frozenset({"get_price"}), instructions="I"):
    return model.respond(
        project,
        instructions=instructions,
        transcript=[Entry("user", text)],
        functions=set(functions),
    )


def test_echo_carries_the_instructions_tag() -> None:
    project = _project()
    a = _say(project, "hi", instructions="Be brief.")
    b = _say(project, "hi", instructions="Be thorough.")
    assert a.text == f"[{model.instructions_tag('Be brief.')}] You said: hi"
    assert a.text != b.text
    assert model.instructions_tag(None) == model.instructions_tag("")
    assert len(model.instructions_tag("x")) == 8


def test_call_lines_become_parallel_calls_in_order() -> None:
    turn = _say(_project(), 'please\ncall get_price {"symbol": "BTC"}\ncall get_price')
    assert [(c.name, json.loads(c.arguments)) for c in turn.tool_calls] == [
        ("get_price", {"symbol": "BTC"}),
        ("get_price", {}),
    ]
    assert len({c.call_id for c in turn.tool_calls}) == 2
    assert turn.text is None


def test_unknown_function_and_bad_arguments_get_plain_answers() -> None:
    project = _project()
    assert "cannot call get_weather" in _say(project, "call get_weather {}").text
    assert "not JSON" in _say(project, "call get_price {oops").text


def test_tool_outputs_are_reported_after_the_calls() -> None:
    transcript = [
        Entry("user", "call get_price {}"),
        Entry("tool_call", "{}", call_id="c1", name="get_price"),
        Entry("tool_output", "42", call_id="c1"),
    ]
    turn = model.respond(_project(), instructions="I", transcript=transcript, functions=set())
    assert turn.text == f"[{model.instructions_tag('I')}] Tool results: get_price -> 42"


def test_fail_line_makes_an_error() -> None:
    assert _say(_project(), "fail boom").error == "boom"
    assert _say(_project(), "fail").error
    assert _say(_project(), "failure is not a command").error is None


def test_queued_outputs_win_over_the_script_in_order() -> None:
    project = _project()
    assert (
        model.queue_outputs(
            project,
            [
                "scripted text",
                {"tool_calls": [{"name": "lookup", "arguments": {"q": 1}}]},
                {"error": "x"},
            ],
        )
        == 3
    )
    assert _say(project, "call get_price {}").text == "scripted text"
    call = _say(project, "hello").tool_calls[0]
    assert (call.name, json.loads(call.arguments)) == ("lookup", {"q": 1})
    assert _say(project, "hello").error == "x"
    assert _say(project, "hello").text.endswith("You said: hello")
    model.queue_outputs(project, ["never used"])
    model.clear_outputs(project)
    assert _say(project, "hello").text.endswith("You said: hello")
    with pytest.raises(ValueError):
        model.queue_outputs(project, [{"nothing": 1}])


def test_tokens_are_counted_roughly() -> None:
    turn = _say(_project(), "x" * 40, instructions="y" * 8)
    assert turn.input_tokens == 10 + 2
    assert turn.output_tokens == model.count_tokens(turn.text)
    assert turn.total_tokens == turn.input_tokens + turn.output_tokens


async def test_queued_output_drives_a_run_and_a_response(sandbox_project) -> None:
    client = sandbox_project.client()
    model.queue_outputs(sandbox_project.project, ["from the queue", "also queued"])
    assistant = await client.beta.assistants.create(model="gpt-4o")
    run = await asyncio.wait_for(
        client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]}
        ),
        5,
    )
    reply = await client.beta.threads.messages.list(run.thread_id, run_id=run.id)
    assert reply.data[0].content[0].text.value == "from the queue"
    response = await client.responses.create(model="gpt-4o", input="hi")
    assert response.output_text == "also queued"


def test_search_lines_use_the_callers_search() -> None:
    hit = model.SearchHit("file-1", "tea.txt", "Tea  costs\nfour coins.", 1.0)
    asked: list[str] = []

    def search(query: str) -> list[model.SearchHit]:
        asked.append(query)
        return [hit] if "tea" in query else []

    project = _project()
    turn = model.respond(
        project,
        instructions="I",
        transcript=[Entry("user", "search tea")],
        functions=set(),
        search=search,
    )
    assert asked == ["tea"]
    assert turn.text.endswith("Found for 'tea': tea.txt: Tea costs four coins.")
    assert turn.searches == (model.Search("tea", (hit,)),)
    none = model.respond(
        project,
        instructions="I",
        transcript=[Entry("user", "search cake")],
        functions=set(),
        search=search,
    )
    assert none.text.endswith("Found nothing for 'cake'.")
    assert "cannot search" in _say(project, "search tea").text
