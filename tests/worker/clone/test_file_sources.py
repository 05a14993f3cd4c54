"""The file-source resolver end to end: a sandbox source project that refuses downloads."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import asyncpg
import openai
import pytest

from sandbox.server import ThreadedSandbox
from tests.conftest import SandboxProject
from worker.backends.knowledge import Knowledge
from worker.backends.vector_stores import FileToAttach
from worker.blobs import BlobRef, PostgresBlobStore
from worker.clone.file_sources import FileSourceResolver, FileUnavailable, Travel
from worker.clone.originals import OriginalsDirectory, OriginalsError

PDF = (Path(__file__).parents[3] / "sandbox/fixtures/demo/files/sla.pdf").read_bytes()


class Source:
    """The source profile: Ferry's knowledge on it, and every request path it sent."""

    def __init__(self, sandbox_project: SandboxProject, db: asyncpg.Pool) -> None:
        self.sandbox = sandbox_project
        self.paths: list[str] = []

        async def record(request: object) -> None:
            self.paths.append(request.url.path)  # type: ignore[attr-defined]

        client = sandbox_project.client(
            http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
        )
        self.knowledge = Knowledge("src", client, PostgresBlobStore(db))
        self.outside = sandbox_project.client()

    async def uploaded_elsewhere(self, name: str, data: bytes, purpose: str = "assistants"):
        """A file someone uploaded without Ferry: the blob store has no copy."""
        return await self.outside.files.create(file=(name, data), purpose=purpose)

    def downloads(self) -> int:
        return sum(1 for p in self.paths if p.endswith("/content") and "/files/" in p)


@pytest.fixture
def source(sandbox_project: SandboxProject, db: asyncpg.Pool) -> Source:
    return Source(sandbox_project, db)


def ref(data: bytes) -> BlobRef:
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data))


async def test_a_file_ferry_uploaded_comes_from_the_blob_store_without_a_request(
    source: Source,
) -> None:
    uploaded = await source.knowledge.files.upload_bytes("faq.txt", b"FAQ", purpose="assistants")
    source.paths.clear()
    resolved = await FileSourceResolver(source.knowledge).resolve(uploaded)
    assert (resolved.travel, resolved.blob, resolved.filename) == (
        Travel.blob_store,
        ref(b"FAQ"),
        "faq.txt",
    )
    assert resolved.flagged is False
    assert source.paths == []


async def test_an_original_matched_by_name_and_size_is_kept_for_next_time(
    source: Source, tmp_path: Path
) -> None:
    data = "Política de devoluções: 30 dias.\n".encode()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "returns.md").write_bytes(data)
    (tmp_path / "returns-old.md").write_bytes(data)  # same bytes, another name: not a match
    file = await source.uploaded_elsewhere("returns.md", data)
    resolver = FileSourceResolver(source.knowledge, originals=OriginalsDirectory(tmp_path))
    resolved = await resolver.resolve(file)
    assert (resolved.travel, resolved.blob) == (Travel.originals, ref(data))
    assert resolved.tried == ("the blob store has no copy (not uploaded by Ferry)",)
    again = await FileSourceResolver(source.knowledge).resolve(file)
    assert (again.travel, again.blob) == (Travel.blob_store, ref(data))
    assert source.downloads() == 0


