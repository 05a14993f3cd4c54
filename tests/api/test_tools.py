from __future__ import annotations

import httpx
import pytest

from store.api_tokens import Scope
from tests.api.conftest import RunningApi

WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def http(api: RunningApi) -> httpx.AsyncClient:
    client = await api.client(Scope.read, Scope.registry_write)
    async with client:
        yield client


async def make_assistant(http: httpx.AsyncClient, name: str) -> str:
    created = await http.post("/assistants", json={"name": name, "model": "gpt-4o"})
    return created.json()["assistant"]["id"]


async def test_library_tool_crud_and_bad_definitions(http: httpx.AsyncClient) -> None:
    created = await http.post("/tools", json=WEATHER)
    assert created.status_code == 201
    tool = created.json()
    assert tool["name"] == "weather" and tool["version"] == 1 and tool["assistants"] == []
    assert (await http.get(f"/tools/{tool['id']}")).json()["definition"]["parameters"] == (
        WEATHER["parameters"]
    )
    assert [t["name"] for t in (await http.get("/tools")).json()["data"]] == ["weather"]
    taken = await http.post("/tools", json=WEATHER)
    assert taken.status_code == 409
    assert (
        taken.json()["error"]["message"] == "profile 'default' already has a library tool 'weather'"
    )

    broken = {**WEATHER, "parameters": {"type": "object", "properties": {"city": {"type": 7}}}}
    refused = await http.post("/tools", json=broken)
    assert refused.status_code == 422
    [field] = refused.json()["error"]["fields"]
    assert field["loc"] == "parameters.properties.city.type"
    assert field["message"] == (
        "not a valid JSON Schema at properties.city.type: "
        "7 is not valid under any of the given schemas"
    )
    assert (await http.delete(f"/tools/{tool['id']}")).status_code == 204
    assert (await http.get(f"/tools/{tool['id']}")).status_code == 404


async def test_linking_copies_the_tool_and_editing_it_rewrites_every_linked_assistant(
    http: httpx.AsyncClient,
) -> None:
    tool_id = (await http.post("/tools", json=WEATHER)).json()["id"]
    first, second = await make_assistant(http, "first"), await make_assistant(http, "second")
    for assistant_id in (first, second):
        linked = await http.post(f"/assistants/{assistant_id}/tools/{tool_id}")
        assert linked.status_code == 200
        assert linked.json()["assistant"]["version"] == 2
    tools = (await http.get(f"/assistants/{first}/tools")).json()["data"]
    assert tools == [{"definition": WEATHER, "library_tool_id": tool_id}]
    assert sorted((await http.get(f"/tools/{tool_id}")).json()["assistants"]) == sorted(
        [first, second]
    )

    refused = await http.delete(f"/tools/{tool_id}")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "'weather' is linked to first, second: unlink it first"
    )
    stale = await http.put(f"/tools/{tool_id}", json=WEATHER, headers={"If-Match": '"7"'})
    assert stale.status_code == 412

    better = {**WEATHER, "description": "Today's weather in a city."}
    replaced = await http.put(f"/tools/{tool_id}", json=better, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    for assistant_id in (first, second):
        assistant = (await http.get(f"/assistants/{assistant_id}")).json()
        assert assistant["version"] == 3 and assistant["spec"]["tools"] == [better]

    unlinked = await http.delete(f"/assistants/{first}/tools/{tool_id}")
    assert unlinked.status_code == 200 and unlinked.json()["assistant"]["spec"].get("tools") in (
        None,
        [],
    )
    assert (await http.delete(f"/assistants/{first}/tools/{tool_id}")).status_code == 404
    assert (await http.get(f"/tools/{tool_id}")).json()["assistants"] == [second]


async def test_a_tool_of_another_profile_cannot_be_linked(http: httpx.AsyncClient) -> None:
    tool_id = (await http.post("/tools", params={"profile": "other"}, json=WEATHER)).json()["id"]
    assistant_id = await make_assistant(http, "here")
    refused = await http.post(f"/assistants/{assistant_id}/tools/{tool_id}")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "the tool is of profile 'other', the assistant of 'default'"
    )
