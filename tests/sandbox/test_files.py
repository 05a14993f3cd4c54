"""Files through the official SDK: shapes per the spec, download rules, pagination, errors."""

from __future__ import annotations

import io

import httpx
import openai
import pytest

from sandbox.routes import files
from tests.sandbox.openapi import assert_matches


async def test_upload_retrieve_delete_match_the_spec(sandbox_project) -> None:
    client = sandbox_project.client()
    raw = await client.files.with_raw_response.create(
        file=("notes.md", b"# Notes\nhello"), purpose="assistants"
    )
    body = raw.http_response.json()
    assert_matches("OpenAIFile", body, strict=True)
    assert body["bytes"] == 13 and body["filename"] == "notes.md"
    assert body["purpose"] == "assistants" and body["id"].startswith("file-")

    fetched = await client.files.with_raw_response.retrieve(body["id"])
    assert fetched.http_response.json() == body

    deleted = await client.files.with_raw_response.delete(body["id"])
    assert_matches("DeleteFileResponse", deleted.http_response.json(), strict=True)
    assert deleted.http_response.json() == {"id": body["id"], "object": "file", "deleted": True}
    with pytest.raises(openai.NotFoundError) as info:
        await client.files.retrieve(body["id"])
    assert_matches("ErrorResponse", info.value.body and {"error": info.value.body})
    assert body["id"] in info.value.message


async def test_batch_files_expire_after_thirty_days_and_expiry_can_be_set(sandbox_project) -> None:
    client = sandbox_project.client()
    batch = await client.files.create(file=("b.jsonl", b"{}\n"), purpose="batch")
    assert batch.expires_at == batch.created_at + 30 * 24 * 3600
    short = await client.files.create(
        file=("s.txt", b"x"),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert short.expires_at == short.created_at + 3600
    with pytest.raises(openai.BadRequestError) as info:
        await client.files.create(
            file=("s.txt", b"x"),
            purpose="user_data",
            expires_after={"anchor": "created_at", "seconds": 10},
        )
    assert info.value.param == "expires_after.seconds"


@pytest.mark.parametrize("purpose", ["assistants", "user_data"])
async def test_download_of_assistants_and_user_data_is_refused(sandbox_project, purpose) -> None:
    client = sandbox_project.client()
    uploaded = await client.files.create(file=("k.txt", b"secret"), purpose=purpose)
    with pytest.raises(openai.BadRequestError) as info:
        await client.files.content(uploaded.id)
    assert info.value.body["message"] == f"Not allowed to download files of purpose: {purpose}"
    assert info.value.status_code == 400
    assert_matches("ErrorResponse", {"error": info.value.body})


async def test_allow_all_downloads_lets_every_purpose_download(sandbox_project) -> None:
    client = sandbox_project.client()
    data = bytes(range(256)) * 4
    uploaded = await client.files.create(file=("blob.bin", data), purpose="assistants")
    sandbox_project.server.state.set_allow_all_downloads(True, sandbox_project.project_id)
    assert (await client.files.content(uploaded.id)).content == data


@pytest.mark.parametrize("purpose", ["batch_output", "assistants_output", "fine-tune-results"])
async def test_output_purposes_download_byte_exact(sandbox_project, purpose) -> None:
    data = b"\x00\xffline one\r\nline two\n\x89PNG"
    made = files.create_file(sandbox_project.project, "out.bin", data, purpose)
    client = sandbox_project.client()
    response = await client.files.content(made["id"])
    assert response.content == data


async def test_uploaded_batch_file_downloads_byte_exact(sandbox_project) -> None:
    client = sandbox_project.client()
    data = '{"custom_id": "é"}\n'.encode()
    uploaded = await client.files.create(file=io.BytesIO(data), purpose="batch")
    assert (await client.files.content(uploaded.id)).content == data


async def test_list_filters_by_purpose_and_paginates(sandbox_project) -> None:
    client = sandbox_project.client()
    made = [
        (await client.files.create(file=(f"f{i}.txt", b"x" * i), purpose="assistants")).id
        for i in range(5)
    ]
    await client.files.create(file=("b.jsonl", b"{}"), purpose="batch")

    raw = await client.files.with_raw_response.list(purpose="assistants", limit=2, order="asc")
    first = raw.http_response.json()
    assert_matches("ListFilesResponse", first, strict=True)
    assert [f["id"] for f in first["data"]] == made[:2] and first["has_more"] is True

    walked = [f.id async for f in client.files.list(purpose="assistants", limit=2, order="asc")]
    assert walked == made
    newest_first = [f.id async for f in client.files.list(purpose="assistants")]
    assert newest_first == made[::-1]
    assert {f.purpose async for f in client.files.list(purpose="batch")} == {"batch"}


async def test_upload_without_purpose_or_with_a_bad_one_is_refused(sandbox_project) -> None:
    async with httpx.AsyncClient(
        base_url=sandbox_project.base_url,
        headers={"Authorization": f"Bearer {sandbox_project.api_key}"},
    ) as http:
        missing = await http.post("/files", files={"file": ("a.txt", b"a")})
        bad = await http.post(
            "/files", files={"file": ("a.txt", b"a")}, data={"purpose": "fine-tune-results"}
        )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "purpose"
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "purpose"
    assert_matches("ErrorResponse", bad.json())


async def test_files_are_invisible_to_other_projects(sandbox_project, sandbox_server) -> None:
    client = sandbox_project.client()
    mine = await client.files.create(file=("a.txt", b"a"), purpose="assistants")
    sandbox_server.state.add_key("sk-other-files-key-000", "org-other", "proj_other_files")
    other = openai.AsyncOpenAI(
        api_key="sk-other-files-key-000", base_url=sandbox_project.base_url, max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        await other.files.retrieve(mine.id)
    assert mine.id not in [f.id async for f in other.files.list()]


def test_require_file_refuses_body_references_with_400_and_paths_with_404(
    sandbox_project,
) -> None:
    from sandbox.errors import APIError

    project = sandbox_project.project
    with pytest.raises(APIError) as info:
        files.require_file(project, "file-x", param="tool_resources.code_interpreter.file_ids")
    assert info.value.status == 400
    assert info.value.param == "tool_resources.code_interpreter.file_ids"
    with pytest.raises(APIError) as info:
        files.require_file(project, "file-x")
    assert info.value.status == 404
    made = files.create_file(project, "a.txt", b"a", "assistants")
    assert files.require_file(project, made["id"]) is made


async def test_bad_pagination_parameters_are_refused(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.files.list(limit=10_001)
    assert info.value.param == "limit"
    with pytest.raises(openai.BadRequestError) as info:
        await client.files.list(after="file-not-listed")
    assert info.value.param == "after"
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.list(limit=101)
    assert info.value.param == "limit"
    assert_matches("ErrorResponse", info.value.response.json())
