"""Files on the port: uploads keep their bytes, downloads say plainly when OpenAI refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import SandboxProject
from worker.backends.files import DownloadRefused
from worker.backends.knowledge import Knowledge
from worker.blobs import BlobRef


def stored_bytes(sandbox_project: SandboxProject, file_id: str) -> bytes:
    return sandbox_project.project.private_of("file")[file_id]


async def test_an_upload_keeps_the_original_bytes_in_the_blob_store(
    knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    data = "Tabela de preços\nplano,valor\nbásico,10\n".encode()
    uploaded = await knowledge.files.upload_bytes("precos.csv", data, purpose="assistants")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == (
        "precos.csv",
        len(data),
        "assistants",
    )
    assert stored_bytes(sandbox_project, uploaded.id) == data
    link = await knowledge.blobs.file_blob(uploaded.id)
    assert link is not None
    assert (link.profile, link.filename, link.purpose) == ("src", "precos.csv", "assistants")
    assert link.blob == BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    assert await knowledge.blobs.read_bytes(link.blob.sha256) == data


async def test_a_local_file_uploads_streamed_under_its_name(
    knowledge: Knowledge, sandbox_project: SandboxProject, tmp_path: Path
) -> None:
    path = tmp_path / "manual.md"
    path.write_bytes(b"# Manual\n" + b"line of text\n" * 200_000)
    uploaded = await knowledge.files.upload_path(path, purpose="assistants")
    assert uploaded.filename == "manual.md"
    assert stored_bytes(sandbox_project, uploaded.id) == path.read_bytes()
    link = await knowledge.blobs.file_blob(uploaded.id)
    assert link is not None and link.blob.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


async def test_lists_page_with_limit_and_after(knowledge: Knowledge) -> None:
    ids = [
        (await knowledge.files.upload_bytes(f"f{i}.txt", b"x" * i, purpose="assistants")).id
        for i in range(5)
    ]
    await knowledge.files.upload_bytes("v.png", b"\x89PNG", purpose="vision")
    first = await knowledge.files.list_page(purpose="assistants", limit=2)
    second = await knowledge.files.list_page(purpose="assistants", limit=2, after=first.after)
    last = await knowledge.files.list_page(purpose="assistants", limit=2, after=second.after)
    assert [f.id for f in first.items + second.items + last.items] == ids
    assert (first.has_more, second.has_more, last.has_more) == (True, True, False)
    assert [f.id for f in await knowledge.files.list_all(purpose="assistants")] == ids
    assert len(await knowledge.files.list_all()) == 6
    with pytest.raises(ValueError, match="limit must be between 1 and 10000"):
        await knowledge.files.list_page(limit=10_001)


@pytest.mark.parametrize("purpose", ["assistants", "user_data"])
async def test_a_refused_download_is_its_own_condition_and_stores_nothing(
    knowledge: Knowledge, sandbox_project: SandboxProject, purpose: str
) -> None:
    # Uploaded by someone else (not through Ferry), so the blob store has no copy.
    raw = await sandbox_project.client().files.create(
        file=("contract.txt", b"clause 1"), purpose=purpose
    )
    with pytest.raises(DownloadRefused) as refused:
        await knowledge.files.download(raw)
    assert (refused.value.file_id, refused.value.purpose) == (raw.id, purpose)
    assert "--originals DIR" in str(refused.value)
    assert await knowledge.blobs.file_blob(raw.id) is None


async def test_an_allowed_download_streams_into_the_blob_store(
    knowledge: Knowledge, sandbox_project: SandboxProject
) -> None:
    sandbox_project.server.state.set_allow_all_downloads(True, sandbox_project.project_id)
    data = bytes(range(256)) * 4_000
    raw = await sandbox_project.client().files.create(file=("a.bin", data), purpose="assistants")
    link = await knowledge.files.download(raw)
    assert link.blob == BlobRef(hashlib.sha256(data).hexdigest(), len(data))
    assert (link.file_id, link.filename, link.purpose) == (raw.id, "a.bin", "assistants")
    assert await knowledge.blobs.read_bytes(link.blob.sha256) == data
    assert await knowledge.blobs.file_blob(raw.id) == link


async def test_get_and_delete_answer_for_missing_files(knowledge: Knowledge) -> None:
    uploaded = await knowledge.files.upload_bytes("a.txt", b"a", purpose="assistants")
    assert (await knowledge.files.get(uploaded.id)) == uploaded
    assert await knowledge.files.delete(uploaded.id) is True
    assert await knowledge.files.get(uploaded.id) is None
    assert await knowledge.files.delete(uploaded.id) is False


async def test_an_upload_whose_answer_was_lost_is_found_by_name_size_and_time(
    knowledge: Knowledge,
) -> None:
    first = await knowledge.files.upload_bytes("faq.txt", b"new", purpose="assistants")
    retried = await knowledge.files.upload_bytes("faq.txt", b"new", purpose="assistants")
    await knowledge.files.upload_bytes("faq.txt", b"newer", purpose="assistants")
    await knowledge.files.upload_bytes("faq.txt", b"new", purpose="vision")
    await knowledge.files.upload_bytes("other.txt", b"new", purpose="assistants")
    found = await knowledge.files.find_uploaded(
        "faq.txt", 3, purpose="assistants", since=first.created_at
    )
    assert [f.id for f in found] == [retried.id, first.id]
    assert (
        await knowledge.files.find_uploaded(
            "faq.txt", 3, purpose="assistants", since=retried.created_at + 1
        )
        == []
    )
