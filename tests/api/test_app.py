from __future__ import annotations

import httpx

from store.api_tokens import Scope
from tests.api.conftest import RunningApi


async def test_health_answers_without_a_token(api: RunningApi) -> None:
    async with await api.client() as http:
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_openapi_docs_list_every_route(api: RunningApi) -> None:
    async with await api.client() as http:
        docs = await http.get("/docs")
        schema = (await http.get("/openapi.json")).json()
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert {
        "/health",
        "/assistants",
        "/assistants/{assistant_id}",
        "/assistants/{assistant_id}/tools",
        "/assistants/{assistant_id}/tools/{tool_id}",
        "/assistants/export",
        "/assistants/import",
        "/tools",
        "/tools/{tool_id}",
        "/jobs/{kind}",
        "/jobs/{job_id}",
        "/jobs/{job_id}/result",
        "/jobs/{job_id}/events",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_a_route_that_does_not_exist_is_a_json_404(api: RunningApi) -> None:
    async with await api.client(Scope.read) as http:
        response = await http.get("/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "fields": []}}


async def test_cors_is_off_by_default(api: RunningApi) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as http:
        preflight = await http.options(
            "/assistants",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        plain = await http.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in plain.headers
