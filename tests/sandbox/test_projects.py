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


def test_config_file_maps_keys_to_orgs_and_projects(tmp_path) -> None:
    from sandbox.config import apply_config, read_config
    from sandbox.state import SandboxState

    path = tmp_path / "keys.yaml"
    path.write_text(
        "admin_token: tok\n"
        "allow_all_downloads: true\n"
        "keys:\n"
        "  - {key: sk-a, org: org-a, project: proj_a}\n"
        "  - {key: sk-b, org: org-b, project: proj_b}\n"
        "projects:\n"
        "  proj_b: {requests_per_minute: 10, insufficient_quota: true}\n"
    )
    state = SandboxState()
    added = apply_config(state, read_config(path))
    assert [k.project_id for k in added] == ["proj_a", "proj_b"]
    assert state.keys["sk-b"].org_id == "org-b" and state.admin_token == "tok"
    assert state.projects["proj_a"].allow_all_downloads
    assert state.projects["proj_b"].limiter.limits.requests_per_minute == 10
    assert state.projects["proj_b"].insufficient_quota
    bad = tmp_path / "bad.json"
    bad.write_text('{"projects": {"proj_x": {}}}')
    with pytest.raises(ValueError):
        apply_config(SandboxState(), read_config(bad))


def test_key_flags_and_the_demo_key() -> None:
    from sandbox.__main__ import build_parser, build_state
    from sandbox.config import DEMO_KEY, parse_key_flag

    with pytest.raises(ValueError):
        parse_key_flag("sk-only-a-key")
    state, keys, _ = build_state(build_parser().parse_args(["--key", "sk-x:org-x:proj_x"]))
    assert list(state.keys) == ["sk-x"] and keys[0].project_id == "proj_x"
    state, keys, _ = build_state(build_parser().parse_args([]))
    assert list(state.keys) == [DEMO_KEY]


def test_python_m_sandbox_serves_the_given_key() -> None:
    import subprocess
    import sys
    import time
    from pathlib import Path

    from sandbox.server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port), "--key", "sk-cli:org-cli:proj_cli"],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        answer = None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/files", headers={"Authorization": "Bearer sk-cli"}
                )
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert answer is not None and answer.status_code == 200
        assert answer.json()["data"] == []
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}/v1" in output


async def test_answers_carry_request_id_and_the_keys_org_and_project(sandbox_project) -> None:
    client = sandbox_project.client()
    made = await client.files.create(file=("a.txt", b"a"), purpose="assistants")
    assert made._request_id and made._request_id.startswith("req_")
    raw = await client.files.with_raw_response.retrieve(made.id)
    assert raw.http_response.headers["openai-organization"] == sandbox_project.org_id
    assert raw.http_response.headers["openai-project"] == sandbox_project.project_id
    assert raw.http_response.headers["x-request-id"] != made._request_id
    with pytest.raises(openai.NotFoundError) as info:
        await client.files.retrieve("file-missing0000")
    assert info.value.request_id.startswith("req_")
