from __future__ import annotations

import asyncpg
import httpx

from producers.client import FerryClient
from store import api_tokens
from store.api_tokens import Scope
from tests.api.conftest import RunningApi, api_settings, serving
from worker.settings import Settings

SPEC = {"name": "clerk", "model": "gpt-4o"}


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_no_token_or_a_wrong_one_is_401(api: RunningApi) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as http:
        missing = await http.get("/assistants")
        wrong = await http.get("/assistants", headers={"Authorization": "Bearer fry_nottoken"})
        basic = await http.get("/assistants", headers={"Authorization": "Basic dTpw"})
    for response in (missing, wrong, basic):
        assert_refused(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    assert "fry_nottoken" not in wrong.text


async def test_a_token_without_the_routes_scope_is_403(api: RunningApi) -> None:
    async with await api.client(Scope.read) as reader:
        listed = await reader.get("/assistants")
        created = await reader.post("/assistants", json=SPEC)
        enqueued = await reader.post("/jobs/test.probe", json={"payload": {"message": "hi"}})
    assert listed.status_code == 200 and listed.json() == {"data": []}
    assert_refused(created, 403, "forbidden")
    assert created.json()["error"]["message"] == (
        "this needs scope 'registry:write'; the token has read"
    )
    assert_refused(enqueued, 403, "forbidden")
    async with await api.client(Scope.registry_write) as writer:
        assert_refused(await writer.get("/assistants"), 403, "forbidden")
        assert (await writer.post("/assistants", json=SPEC)).status_code == 201


async def test_a_revoked_token_is_refused_at_once(api: RunningApi) -> None:
    token, row = await api_tokens.create(
        api.db, deployment=api.settings.redis_key_prefix, name="gateway", scopes={Scope.read}
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api.base_url, headers=headers) as http:
        assert (await http.get("/assistants")).status_code == 200
        async with await FerryClient.connect(api.settings.client_settings()) as ferry:
            assert await api_tokens.revoke(api.db, ferry.redis, ferry.keys, row.id)
        assert_refused(await http.get("/assistants"), 401, "unauthorized")
    listed = await api_tokens.list_tokens(api.db, api.settings.redis_key_prefix)
    assert [(t.name, t.revoked_at is not None) for t in listed] == [("gateway", True)]


async def test_tokens_of_one_deployment_do_not_open_another(
    db: asyncpg.Pool, settings: Settings
) -> None:
    ours = api_settings(settings)
    theirs = api_settings(settings, redis_key_prefix=f"{settings.redis_key_prefix}-other")
    async with serving(ours, db) as api_ours, serving(theirs, db) as api_theirs:
        token = await api_ours.token(Scope.read)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers) as http:
            at_home = await http.get(f"{api_ours.base_url}/assistants")
            abroad = await http.get(f"{api_theirs.base_url}/assistants")
    assert at_home.status_code == 200
    assert_refused(abroad, 401, "unauthorized")


async def test_only_a_hash_of_the_token_is_stored(api: RunningApi) -> None:
    token = await api.token(Scope.read)
    rows = await api.db.fetch("SELECT * FROM api_tokens")
    assert len(rows) == 1
    assert token not in repr(dict(rows[0]))
    assert rows[0]["digest"] == api_tokens.digest(token)


async def test_a_body_over_the_limit_is_413_declared_or_streamed(
    db: asyncpg.Pool, settings: Settings
) -> None:
    limited = api_settings(settings, api_max_body_bytes=1000)
    async with serving(limited, db) as api, await api.client(Scope.registry_write) as http:
        big = {**SPEC, "instructions": "x" * 2000}
        declared = await http.post("/assistants", json=big)

        async def chunks():  # no Content-Length: the body is counted as it arrives
            for _ in range(4):
                yield b"x" * 400

        streamed = await http.post(
            "/assistants", content=chunks(), headers={"Content-Type": "application/json"}
        )
        small = await http.post("/assistants", json=SPEC)
    assert_refused(declared, 413, "too_large")
    assert declared.json()["error"]["message"] == "the request body is over 1000 bytes"
    assert_refused(streamed, 413, "too_large")
    assert small.status_code == 201


async def test_an_unexpected_failure_is_a_500_without_a_trace(api: RunningApi) -> None:
    async with await api.client(Scope.read) as http:
        await api.db.execute("DROP TABLE tool_library_links, tool_library")
        response = await http.get("/tools")
    assert_refused(response, 500, "internal")
    message = response.json()["error"]["message"]
    assert message.startswith("internal error (request ") and "see the API's log" in message
    assert "Traceback" not in response.text and "tool_library" not in response.text


async def test_cors_allows_only_the_configured_origins(
    db: asyncpg.Pool, settings: Settings
) -> None:
    configured = api_settings(settings, api_cors_origins="https://ops.example.com")
    async with serving(configured, db) as api, httpx.AsyncClient(base_url=api.base_url) as http:
        allowed = await http.options(
            "/assistants",
            headers={"Origin": "https://ops.example.com", "Access-Control-Request-Method": "GET"},
        )
        other = await http.options(
            "/assistants",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
    assert "access-control-allow-origin" not in other.headers
