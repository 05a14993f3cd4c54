"""Both adapters carry the same knowledge operations, their uploads kept in one blob store."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from arq.connections import ArqRedis

from schemas.keys import RedisKeys
from tests.conftest import SandboxProject
from worker.backends.assistants_v2 import AssistantsV2Backend
from worker.backends.factory import backend_for
from worker.blobs import DirectoryBlobStore
from worker.settings import ApiStyle, Profile


@pytest.mark.parametrize("style", [ApiStyle.assistants, ApiStyle.responses])
async def test_each_style_uploads_through_the_same_knowledge_into_the_blob_store(
    sandbox_project: SandboxProject,
    db: asyncpg.Pool,
    redis: ArqRedis,
    key_prefix: str,
    tmp_path: Path,
    style: ApiStyle,
) -> None:
    profile = Profile(name="dst", api_key="sk-test-0000000000000000", api_style=style)
    blobs = DirectoryBlobStore(tmp_path)
    port = backend_for(
        profile,
        sandbox_project.client(),
        db=db,
        redis=redis,
        keys=RedisKeys(key_prefix),
        blobs=blobs,
    )
    uploaded = await port.knowledge.files.upload_bytes("a.txt", b"abc", purpose="assistants")
    store = await port.knowledge.vector_stores.create("kb")
    assert port.knowledge.profile == "dst"
    link = await blobs.file_blob(uploaded.id)
    assert link is not None and await blobs.read_bytes(link.blob.sha256) == b"abc"
    assert [s.id for s in await port.knowledge.vector_stores.list_all()] == [store.id]


def test_an_adapter_made_without_a_blob_store_says_how_to_make_one(
    sandbox_project: SandboxProject,
) -> None:
    port = AssistantsV2Backend(sandbox_project.client())
    with pytest.raises(RuntimeError, match="backend_for"):
        _ = port.knowledge
