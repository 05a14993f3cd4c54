"""Keys, orgs and projects: who may call, and which objects each caller sees."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.sandbox.openapi import assert_matches


async def test_unknown_key_answers_401_in_openais_shape(sandbox_project) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{sandbox_project.base_url}/files",
            headers={"Authorization": "Bearer sk-wrong-key-123456789"},
        )
    assert answer.status_code == 401
    assert_matches("ErrorResponse", answer.json())
    assert answer.json()["error"]["code"] == "invalid_api_key"
    # the key is shown masked, never in full
    assert "sk-wrong-key-123456789" not in answer.json()["error"]["message"]


async def test_matching_org_and_project_headers_are_accepted(sandbox_project) -> None:
    client = sandbox_project.client(
        organization=sandbox_project.org_id, project=sandbox_project.project_id
    )
    assert [f async for f in client.files.list()] == []


async def test_mismatched_organization_header_is_refused(sandbox_project) -> None:
    client = sandbox_project.client(organization="org-somebody-else")
    with pytest.raises(openai.AuthenticationError) as info:
        await client.files.list()
    assert info.value.code == "mismatched_organization"
    assert info.value.body["message"] == (
        "OpenAI-Organization header should match organization for API key"
    )
    assert_matches("ErrorResponse", {"error": info.value.body})


async def test_mismatched_project_header_is_refused(sandbox_project) -> None:
    client = sandbox_project.client(project="proj_somebody_else")
    with pytest.raises(openai.AuthenticationError) as info:
        await client.files.list()
    assert info.value.code == "mismatched_project"
    assert info.value.status_code == 401


async def test_two_keys_of_one_project_share_objects_other_projects_do_not(
    sandbox_project, sandbox_server
) -> None:
    state = sandbox_server.state
    state.add_key(
        "sk-second-key-of-same-project", sandbox_project.org_id, sandbox_project.project_id
    )
    state.add_key("sk-key-of-sibling-project-0001", sandbox_project.org_id, "proj_sibling_0001")
    url = sandbox_project.base_url
    same = openai.AsyncOpenAI(api_key="sk-second-key-of-same-project", base_url=url, max_retries=0)
    sibling = openai.AsyncOpenAI(
        api_key="sk-key-of-sibling-project-0001", base_url=url, max_retries=0
    )
    made = await sandbox_project.client().files.create(file=("a.txt", b"a"), purpose="assistants")
    assert (await same.files.retrieve(made.id)).id == made.id
    with pytest.raises(openai.NotFoundError):
        await sibling.files.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        await sibling.files.delete(made.id)
    assert (await same.files.retrieve(made.id)).id == made.id
