"""The v2 adapter against the sandbox's /v1/assistants: pages, exact specs, updates, refusals."""

from __future__ import annotations

import openai
import pytest

from schemas.assistants import AssistantSpec, parse_spec
from tests.conftest import SandboxProject
from worker.backends.assistants_v2 import AssistantsV2Backend

# Every field set, so what the server fills in by default cannot hide a lost field.
SPEC = {
    "name": "trader",
    "model": "gpt-4o",
    "description": "Quotes prices",
    "instructions": "Answer with the latest price.",
    "temperature": 0.2,
    "top_p": 0.9,
    "response_format": {"type": "json_object"},
    "tools": [
        {
            "type": "function",
            "name": "get_price",
            "description": "Price of a symbol",
            "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}},
            "strict": False,
        },
        {
            "type": "file_search",
            "max_num_results": 5,
            "ranking_options": {"ranker": "auto", "score_threshold": 0.5},
        },
        {"type": "code_interpreter"},
        {"type": "sub_assistant", "name": "ask_analyst", "assistant": "analyst"},
    ],
    "metadata": {"team": "markets"},
}


async def test_create_get_update_delete_keep_the_spec_exact(
    sandbox_project: SandboxProject,
) -> None:
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="prices")
    spec = parse_spec({**SPEC, "tool_resources": {"file_search": {"vector_store_ids": [store.id]}}})
    backend = AssistantsV2Backend(client)
    created = await backend.create(spec)
    assert created.id.startswith("asst_") and created.spec == spec
    fetched = await backend.get(created.id)
    assert fetched is not None and fetched.spec == spec
    edited = spec.model_copy(update={"instructions": "Be brief.", "description": None})
    updated = await backend.update(created.id, edited)
    assert updated.spec.instructions == "Be brief." and updated.spec.description is None
    assert (await backend.get(created.id)).spec == edited
    assert await backend.delete(created.id) is True
    assert await backend.get(created.id) is None
    assert await backend.delete(created.id) is False


async def test_list_all_follows_every_page_and_find_by_metadata(
    sandbox_project: SandboxProject,
) -> None:
    backend = AssistantsV2Backend(sandbox_project.client(), page_size=2)
    for i in range(5):
        await backend.create(
            AssistantSpec(name=f"a{i}", model="m", metadata={"cloned_from": f"asst_src{i % 2}"})
        )
    listed = await backend.list_all()
    assert [a.spec.name for a in listed] == ["a0", "a1", "a2", "a3", "a4"]
    found = await backend.find_by_metadata("cloned_from", "asst_src1")
    assert [a.spec.name for a in found] == ["a1", "a3"]


async def test_a_vector_store_the_project_lacks_is_refused_by_the_server(
    sandbox_project: SandboxProject,
) -> None:
    backend = AssistantsV2Backend(sandbox_project.client())
    spec = parse_spec(
        {
            "name": "a",
            "model": "m",
            "tool_resources": {"file_search": {"vector_store_ids": ["vs_x"]}},
        }
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await backend.create(spec)
    assert "tool_resources.file_search.vector_store_ids" in str(caught.value.body)
    assert await backend.list_all() == []
