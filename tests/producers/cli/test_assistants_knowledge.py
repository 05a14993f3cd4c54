"""`ferry assistants apply` with `knowledge:`, run as a real subprocess, a worker in the test."""

from __future__ import annotations

import pytest
import yaml

from schemas.knowledge import KnowledgeSyncJob
from tests.producers.cli.conftest import FerryCLI
from tests.worker.knowledge.conftest import (  # noqa: F401 - fixtures
    KnowledgeWorld,
    kb_in_process_worker,
    kb_style,
    knowledge_world,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cli(ferry_cli: FerryCLI, knowledge_world: KnowledgeWorld) -> FerryCLI:  # noqa: F811
    project = knowledge_world.sandbox
    ferry_cli.env.update(
        OPENAI_KB_API_KEY=project.api_key,
        OPENAI_KB_BASE_URL=project.base_url,
        OPENAI_KB_API_STYLE="responses",
    )
    return ferry_cli


def apply_file(world: KnowledgeWorld, files: list[str]) -> str:
    spec = {
        "name": "Concierge",
        "model": "gpt-4o",
        "instructions": "Help customers.",
        "knowledge": {"files": files},
    }
    path = world.folder / "concierge.yaml"
    path.write_text(yaml.safe_dump({"assistants": [spec]}, sort_keys=False))
    return str(path)


async def synced_jobs(world: KnowledgeWorld) -> int:
    return len(await world.ferry.jobs(kind=KnowledgeSyncJob.kind))


async def test_apply_syncs_knowledge_with_progress_then_changes_nothing(
    cli: FerryCLI,
    knowledge_world: KnowledgeWorld,  # noqa: F811
) -> None:
    world = knowledge_world
    world.write("docs/returns.md", b"# Returns\nWithin 30 days.\n")
    world.write("docs/sla.md", b"Uptime 99.9%.\n")
    path = apply_file(world, ["docs/*.md"])

    first = await cli("assistants", "apply", "-f", path, "-p", "kb")
    assert first.code == 0, first.out
    assert "Concierge: created, version 1" in first.out
    assert "Concierge: ingesting" in first.out and "2/2" in first.out  # the progress bar
    assert "(created), 2 file(s): 2 uploaded, 0 reused, 2 attached, 0 detached; wired into " in (
        first.out
    )
    assert "version 2; 4 write request(s)" in first.out
    assert "docs/returns.md" in first.out and "completed" in first.out

    before = world.posts()
    second = await cli("assistants", "apply", "-f", path, "-p", "kb")
    assert second.code == 0, second.out
    assert "Concierge: no changes (version 2)" in second.out
    assert "(reused), 2 file(s): 0 uploaded, 2 reused, 0 attached, 0 detached; already " in (
        second.out
    )
    assert "wired; 0 write request(s)" in second.out
    assert world.posts() == before

    world.write("logo.png", b"\x89PNG\r\n\x1a\nnot really")
    failed = await cli("assistants", "apply", "-f", apply_file(world, ["logo.png"]), "-p", "kb")
    assert failed.code == 1, failed.out
    assert "logo.png: ingestion failed: The file type is not supported.: use a format" in (
        failed.out
    )
    assert "1 file(s): 1 uploaded, 0 reused, 1 attached, 2 detached; already wired; 4 " in (
        failed.out
    )


async def test_bad_knowledge_is_refused_before_anything_is_written_or_enqueued(
    cli: FerryCLI,
    knowledge_world: KnowledgeWorld,  # noqa: F811
) -> None:
    world = knowledge_world
    world.write("big.md", b"x" * 2048)
    path = apply_file(world, ["nothing/*.md", "missing.md", "big.md"])
    cli.env["KNOWLEDGE_MAX_FILE_MB"] = "0.001"
    before = world.posts()
    refused = await cli("assistants", "apply", "-f", path, "-p", "kb")
    assert refused.code == 1
    folder = world.folder
    said = " ".join(refused.out.split())  # rich wraps long lines
    expected = [
        f"error: {path}: assistants[0].knowledge.files[0]: 'nothing/*.md' matches no file in "
        f"{folder}: fix the pattern (globs are relative to the apply file's directory)",
        f"error: {path}: assistants[0].knowledge.files[1]: no such file {folder / 'missing.md'}:"
        " fix the path (paths are relative to the apply file's directory) or remove it from "
        "the list",
        f"error: {path}: assistants[0].knowledge.files[2]: {folder / 'big.md'} is 0.0 MB "
        "(2048 bytes), over the limit of 0.001 MB (KNOWLEDGE_MAX_FILE_MB): split it into "
        "smaller files",
    ]
    assert said.count("error: ") == 3
    for message in expected:
        assert message in said
    assert "nothing was changed" in refused.out
    assert await synced_jobs(world) == 0
    assert world.posts() == before
    listed = await cli("assistants", "list", "-p", "kb")
    assert "0 assistant(s)" in listed.out

    clash = {
        "name": "Concierge",
        "model": "gpt-4o",
        "tool_resources": {"file_search": {"vector_store_ids": ["vs_elsewhere"]}},
        "knowledge": {"files": ["big.md"], "chunking": {"max_chunk_size_tokens": 50}},
    }
    (folder / "clash.yaml").write_text(yaml.safe_dump(clash))
    refused = await cli("assistants", "apply", "-f", str(folder / "clash.yaml"), "-p", "kb")
    assert refused.code == 1
    assert "knowledge.chunking.max_chunk_size_tokens: Input should be greater than or equal to" in (
        refused.out
    )
    assert "knowledge.chunking.chunk_overlap_tokens: Field required" in refused.out
    assert await synced_jobs(world) == 0
