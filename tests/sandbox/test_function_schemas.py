"""Strict function schemas: OpenAI's 400 on assistants, runs and responses; `strict` defaults."""

from __future__ import annotations

import openai
import pytest

from sandbox.function_schemas import is_compatible, violations

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GOOD = {
    "type": "object",
    "properties": {
        "symbol": {"type": "string"},
        "legs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"side": {"type": "string", "enum": ["buy", "sell"]}},
                "required": ["side"],
                "additionalProperties": False,
            },
        },
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["symbol", "legs", "note"],
    "additionalProperties": False,
}
OPEN = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
MISSING = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}
UNKNOWN_TYPE = {
    "type": "object",
    "properties": {"a": {"type": "text"}},
    "required": ["a"],
    "additionalProperties": False,
}
PREFIX = "Invalid schema for function 'f': "


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (OPEN, "In context=(), 'additionalProperties' is required to be supplied and to be false."),
        (
            MISSING,
            "In context=(), 'required' is required to be supplied and to be an array including "
            "every key in properties. Missing 'b'.",
        ),
        (
            UNKNOWN_TYPE,
            "In context=('properties', 'a'), 'text' is not valid under any of the given schemas.",
        ),
        (
            {
                **GOOD,
                "properties": {**GOOD["properties"], "x": {"description": "?"}},
                "required": [*GOOD["required"], "x"],
            },
            "In context=('properties', 'x'), schema must have a 'type' key.",
        ),
    ],
)
def test_violations_name_the_first_reason(schema, reason) -> None:
    assert next(violations(schema)) == reason
    assert not is_compatible(schema)


def test_a_strict_compatible_schema_passes() -> None:
    assert list(violations(GOOD)) == []


def _v2(schema, strict=True):
    return {"type": "function", "function": {"name": "f", "parameters": schema, "strict": strict}}


async def test_assistants_and_runs_refuse_a_strict_schema_outside_strict_mode(
    sandbox_project,
) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.assistants.create(model="gpt-4o", tools=[_v2(MISSING)])
    assert info.value.body == {
        "message": PREFIX + "In context=(), 'required' is required to be supplied and to be an "
        "array including every key in properties. Missing 'b'.",
        "type": "invalid_request_error",
        "param": "tools[0].function.parameters",
        "code": "invalid_function_parameters",
    }
    # Assistants default `strict` to false: the same schema without it is taken as it is
    assistant = await client.beta.assistants.create(
        model="gpt-4o", tools=[{"type": "function", "function": {"name": "f", "parameters": OPEN}}]
    )
    assert assistant.tools[0].function.strict is False
    thread = await client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, tools=[_v2(OPEN)]
        )
    assert info.value.body["param"] == "tools[0].function.parameters"
    assert info.value.body["message"].startswith(PREFIX + "In context=(), 'additionalProperties'")
    ok = await client.beta.assistants.create(model="gpt-4o", tools=[_v2(GOOD)])
    assert ok.tools[0].function.strict is True


async def test_responses_refuse_strict_and_default_to_strict_when_compatible(
    sandbox_project,
) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(
            model="gpt-4o",
            input="hi",
            tools=[{"type": "function", "name": "f", "parameters": UNKNOWN_TYPE, "strict": True}],
        )
    assert info.value.body["param"] == "tools[0].parameters"
    assert info.value.body["code"] == "invalid_function_parameters"
    # `strict` omitted: strict when the schema allows it, non-strict otherwise (the spec)
    response = await client.responses.create(
        model="gpt-4o",
        input="hi",
        tools=[
            {"type": "function", "name": "good", "parameters": GOOD},
            {"type": "function", "name": "open", "parameters": OPEN},
        ],
    )
    assert [tool.strict for tool in response.tools] == [True, False]
