"""The gateway's small truths: JSON errors for unknown routes, the missing-key message, and
integer-second timestamps everywhere."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nothing/here"), ("DELETE", "/v1/models"), ("PUT", "/v1/responses")],
)
async def test_unknown_routes_and_methods_answer_openais_json_error(
    sandbox_project, method: str, path: str
) -> None:
    root = sandbox_project.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {sandbox_project.api_key}"}
    async with httpx.AsyncClient(base_url=root) as http:
        answer = await http.request(method, path, headers=headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert_matches("ErrorResponse", body)
    assert body == {
        "error": {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_the_sdk_sees_an_unknown_route_as_not_found(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.NotFoundError) as info:
        await client.get("/nothing/here", cast_to=object)
    assert info.value.body["message"] == "Invalid URL (GET /v1/nothing/here)"


async def test_a_missing_authorization_header_gets_openais_message(sandbox_project) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{sandbox_project.base_url}/models")
    assert answer.status_code == 401
    body = answer.json()
    assert_matches("ErrorResponse", body)
    assert body["error"]["message"].startswith(
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)"
    )
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] is None


def _timestamps(value: Any, where: str = "") -> list[tuple[str, Any]]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at") or key == "created":
                found.append((f"{where}.{key}", item))
            found += _timestamps(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _timestamps(item, f"{where}[{i}]")
    return found


async def test_every_timestamp_is_integer_seconds(sandbox_project) -> None:
    client = sandbox_project.client()
    bodies = []

    async def keep(call) -> Any:
        raw = await call
        bodies.append(json.loads(raw.text))
        return raw.parse()

    await keep(client.responses.with_raw_response.create(model="gpt-4o", input="hi"))
    await keep(client.models.with_raw_response.retrieve("gpt-4o"))
    upload = await keep(
        client.files.with_raw_response.create(file=("a.txt", b"tea"), purpose="assistants")
    )
    store = await keep(client.vector_stores.with_raw_response.create(file_ids=[upload.id]))
    await keep(client.vector_stores.files.with_raw_response.list(store.id))
    assistant = await keep(client.beta.assistants.with_raw_response.create(model="gpt-4o"))
    thread = await keep(
        client.beta.threads.with_raw_response.create(messages=[{"role": "user", "content": "x"}])
    )
    run = await asyncio.wait_for(
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id),
        5.0,
    )
    await keep(client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id))
    await keep(client.beta.threads.runs.steps.with_raw_response.list(run.id, thread_id=thread.id))
    await keep(client.beta.threads.messages.with_raw_response.list(thread.id))
    conversation = await keep(client.conversations.with_raw_response.create())
    await keep(client.conversations.items.with_raw_response.list(conversation.id))
    stamps = [stamp for body in bodies for stamp in _timestamps(body)]
    assert len(stamps) == 27  # every *_at of the bodies above, null ones included
    wrong = [
        (where, value) for where, value in stamps if value is not None and type(value) is not int
    ]
    assert wrong == []
