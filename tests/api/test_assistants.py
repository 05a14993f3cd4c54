from __future__ import annotations

import asyncio

import httpx
import pytest
from arq.connections import ArqRedis

from schemas.keys import RedisKeys
from store.api_tokens import Scope
from tests.api.conftest import RunningApi
from tests.specs import TRADER as SPEC
from worker.registry import ConfigCache


@pytest.fixture
async def http(api: RunningApi) -> httpx.AsyncClient:
    client = await api.client(Scope.read, Scope.registry_write)
    async with client:
        yield client


def fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {f["loc"]: f["message"] for f in response.json()["error"]["fields"]}


async def test_create_read_list_and_refuse_a_second_create(http: httpx.AsyncClient) -> None:
    created = await http.post("/assistants", json=SPEC)
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    body = created.json()
    assert body["created"] is True
    assert body["assistant"]["version"] == 1 and body["assistant"]["profile"] == "default"
    assert body["assistant"]["spec"] == SPEC
    assistant_id = body["assistant"]["id"]

    got = await http.get(f"/assistants/{assistant_id}")
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    assert got.json()["spec"] == SPEC
    listed = await http.get("/assistants", params={"profile": "default"})
    assert [a["name"] for a in listed.json()["data"]] == ["trader"]
    assert (await http.get("/assistants", params={"profile": "other"})).json() == {"data": []}

    again = await http.post("/assistants", json=SPEC)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        "profile 'default' already has 'trader': PUT or PATCH it"
    )
    missing = await http.get("/assistants/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_bad_specs_name_each_field_and_change_nothing(http: httpx.AsyncClient) -> None:
    bad = {
        **SPEC,
        "temperature": "hot",
        "tools": [
            {
                "type": "function",
                "name": "get_price",
                "parameters": {"type": "object", "properties": {"symbol": {"type": "strin"}}},
            }
        ],
        "metadata": {"note": "x" * 600},
    }
    problems = fields(await http.post("/assistants", json=bad))
    assert set(problems) == {
        "temperature",
        "tools[0].parameters.properties.symbol.type",
        "metadata.note",
    }
    assert problems["metadata.note"] == "metadata['note'] is 600 characters; OpenAI allows 512"
    assert fields(await http.post("/assistants", json={"name": "x"})) == {"model": "Field required"}
    not_json = await http.post(
        "/assistants", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert fields(not_json) == {
        "body": "not valid JSON: Expecting property name enclosed in double quotes"
    }
    assert (await http.get("/assistants")).json() == {"data": []}


async def test_put_and_patch_honour_if_match_and_reach_worker_caches(
    http: httpx.AsyncClient, api: RunningApi, redis: ArqRedis
) -> None:
    assistant_id = (await http.post("/assistants", json=SPEC)).json()["assistant"]["id"]
    cache = ConfigCache(redis, api.db, RedisKeys(api.settings.redis_key_prefix))
    await cache.start()
    try:
        assert (await cache.get("default", "trader")).version == 1
        edited = {**SPEC, "instructions": "Be brief."}
        put = await http.put(
            f"/assistants/{assistant_id}", json=edited, headers={"If-Match": '"1"'}
        )
        assert put.status_code == 200 and put.headers["etag"] == '"2"'
        assert put.json()["changes"] == [
            {"field": "instructions", "before": SPEC["instructions"], "after": "Be brief."}
        ]
        # the API's announcement dropped the worker's cached copy at once
        assert (await cache.get("default", "trader")).spec.instructions == "Be brief."

        stale = await http.patch(
            f"/assistants/{assistant_id}", json={"model": "gpt-4.1"}, headers={"If-Match": '"1"'}
        )
        assert stale.status_code == 412
        assert stale.json()["error"] == {
            "code": "precondition_failed",
            "message": "'trader' is at version 2, not 1: read it again",
            "fields": [],
        }
        patched = await http.patch(
            f"/assistants/{assistant_id}",
            json={"model": "gpt-4.1", "description": "Prices."},
            headers={"If-Match": '"2"'},
        )
        assert patched.status_code == 200
        spec = patched.json()["assistant"]["spec"]
        assert spec == {**edited, "model": "gpt-4.1", "description": "Prices."}
        assert (await cache.get("default", "trader")).spec.model == "gpt-4.1"
        unset = await http.patch(f"/assistants/{assistant_id}", json={"description": None})
        assert "description" not in unset.json()["assistant"]["spec"]
    finally:
        await cache.aclose()

    same = await http.put(f"/assistants/{assistant_id}", json=unset.json()["assistant"]["spec"])
    assert same.json()["changes"] == [] and same.json()["assistant"]["version"] == 4
    renamed = await http.put(f"/assistants/{assistant_id}", json={**SPEC, "name": "other"})
    assert fields(renamed) == {"name": "is 'trader'; renaming is not supported over HTTP"}
    unknown = await http.patch(f"/assistants/{assistant_id}", json={"colour": "red"})
    assert fields(unknown) == {"colour": "Extra inputs are not permitted"}
    bad_version = await http.patch(
        f"/assistants/{assistant_id}", json={}, headers={"If-Match": "latest"}
    )
    assert fields(bad_version) == {"If-Match": "expected the version, as the ETag gives it"}

    history = (await http.get(f"/assistants/{assistant_id}/history")).json()["data"]
    assert [v["version"] for v in history] == [4, 3, 2, 1]
    assert [c["field"] for c in history[1]["changes"]] == ["model", "description"]
    assert history[-1]["spec"] == SPEC


async def test_delete_and_sub_assistant_rules(http: httpx.AsyncClient) -> None:
    helper = (await http.post("/assistants", json={**SPEC, "name": "helper"})).json()
    caller_spec = {
        "name": "caller",
        "model": "gpt-4o",
        "tools": [{"type": "sub_assistant", "name": "ask_helper", "assistant": "helper"}],
    }
    caller = (await http.post("/assistants", json=caller_spec)).json()
    helper_id, caller_id = helper["assistant"]["id"], caller["assistant"]["id"]

    looped = {
        **SPEC,
        "name": "helper",
        "tools": [{"type": "sub_assistant", "name": "ask_caller", "assistant": "caller"}],
    }
    cycle = await http.put(f"/assistants/{helper_id}", json=looped)
    assert fields(cycle) == {"tools": "a cycle of sub-assistant calls: helper → caller → helper"}
    ghost = {**caller_spec, "tools": [{"type": "sub_assistant", "name": "g", "assistant": "ghost"}]}
    assert fields(await http.put(f"/assistants/{caller_id}", json=ghost)) == {
        "tools[0].assistant": "no assistant 'ghost' in profile 'default'"
    }

    refused = await http.delete(f"/assistants/{helper_id}")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "'helper' is a sub-assistant of caller: change those first"
    )
    assert (await http.delete(f"/assistants/{caller_id}")).status_code == 204
    assert (await http.delete(f"/assistants/{helper_id}")).status_code == 204
    assert (await http.get(f"/assistants/{helper_id}")).status_code == 404
    assert (await http.delete(f"/assistants/{helper_id}")).status_code == 404


async def test_export_then_import_elsewhere_gives_the_same_specs(http: httpx.AsyncClient) -> None:
    await http.post("/assistants", json=SPEC)
    await http.post("/assistants", json={"name": "aaa", "model": "gpt-4o-mini"})
    snapshot = (await http.get("/assistants/export")).json()
    assert snapshot["format"] == "ferry.assistants" and snapshot["profile"] == "default"
    assert [a["name"] for a in snapshot["assistants"]] == ["aaa", "trader"]

    imported = await http.post("/assistants/import", params={"profile": "copy"}, json=snapshot)
    assert imported.status_code == 200
    assert imported.json()["imported"] == 2 and imported.json()["changed"] == 2
    again = await http.post("/assistants/import", params={"profile": "copy"}, json=snapshot)
    assert again.json()["changed"] == 0
    copy = (await http.get("/assistants/export", params={"profile": "copy"})).json()
    assert copy["assistants"] == snapshot["assistants"]

    dump = [{"id": "asst_1", "object": "assistant", "name": "old", "model": "gpt-4"}]
    no_profile = await http.post("/assistants/import", json=dump)
    assert fields(no_profile) == {"profile": "a raw Assistants-API dump needs ?profile="}
    broken = {**snapshot, "assistants": [{"name": "x"}]}
    assert fields(await http.post("/assistants/import", json=broken)) == {
        "assistants[0].model": "Field required"
    }


async def test_two_writers_at_one_version_one_wins_one_gets_412(http: httpx.AsyncClient) -> None:
    assistant_id = (await http.post("/assistants", json=SPEC)).json()["assistant"]["id"]
    at_one = {"If-Match": '"1"'}
    answers = await asyncio.gather(
        http.patch(f"/assistants/{assistant_id}", json={"model": "a"}, headers=at_one),
        http.patch(f"/assistants/{assistant_id}", json={"model": "b"}, headers=at_one),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 412]
    [winner] = [answer for answer in answers if answer.status_code == 200]
    current = (await http.get(f"/assistants/{assistant_id}")).json()
    assert current["version"] == 2
    assert current["spec"]["model"] == winner.json()["assistant"]["spec"]["model"]