async def test_differing_originals_of_one_name_and_size_are_not_guessed_between(
    source: Source, tmp_path: Path
) -> None:
    for folder, text in (("a", b"version A"), ("b", b"version B")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_bytes(text)
    file = await source.uploaded_elsewhere("notes.txt", b"version B")
    resolver = FileSourceResolver(source.knowledge, originals=OriginalsDirectory(tmp_path))
    with pytest.raises(FileUnavailable) as unavailable:
        await resolver.resolve(file)
    assert "2 files named 'notes.txt' of 9 bytes differ (a/notes.txt, b/notes.txt)" in str(
        unavailable.value
    )
    # Seed 004's path → file-id cache settles it.
    (tmp_path / "gpt_id.json").write_text(json.dumps({"b/notes.txt": file.id}))
    resolver = FileSourceResolver(source.knowledge, originals=OriginalsDirectory(tmp_path))
    resolved = await resolver.resolve(file)
    assert (resolved.travel, resolved.blob) == (Travel.originals, ref(b"version B"))


async def test_a_file_the_source_lets_go_is_downloaded(source: Source) -> None:
    source.sandbox.server.state.set_allow_all_downloads(True, source.sandbox.project_id)
    file = await source.uploaded_elsewhere("rates.csv", b"usd,brl\n1,5.4\n")
    resolved = await FileSourceResolver(source.knowledge).resolve(file)
    assert (resolved.travel, resolved.blob) == (Travel.download, ref(b"usd,brl\n1,5.4\n"))
    assert resolved.tried == (
        "the blob store has no copy (not uploaded by Ferry)",
        "no --originals directory given",
    )


async def test_a_refused_file_in_a_vector_store_travels_as_its_parsed_text_flagged(
    source: Source,
) -> None:
    source.sandbox.server.state.set_ingestion_seconds(0, source.sandbox.project_id)
    file = await source.uploaded_elsewhere("sla.pdf", PDF)
    stores = source.knowledge.vector_stores
    empty = await stores.create("other")
    store = await stores.create("kb")
    await stores.attach(store.id, FileToAttach(file.id))
    await stores.wait_for_ingestion(store.id, [file.id], deadline_s=10, poll_s=0.05)
    text = await stores.parsed_text(store.id, file.id)
    resolved = await FileSourceResolver(source.knowledge).resolve(
        file, vector_store_ids=[empty.id, store.id]
    )
    assert (resolved.travel, resolved.filename, resolved.flagged) == (
        Travel.parsed_text,
        "sla.pdf.txt",
        True,
    )
    assert await source.knowledge.blobs.read_bytes(resolved.blob.sha256) == text.encode()
    assert resolved.tried == (
        "the blob store has no copy (not uploaded by Ferry)",
        "no --originals directory given",
        "the source refuses downloads of purpose 'assistants'",
        f"vector store {empty.id} does not hold the file",
    )
    # Parsed text is not the original: the next clone still looks for the real bytes.
    assert await source.knowledge.blobs.file_blob(file.id) is None


async def test_a_file_no_way_can_carry_fails_naming_the_file_and_the_fix(
    source: Source, tmp_path: Path
) -> None:
    file = await source.uploaded_elsewhere("contrato.docx", b"PK\x03\x04 binary", "user_data")
    second = await source.uploaded_elsewhere("anexo.docx", b"PK\x03\x04 other", "user_data")
    resolver = FileSourceResolver(source.knowledge, originals=OriginalsDirectory(tmp_path))
    with pytest.raises(FileUnavailable) as unavailable:
        await resolver.resolve(file)
    message = str(unavailable.value)
    assert message.startswith(
        f"file {file.id} ('contrato.docx', 11 bytes, purpose 'user_data') cannot be copied: "
        "the blob store has no copy (not uploaded by Ferry); no file named 'contrato.docx' of "
        f"11 bytes under {tmp_path}; the source refuses downloads of purpose 'user_data'; "
        "the file is in no vector store, so there is no parsed text. Fix: pass --originals DIR"
    )
    assert unavailable.value.file_id == file.id
    # The refusal is learnt: the run does not ask again for a file of the same purpose.
    with pytest.raises(FileUnavailable):
        await resolver.resolve(second)
    assert source.downloads() == 1


def test_an_originals_path_that_is_no_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(OriginalsError, match=r"--originals .*missing: no such directory"):
        OriginalsDirectory(tmp_path / "missing")


async def test_resolved_bytes_upload_unchanged_to_the_destination(
    source: Source, sandbox_server: ThreadedSandbox, db: asyncpg.Pool, tmp_path: Path
) -> None:
    """The seam the clone's apply uses: resolve at the source, upload from the blob store."""
    data = b"%PDF-1.4 " + bytes(range(256)) * 2_000
    (tmp_path / "sla.pdf").write_bytes(data)
    file = await source.uploaded_elsewhere("sla.pdf", data)
    resolver = FileSourceResolver(source.knowledge, originals=OriginalsDirectory(tmp_path))
    resolved = await resolver.resolve(file)

    key = f"sk-proj-dst{secrets.token_hex(20)}"
    project_id = f"proj_{secrets.token_hex(8)}"
    sandbox_server.state.add_key(key, f"org-{secrets.token_hex(8)}", project_id)
    async with openai.AsyncOpenAI(
        api_key=key, base_url=sandbox_server.base_url, max_retries=0, timeout=30.0
    ) as client:
        destination = Knowledge("dst", client, source.knowledge.blobs)
        copied = await destination.files.upload(
            resolved.filename, resolved.blob, purpose=resolved.purpose
        )
    assert (copied.filename, copied.bytes, copied.purpose) == ("sla.pdf", len(data), "assistants")
    assert sandbox_server.state.projects[project_id].private_of("file")[copied.id] == data
    link = await source.knowledge.blobs.file_blob(copied.id)
    assert link is not None and (link.profile, link.blob) == ("dst", ref(data))


async def test_a_file_gone_from_the_source_is_named_not_crashed_on(source: Source) -> None:
    source.sandbox.server.state.set_allow_all_downloads(True, source.sandbox.project_id)
    file = await source.uploaded_elsewhere("gone.txt", b"bye")
    await source.outside.files.delete(file.id)
    with pytest.raises(FileUnavailable, match="the source no longer has the file"):
        await FileSourceResolver(source.knowledge).resolve(file)


async def test_without_downloads_an_export_s_file_asks_the_source_nothing(source: Source) -> None:
    # An export file as the source: the API behind it may allow downloads, but there is none.
    source.sandbox.server.state.set_allow_all_downloads(True, source.sandbox.project_id)
    file = await source.uploaded_elsewhere("rates.csv", b"usd,brl\n1,5.4\n")
    source.paths.clear()
    with pytest.raises(FileUnavailable) as unavailable:
        await FileSourceResolver(source.knowledge, downloads=False).resolve(file)
    assert str(unavailable.value) == (
        f"file {file.id} ('rates.csv', 14 bytes, purpose 'assistants') cannot be copied: "
        "the blob store has no copy (not uploaded by Ferry); no --originals directory given; "
        "an export file has no source API to download from; the file is in no vector store, "
        "so there is no parsed text. Fix: pass --originals DIR with the original 'rates.csv' "
        "(matched by name and size, or by its id in the directory's gpt_id.json)"
    )
    assert source.paths == []
