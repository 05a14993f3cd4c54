"""Admin routes under /_sandbox: what tests and benchmarks steer the sandbox with."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from sandbox.server import ThreadedSandbox
from sandbox.state import SandboxState


@pytest.fixture
async def admin(sandbox_project) -> AsyncIterator[httpx.AsyncClient]:
    root = sandbox_project.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=f"{root}/_sandbox") as http:
        yield http


async def test_health_needs_no_key(admin) -> None:
    answer = await admin.get("/health")
    assert answer.status_code == 200 and answer.json() == {"ok": True}


async def test_add_key_makes_a_working_project(admin, sandbox_project) -> None:
    answer = await admin.post(
        "/keys",
        json={"key": "sk-admin-made-key-0001", "org_id": "org-adm", "project_id": "proj_adm"},
    )
    assert answer.status_code == 201 and answer.json()["org_id"] == "org-adm"
    client = openai.AsyncOpenAI(
        api_key="sk-admin-made-key-0001", base_url=sandbox_project.base_url, max_retries=0
    )
    await client.files.create(file=("a.txt", b"a"), purpose="assistants")
    project = (await admin.get("/projects/proj_adm")).json()
    assert project["objects"] == {"file": 1}
    missing = await admin.post("/keys", json={"key": "k"})
    assert missing.status_code == 400


async def test_counters_count_requests_per_route_and_status(admin, sandbox_project) -> None:
    client = sandbox_project.client()
    made = await client.files.create(file=("a.txt", b"a"), purpose="assistants")
    await client.files.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve("file-doesnotexist00")
    counters = (await admin.get("/counters")).json()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in counters["requests"]}
    assert rows[("GET", "/v1/files/{id}", 200)] >= 1
    assert rows[("GET", "/v1/files/{id}", 404)] >= 1
    assert rows[("POST", "/v1/files", 200)] >= 1
    assert counters["objects"][sandbox_project.project_id] == {"file": 1}


async def test_limits_quota_and_downloads_are_set_per_project(admin, sandbox_project) -> None:
    url = f"/projects/{sandbox_project.project_id}"
    client = sandbox_project.client()
    made = await client.files.create(file=("a.txt", b"abc"), purpose="assistants")

    await admin.patch(url, json={"allow_all_downloads": True})
    assert (await client.files.content(made.id)).content == b"abc"

    await admin.patch(url, json={"limits": {"requests_per_minute": 7}})
    listed = await client.files.with_raw_response.list()
    assert listed.http_response.headers["x-ratelimit-limit-requests"] == "7"

    await admin.patch(
        url, json={"insufficient_quota": True, "quota_code": "billing_hard_limit_reached"}
    )
    with pytest.raises(openai.RateLimitError) as info:
        await client.files.list()
    assert info.value.code == "billing_hard_limit_reached"
    assert info.value.type == "insufficient_quota"
    await admin.patch(url, json={"insufficient_quota": False})
    await client.files.list()
    assert (await admin.get("/projects/proj_missing")).status_code == 404


async def test_faults_are_added_listed_and_removed(admin, sandbox_project) -> None:
    client = sandbox_project.client()
    fault = {
        "kind": "error",
        "status": 503,
        "path": "/v1/files",
        "project_id": sandbox_project.project_id,
    }
    added = await admin.post("/faults", json=fault)
    assert added.status_code == 201
    with pytest.raises(openai.InternalServerError):
        await client.files.list()
    fault_id = added.json()["id"]
    assert fault_id in [f["id"] for f in (await admin.get("/faults")).json()["data"]]
    assert (await admin.delete(f"/faults/{fault_id}")).status_code == 200
    await client.files.list()
    assert (await admin.post("/faults", json={"kind": "nope"})).status_code == 400


async def test_reset_drops_objects_but_keeps_keys() -> None:
    # reset touches every project, so it runs on a sandbox of its own
    state = SandboxState()
    state.add_key("sk-reset-test-key-0000", "org-r", "proj_r")
    with ThreadedSandbox(state) as server:
        client = openai.AsyncOpenAI(
            api_key="sk-reset-test-key-0000", base_url=server.base_url, max_retries=0
        )
        await client.files.create(file=("a.txt", b"a"), purpose="assistants")
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{server.base_url.removesuffix('/v1')}/_sandbox/reset")
        assert answer.json() == {"reset": True}
        assert [f async for f in client.files.list()] == []


async def test_admin_token_guards_the_admin_routes() -> None:
    state = SandboxState(admin_token="admin-secret")
    with ThreadedSandbox(state) as server:
        root = server.base_url.removesuffix("/v1")
        async with httpx.AsyncClient(base_url=f"{root}/_sandbox") as http:
            refused = await http.get("/counters")
            allowed = await http.get("/counters", headers={"Authorization": "Bearer admin-secret"})
    assert refused.status_code == 401
    assert allowed.status_code == 200


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
async def test_seed_loads_the_demo_world() -> None:
    from tests.sandbox.openapi import assert_matches

    with ThreadedSandbox(SandboxState(ingestion_seconds=60)) as server:
        root = server.base_url.removesuffix("/v1")
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{root}/_sandbox/seed", json={})
            missing = await http.post(f"{root}/_sandbox/seed", json={"path": "/nope.json"})
        assert missing.status_code == 400
        made = answer.json()["projects"]
        assert set(made) == {"proj_demo_src", "proj_demo_dst"}
        src = made["proj_demo_src"]
        client = openai.AsyncOpenAI(api_key=src["keys"][0], base_url=server.base_url, max_retries=0)
        assistants = [a async for a in client.beta.assistants.list()]
        assert len(assistants) == 4
        raw = await client.beta.assistants.with_raw_response.list()
        for body in raw.http_response.json()["data"]:
            assert_matches("AssistantObject", body, strict=True)
        languages = {a.metadata["lang"] for a in assistants}
        assert languages == {"pt", "ru", "es", "en"}
        stores = [s async for s in client.vector_stores.list()]
        # seeded data is ingested already, whatever the sandbox's ingestion delay
        assert len(stores) == 2 and {s.status for s in stores} == {"completed"}
        pdf = src["files"]["sla"]
        support = src["vector_stores"]["support_kb"]
        pages = [
            p.text async for p in client.vector_stores.files.content(pdf, vector_store_id=support)
        ]
        assert "99.9 percent" in pages[0]
        forecast = await client.files.content(src["files"]["forecast"])
        assert forecast.content.startswith(b"month,region,forecast_revenue_rub")

        dst = made["proj_demo_dst"]
        other = openai.AsyncOpenAI(api_key=dst["keys"][0], base_url=server.base_url, max_retries=0)
        assert [a async for a in other.beta.assistants.list()] == []
        assert dst["org_id"] != src["org_id"]
        # seeding again replaces, never duplicates
        async with httpx.AsyncClient() as http:
            await http.post(f"{root}/_sandbox/seed")
        assert len([a async for a in client.beta.assistants.list()]) == 4


async def test_queued_model_outputs_answer_the_next_turns(admin, sandbox_project) -> None:
    client = sandbox_project.client()
    route = f"/projects/{sandbox_project.project_id}/model/outputs"
    queued = await admin.post(
        route,
        json={
            "outputs": [
                "Exactly this.",
                {"tool_calls": [{"name": "get_price", "arguments": {"symbol": "ETH"}}]},
            ]
        },
    )
    assert queued.status_code == 201 and queued.json() == {"queued": 2}
    tools = [{"type": "function", "name": "get_price", "parameters": {"type": "object"}}]

    first = await client.responses.create(model="gpt-4o", input="anything")
    second = await client.responses.create(model="gpt-4o", input="anything", tools=tools)
    third = await client.responses.create(model="gpt-4o", input="back to the script")

    assert first.output_text == "Exactly this."
    [call] = [item for item in second.output if item.type == "function_call"]
    assert call.name == "get_price" and call.arguments == '{"symbol": "ETH"}'
    assert third.output_text.endswith("You said: back to the script")
    bad = await admin.post(route, json={"outputs": "not a list"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "outputs"


async def test_model_timing_is_set_per_project(admin, sandbox_project) -> None:
    answer = await admin.patch(
        f"/projects/{sandbox_project.project_id}/model/timing", json={"run_step_seconds": 0.2}
    )
    assert answer.json() == {"run_step_seconds": 0.2, "response_latency_seconds": 0.0}
