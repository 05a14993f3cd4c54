"""Vector stores through the official SDK: CRUD, files, batches, content, and ingestion timing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from sandbox.errors import APIError
from sandbox.routes import vector_stores
from tests.sandbox.openapi import assert_matches

PDF = (Path(__file__).parents[2] / "sandbox/fixtures/demo/files/sla.pdf").read_bytes()
GARBAGE = bytes([0xFF, 0xFE, 0x00, 0x81, 0x92]) * 50


def _ingestion(sandbox_project, seconds: float) -> None:
    sandbox_project.server.state.set_ingestion_seconds(seconds, sandbox_project.project_id)


async def _upload(client, name: str, data: bytes) -> str:
    return (await client.files.create(file=(name, data), purpose="assistants")).id


async def test_store_lifecycle_matches_the_spec(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    file_id = await _upload(client, "faq.md", b"# FAQ\nRefunds take 5 days.")
    raw = await client.vector_stores.with_raw_response.create(
        name="support",
        description="Answers for the support team",
        file_ids=[file_id],
        metadata={"team": "support"},
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
    )
    store = raw.http_response.json()
    assert_matches("VectorStoreObject", store, strict=True)
    assert store["expires_at"] == store["last_active_at"] + 7 * 86400
    assert store["metadata"] == {"team": "support"}

    fetched = (await client.vector_stores.with_raw_response.retrieve(store["id"])).http_response
    assert_matches("VectorStoreObject", fetched.json(), strict=True)
    assert fetched.json()["status"] == "completed"
    assert fetched.json()["file_counts"] == {
        "in_progress": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "total": 1,
    }
    assert fetched.json()["usage_bytes"] > 0

    vs_file = await client.vector_stores.files.retrieve(file_id, vector_store_id=store["id"])
    assert vs_file.chunking_strategy.static.max_chunk_size_tokens == 200

    updated = await client.vector_stores.with_raw_response.update(
        store["id"], name="support-v2", metadata={"team": "care"}
    )
    assert_matches("VectorStoreObject", updated.http_response.json(), strict=True)
    assert updated.http_response.json()["name"] == "support-v2"

    deleted = await client.vector_stores.with_raw_response.delete(store["id"])
    assert_matches("DeleteVectorStoreResponse", deleted.http_response.json(), strict=True)
    with pytest.raises(openai.NotFoundError) as info:
        await client.vector_stores.retrieve(store["id"])
    assert_matches("ErrorResponse", info.value.response.json())
    # detaching or deleting a store leaves the file itself in the project
    assert (await client.files.retrieve(file_id)).id == file_id


async def test_ingestion_runs_in_progress_then_completed_or_failed(sandbox_project) -> None:
    _ingestion(sandbox_project, 0.4)
    client = sandbox_project.client()
    good = await _upload(client, "notes.txt", b"plain text notes")
    bad = await _upload(client, "blob.txt", GARBAGE)
    store = await client.vector_stores.create(name="mixed", file_ids=[good, bad])
    assert store.status == "in_progress"
    assert store.file_counts.in_progress == 2 and store.file_counts.total == 2
    pending = await client.vector_stores.files.with_raw_response.retrieve(
        good, vector_store_id=store.id
    )
    assert pending.http_response.json()["status"] == "in_progress"
    assert 0 < int(pending.http_response.headers["openai-poll-after-ms"]) <= 1000

    await asyncio.sleep(0.5)
    store = await client.vector_stores.retrieve(store.id)
    assert store.status == "completed"
    assert (store.file_counts.completed, store.file_counts.failed) == (1, 1)
    failed = (
        await client.vector_stores.files.with_raw_response.retrieve(bad, vector_store_id=store.id)
    ).http_response.json()
    assert_matches("VectorStoreFileObject", failed, strict=True)
    assert failed["status"] == "failed" and failed["last_error"]["code"] == "invalid_file"
    assert (
        await client.vector_stores.files.retrieve(good, vector_store_id=store.id)
    ).last_error is None


async def test_create_and_poll_returns_once_ingested(sandbox_project) -> None:
    _ingestion(sandbox_project, 0.2)
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="poll")
    file_id = await _upload(client, "a.txt", b"hello")
    done = await asyncio.wait_for(
        client.vector_stores.files.create_and_poll(file_id=file_id, vector_store_id=store.id),
        timeout=5,
    )
    assert done.status == "completed"


async def test_files_attach_with_attributes_filter_and_paginate(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="many")
    ids = [await _upload(client, f"f{i}.txt", f"text {i}".encode()) for i in range(4)]
    for i, file_id in enumerate(ids):
        raw = await client.vector_stores.files.with_raw_response.create(
            vector_store_id=store.id, file_id=file_id, attributes={"n": i, "lang": "en", "ok": True}
        )
        assert_matches("VectorStoreFileObject", raw.http_response.json(), strict=True)
    broken = await _upload(client, "broken.txt", GARBAGE)
    await client.vector_stores.files.create(vector_store_id=store.id, file_id=broken)

    first = await client.vector_stores.files.with_raw_response.list(
        vector_store_id=store.id, limit=2, order="asc"
    )
    body = first.http_response.json()
    assert_matches("ListVectorStoreFilesResponse", body, strict=True)
    assert [f["id"] for f in body["data"]] == ids[:2] and body["has_more"]
    walked = [
        f.id
        async for f in client.vector_stores.files.list(
            vector_store_id=store.id, limit=2, order="asc", filter="completed"
        )
    ]
    assert walked == ids
    failed = [
        f.id
        async for f in client.vector_stores.files.list(vector_store_id=store.id, filter="failed")
    ]
    assert failed == [broken]
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.files.list(vector_store_id=store.id, filter="done")
    assert info.value.param == "filter"

    updated = await client.vector_stores.files.update(
        ids[0], vector_store_id=store.id, attributes={"lang": "pt"}
    )
    assert updated.attributes == {"lang": "pt"}

    deleted = await client.vector_stores.files.with_raw_response.delete(
        ids[0], vector_store_id=store.id
    )
    assert_matches("DeleteVectorStoreFileResponse", deleted.http_response.json(), strict=True)
    with pytest.raises(openai.NotFoundError):
        await client.vector_stores.files.retrieve(ids[0], vector_store_id=store.id)
    assert (await client.vector_stores.retrieve(store.id)).file_counts.total == 4


async def test_content_is_the_parsed_text(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    text = "Olá! Привет! ¡Hola!\n" * 300
    md = await _upload(client, "guide.md", text.encode())
    pdf = await _upload(client, "sla.pdf", PDF)
    store = await client.vector_stores.create(name="content", file_ids=[md, pdf])

    raw = await client.vector_stores.files.with_raw_response.content(md, vector_store_id=store.id)
    body = raw.http_response.json()
    assert_matches("VectorStoreFileContentResponse", body, strict=True)
    assert "".join(part["text"] for part in body["data"]) == text

    pages = [
        p.text async for p in client.vector_stores.files.content(pdf, vector_store_id=store.id)
    ]
    assert len(pages) == 2
    assert "Uptime commitment: 99.9 percent" in pages[0]
    assert "Severity 1: 30 minutes" in pages[1]


async def test_file_batches_create_list_and_cancel(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="batches")
    ids = [await _upload(client, f"b{i}.txt", b"batch text") for i in range(3)]
    raw = await client.vector_stores.file_batches.with_raw_response.create(
        vector_store_id=store.id, file_ids=ids, attributes={"source": "batch"}
    )
    batch = raw.http_response.json()
    assert_matches("VectorStoreFileBatchObject", batch, strict=True)
    assert batch["status"] == "completed" and batch["file_counts"]["completed"] == 3
    listed = [
        f
        async for f in client.vector_stores.file_batches.list_files(
            batch["id"], vector_store_id=store.id
        )
    ]
    assert sorted(f.id for f in listed) == sorted(ids)
    assert {f.attributes["source"] for f in listed} == {"batch"}
    with pytest.raises(openai.BadRequestError):
        await client.vector_stores.file_batches.cancel(batch["id"], vector_store_id=store.id)

    _ingestion(sandbox_project, 60)
    slow = await client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=[await _upload(client, "slow.txt", b"slow")]
    )
    assert slow.status == "in_progress"
    cancelled = await client.vector_stores.file_batches.with_raw_response.cancel(
        slow.id, vector_store_id=store.id
    )
    assert_matches("VectorStoreFileBatchObject", cancelled.http_response.json(), strict=True)
    assert cancelled.http_response.json()["status"] == "cancelled"
    again = await client.vector_stores.file_batches.retrieve(slow.id, vector_store_id=store.id)
    assert again.status == "cancelled" and again.file_counts.cancelled == 1
    store_now = await client.vector_stores.retrieve(store.id)
    assert store_now.status == "completed" and store_now.file_counts.cancelled == 1


async def test_batch_with_an_unknown_file_attaches_nothing(sandbox_project) -> None:
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="strict")
    good = await _upload(client, "g.txt", b"g")
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.file_batches.create(
            vector_store_id=store.id, file_ids=[good, "file-missing"]
        )
    assert info.value.param == "file_ids[1]"
    assert [f async for f in client.vector_stores.files.list(vector_store_id=store.id)] == []


async def test_bad_requests_name_their_parameter(sandbox_project) -> None:
    client = sandbox_project.client()
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.create(name="x", file_ids=["file-nope"])
    assert info.value.param == "file_ids[0]"
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.create(
            name="x",
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150},
            },
        )
    assert info.value.param == "chunking_strategy.static.chunk_overlap_tokens"
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.create(
            name="x", expires_after={"anchor": "last_active_at", "days": 0}
        )
    assert info.value.param == "expires_after.days"
    assert [s async for s in client.vector_stores.list()] == []


async def test_list_paginates_and_stays_in_the_project(sandbox_project, sandbox_server) -> None:
    client = sandbox_project.client()
    made = [(await client.vector_stores.create(name=f"s{i}")).id for i in range(3)]
    raw = await client.vector_stores.with_raw_response.list(limit=2)
    body = raw.http_response.json()
    assert_matches("ListVectorStoresResponse", body, strict=True)
    assert [s["id"] for s in body["data"]] == made[::-1][:2] and body["has_more"]
    assert [s.id async for s in client.vector_stores.list(limit=1, order="asc")] == made

    sandbox_server.state.add_key("sk-vs-other-project-key", "org-vs-other", "proj_vs_other")
    other = openai.AsyncOpenAI(
        api_key="sk-vs-other-project-key", base_url=sandbox_project.base_url, max_retries=0
    )
    assert [s async for s in other.vector_stores.list()] == []
    with pytest.raises(openai.NotFoundError):
        await other.vector_stores.retrieve(made[0])


async def test_expired_stores_say_so(sandbox_project) -> None:
    client = sandbox_project.client()
    store = await client.vector_stores.create(
        name="old", expires_after={"anchor": "last_active_at", "days": 1}
    )
    sandbox_project.project.objects["vector_store"][store.id]["expires_at"] = 1
    assert (await client.vector_stores.retrieve(store.id)).status == "expired"


async def test_search_ranks_chunks_with_the_query_words(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    pdf = await _upload(client, "sla.pdf", PDF)
    other = await _upload(client, "menu.txt", b"Lunch menu: soup and bread.")
    store = await client.vector_stores.create(name="search", file_ids=[pdf, other])
    raw = await client.vector_stores.with_raw_response.search(store.id, query="uptime commitment")
    assert_matches("VectorStoreSearchResultsPage", raw.http_response.json(), strict=True)
    results = [r async for r in client.vector_stores.search(store.id, query="uptime commitment")]
    assert results and results[0].file_id == pdf and results[0].filename == "sla.pdf"


def test_require_vector_store_for_other_modules(sandbox_project) -> None:
    project = sandbox_project.project
    with pytest.raises(APIError) as info:
        vector_stores.require_vector_store(
            project, "vs_nope", param="tool_resources.file_search.vector_store_ids"
        )
    assert info.value.status == 400
    assert info.value.param == "tool_resources.file_search.vector_store_ids"
    with pytest.raises(APIError) as info:
        vector_stores.require_vector_store(project, "vs_nope")
    assert info.value.status == 404
    made = vector_stores.create_store(project, name="py")
    assert vector_stores.require_vector_store(project, made["id"])["name"] == "py"


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("scan.png", b"\x89PNG\r\n", "unsupported_file"),
        ("broken.pdf", b"%PDF-1.4 truncated", "invalid_file"),
        ("latin1.txt", "Ação".encode("latin-1"), "invalid_file"),
        ("empty.md", b"   \n", "invalid_file"),
        ("nul.json", b'{"a": "\x00"}', "invalid_file"),
    ],
)
def test_unparseable_files_fail_with_the_right_code(filename, data, code) -> None:
    from sandbox.ingestion import parse

    assert parse(filename, data).error["code"] == code


def test_text_formats_parse_as_utf8_and_chunks_overlap() -> None:
    from sandbox.ingestion import chunk, parse

    csv = "city,count\nSão Paulo,3\n"
    assert parse("data.csv", csv.encode()).text == csv
    assert parse("x.json", b'{"k": 1}').text == '{"k": 1}'
    text = "".join(f"{i:04d}" for i in range(1000))  # 4000 characters, ~1000 tokens
    static = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
    }
    chunks = chunk(text, static)
    assert all(len(c) <= 800 for c in chunks)
    assert chunks[0][-200:] == chunks[1][:200]  # 50 tokens of overlap
    assert chunks[-1].endswith(text[-20:])


async def test_deleting_a_file_removes_it_from_every_store(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    file_id = await _upload(client, "shared.md", b"# shared")
    keep = await _upload(client, "keep.md", b"# keep")
    first = await client.vector_stores.create(name="one", file_ids=[file_id, keep])
    second = await client.vector_stores.create(name="two", file_ids=[file_id])
    await client.files.delete(file_id)
    for store in (first, second):
        with pytest.raises(openai.NotFoundError):
            await client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert (await client.vector_stores.retrieve(first.id)).file_counts.total == 1
    assert (await client.vector_stores.retrieve(second.id)).file_counts.total == 0


async def test_batch_files_carry_their_own_attributes_and_chunking(sandbox_project) -> None:
    _ingestion(sandbox_project, 0)
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="per-file")
    a = await _upload(client, "a.txt", b"alpha")
    b = await _upload(client, "b.txt", b"beta")
    static = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    batch = await client.vector_stores.file_batches.create(
        vector_store_id=store.id,
        files=[
            {"file_id": a, "attributes": {"lang": "pt"}, "chunking_strategy": static},
            {"file_id": b},
        ],
    )
    assert batch.file_counts.total == 2
    got_a = await client.vector_stores.files.retrieve(a, vector_store_id=store.id)
    got_b = await client.vector_stores.files.retrieve(b, vector_store_id=store.id)
    assert got_a.attributes == {"lang": "pt"} and got_b.attributes == {}
    assert got_a.chunking_strategy.static.max_chunk_size_tokens == 100
    assert got_b.chunking_strategy.static.max_chunk_size_tokens == 800
    with pytest.raises(openai.BadRequestError) as info:
        await client.vector_stores.file_batches.create(vector_store_id=store.id, files=[{"x": 1}])
    assert info.value.param == "files"
