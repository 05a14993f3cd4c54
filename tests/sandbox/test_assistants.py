"""Assistants v2 CRUD on the sandbox, driven by the official SDK."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from sandbox.routes import files, vector_stores
from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_price",
        "description": "Price of a symbol",
        "parameters": {
            "type": "object",
            "properties": {"symbol": {"type": "string"}},
            "required": ["symbol"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


async def test_create_retrieve_update_delete_round_trip(sandbox_project) -> None:
    client = sandbox_project.client()
    raw = await client.beta.assistants.with_raw_response.create(
        model="gpt-4o",
        name="Helper",
        instructions="Be brief.",
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}, FUNCTION],
        metadata={"team": "ops"},
        temperature=0.2,
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    body = json.loads(raw.text)
    assert_matches("AssistantObject", body, strict=True)
    created = raw.parse()
    assert created.id.startswith("asst_")
    assert [t.type for t in created.tools] == ["code_interpreter", "file_search", "function"]
    assert created.tools[2].function.strict is True
    assert created.temperature == pytest.approx(0.2)
    assert created.response_format.type == "json_object"

    fetched = await client.beta.assistants.retrieve(created.id)
    assert fetched.instructions == "Be brief."

    updated = await client.beta.assistants.update(
        created.id, instructions="Be thorough.", metadata={"team": "dev"}
    )
    assert updated.instructions == "Be thorough."
    assert updated.name == "Helper"  # fields not sent are kept
    assert updated.metadata == {"team": "dev"}

    raw_deleted = await client.beta.assistants.with_raw_response.delete(created.id)
    assert_matches("DeleteAssistantResponse", json.loads(raw_deleted.text), strict=True)
    assert raw_deleted.parse().deleted is True
    with pytest.raises(openai.NotFoundError):
        await client.beta.assistants.retrieve(created.id)


async def test_list_auto_paginates_over_more_than_one_hundred(sandbox_project) -> None:
    client = sandbox_project.client()
    made = await asyncio.gather(
        *(client.beta.assistants.create(model="gpt-4o", name=f"a{i}") for i in range(105))
    )
    seen = [a.id async for a in client.beta.assistants.list(limit=100)]
    assert len(seen) == 105
    assert set(seen) == {a.id for a in made}
    # Newest first by default; ascending order reverses it exactly.
    ascending = [a.id async for a in client.beta.assistants.list(limit=40, order="asc")]
    assert ascending == list(reversed(seen))
    raw = await client.beta.assistants.with_raw_response.list(limit=2)
    assert_matches("ListAssistantsResponse", json.loads(raw.text))


async def test_list_limit_above_one_hundred_is_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.assistants.list(limit=101)
    assert info.value.param == "limit"


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata"),
        ({"k" * 65: "v"}, "metadata"),
        ({"key": "v" * 513}, "metadata.key"),
    ],
    ids=["17-keys", "65-char-key", "513-char-value"],
)
async def test_metadata_beyond_limits_is_refused(sandbox_project, metadata, param) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.assistants.create(model="gpt-4o", metadata=metadata)
    assert info.value.param == param
    assert info.value.type == "invalid_request_error"
    # A limit-sized map is fine.
    ok = await client.beta.assistants.create(
        model="gpt-4o", metadata={f"{i:064d}": "v" * 512 for i in range(16)}
    )
    assert len(ok.metadata) == 16


async def test_unknown_tool_resource_ids_are_refused_naming_the_param(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.assistants.create(
            model="gpt-4o",
            tools=[{"type": "code_interpreter"}],
            tool_resources={"code_interpreter": {"file_ids": ["file-nope"]}},
        )
    assert info.value.param == "tool_resources.code_interpreter.file_ids"
    assert "file-nope" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.assistants.create(
            model="gpt-4o",
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_store_ids": ["vs_nope"]}},
        )
    assert info.value.param == "tool_resources.file_search.vector_store_ids"
    assert "vs_nope" in info.value.message
    assert [a async for a in client.beta.assistants.list()] == []


@pytest.mark.skipif(
    not (files.routes and vector_stores.routes), reason="Files / Vector stores not served yet"
)
async def test_known_tool_resource_ids_are_kept(sandbox_project) -> None:
    client = sandbox_project.client()
    uploaded = await client.files.create(file=("a.txt", b"hello"), purpose="assistants")
    store = await client.vector_stores.create(name="kb")
    created = await client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "code_interpreter"}, {"type": "file_search"}],
        tool_resources={
            "code_interpreter": {"file_ids": [uploaded.id]},
            "file_search": {"vector_store_ids": [store.id]},
        },
    )
    fetched = await client.beta.assistants.retrieve(created.id)
    assert fetched.tool_resources.code_interpreter.file_ids == [uploaded.id]
    assert fetched.tool_resources.file_search.vector_store_ids == [store.id]


async def test_a_refused_update_changes_nothing(sandbox_project) -> None:
    client = sandbox_project.client()
    created = await client.beta.assistants.create(model="gpt-4o", name="keep")
    with pytest.raises(openai.BadRequestError):
        await client.beta.assistants.update(
            created.id, name="changed", tools=[{"type": "retrieval"}]
        )
    assert (await client.beta.assistants.retrieve(created.id)).name == "keep"


async def test_missing_model_and_missing_beta_header_are_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.post(
            "/assistants",
            body={"name": "x"},
            cast_to=object,
            options={"headers": {"OpenAI-Beta": "assistants=v2"}},
        )
    assert info.value.code == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as info:
        await client.get("/assistants", cast_to=object)
    assert "OpenAI-Beta" in info.value.message


async def test_other_projects_cannot_see_an_assistant(sandbox_project, sandbox_server) -> None:
    client = sandbox_project.client()
    created = await client.beta.assistants.create(model="gpt-4o")
    sandbox_server.state.add_key("sk-proj-other-assistants-test", "org-other", "proj_other")
    other = openai.AsyncOpenAI(
        api_key="sk-proj-other-assistants-test", base_url=sandbox_project.base_url, max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        await other.beta.assistants.retrieve(created.id)
