"""Models per project: the catalogue, and OpenAI's model_not_found answer on each route."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from sandbox.models import DEFAULT_MODELS
from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_models_list_and_retrieve(sandbox_project) -> None:
    client = sandbox_project.client()
    raw = await client.models.with_raw_response.list()
    assert_matches("ListModelsResponse", json.loads(raw.text), strict=True)
    ids = [m.id async for m in client.models.list()]
    assert set(ids) == {*DEFAULT_MODELS, "m", "m2"}  # the test session adds "m" and "m2"
    raw = await client.models.with_raw_response.retrieve("gpt-4o")
    assert_matches("Model", json.loads(raw.text), strict=True)
    assert raw.parse().owned_by == "system"
    with pytest.raises(openai.NotFoundError) as info:
        await client.models.retrieve("gpt-9")
    assert info.value.body == {
        "message": "The model 'gpt-9' does not exist",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


async def test_a_project_without_the_model_refuses_it_on_every_route(
    sandbox_project, sandbox_server
) -> None:
    state = sandbox_server.state
    client = sandbox_project.client()
    assistant = await client.beta.assistants.create(model="gpt-4o-mini")
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    state.set_models(sandbox_project.project_id, ["gpt-4o"])
    assert [m.id async for m in client.models.list()] == ["gpt-4o"]

    with pytest.raises(openai.BadRequestError) as info:
        await client.beta.assistants.create(model="gpt-4o-mini")
    assert info.value.body == {
        "message": "The requested model 'gpt-4o-mini' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    with pytest.raises(openai.BadRequestError):
        await client.beta.assistants.update(assistant.id, model="gpt-4o-mini")

    serving = {
        "message": "The model `gpt-4o-mini` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
    # a run of an assistant whose model the project lost (a cross-project clone meets this)
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert info.value.body == serving
    with pytest.raises(openai.NotFoundError) as info:
        await client.beta.threads.create_and_run(assistant_id=assistant.id)
    assert info.value.body == serving
    with pytest.raises(openai.NotFoundError) as info:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    assert info.value.body == serving
    # the run model can be overridden with one the project has
    run = await client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, model="gpt-4o"
    )
    assert run.model == "gpt-4o"


async def test_models_are_set_through_the_admin_routes(sandbox_project) -> None:
    root = sandbox_project.base_url.removesuffix("/v1")
    client = sandbox_project.client()
    async with httpx.AsyncClient(base_url=f"{root}/_sandbox") as admin:
        path = f"/projects/{sandbox_project.project_id}/models"
        answer = await admin.put(path, json={"models": ["gpt-4o", "ft:gpt-4o:acme::abc123"]})
        assert answer.json() == {"data": ["gpt-4o", "ft:gpt-4o:acme::abc123"]}
        answer = await admin.post(path, json={"models": ["o3"]})
        assert answer.json()["data"] == ["gpt-4o", "ft:gpt-4o:acme::abc123", "o3"]
        fine_tuned = await client.models.retrieve("ft:gpt-4o:acme::abc123")
        assert fine_tuned.id == "ft:gpt-4o:acme::abc123"
        answer = await admin.delete(f"{path}/ft:gpt-4o:acme::abc123")
        assert answer.json()["data"] == ["gpt-4o", "o3"]
        view = (await admin.get(f"/projects/{sandbox_project.project_id}")).json()
        assert view["models"] == ["gpt-4o", "o3"]
        answer = await admin.put(path, json={"models": "gpt-4o"})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "models"
