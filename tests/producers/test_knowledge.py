"""Resolving an apply file's `knowledge:` block: paths and globs, each problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.knowledge import LocalKnowledge, resolve
from schemas.assistants import SpecError
from schemas.knowledge import parse_knowledge


def item(files: list[str], label: str = "assistants[0]") -> LocalKnowledge:
    return LocalKnowledge("Concierge", label, parse_knowledge({"files": files}, "knowledge"))


def test_paths_and_globs_resolve_relative_to_the_apply_file_once_each(tmp_path: Path) -> None:
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    for name in ("docs/a.md", "docs/b.txt", "docs/deep/c.md", "top.md"):
        (tmp_path / name).write_text(name)
    wanted = item(["top.md", "docs/*.md", "docs/**/*.md", str(tmp_path / "docs" / "b.txt")])
    resolve([wanted], tmp_path, 1)
    assert wanted.names == ["top.md", "docs/a.md", "docs/deep/c.md", "docs/b.txt"]
    assert wanted.paths[0] == tmp_path / "top.md"


def test_every_bad_file_is_named_with_its_fix(tmp_path: Path) -> None:
    (tmp_path / "big.pdf").write_bytes(b"x" * (3 * 2**19))
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    bad = item(["docs/*.md", "missing.md", "big.pdf", "empty.md", "folder"])
    with pytest.raises(SpecError) as raised:
        resolve([bad], tmp_path, 1)
    assert raised.value.problems == [
        (
            "assistants[0].knowledge.files[0]",
            f"'docs/*.md' matches no file in {tmp_path}: fix the pattern (globs are relative "
            "to the apply file's directory)",
        ),
        (
            "assistants[0].knowledge.files[1]",
            f"no such file {tmp_path / 'missing.md'}: fix the path (paths are relative to the "
            "apply file's directory) or remove it from the list",
        ),
        (
            "assistants[0].knowledge.files[2]",
            f"{tmp_path / 'big.pdf'} is 1.5 MB (1572864 bytes), over the limit of 1 MB "
            "(KNOWLEDGE_MAX_FILE_MB): split it into smaller files",
        ),
        (
            "assistants[0].knowledge.files[3]",
            f"{tmp_path / 'empty.md'} is empty: OpenAI refuses empty files; remove it from the "
            "list",
        ),
        (
            "assistants[0].knowledge.files[4]",
            f"{tmp_path / 'folder'} is not a file: name files, or use a glob such as 'folder/*'",
        ),
    ]


def test_a_bad_block_names_the_field() -> None:
    with pytest.raises(SpecError) as raised:
        parse_knowledge({"files": [], "chunking": "big", "extra": 1}, "assistants[1].knowledge")
    assert raised.value.problems == [
        (
            "assistants[1].knowledge.files",
            "List should have at least 1 item after validation, not 0",
        ),
        (
            "assistants[1].knowledge.chunking",
            "expected 'auto' or {max_chunk_size_tokens: N, chunk_overlap_tokens: M}",
        ),
        ("assistants[1].knowledge.extra", "Extra inputs are not permitted"),
    ]
    with pytest.raises(SpecError) as raised:
        parse_knowledge(
            {
                "files": ["a"],
                "chunking": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 60},
            },
            "knowledge",
        )
    assert raised.value.problems == [
        (
            "knowledge.chunking",
            "chunk_overlap_tokens 60 is over half of max_chunk_size_tokens (50): lower the overlap",
        )
    ]
    static = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 0}}
    assert parse_knowledge({"files": ["a"], "chunking": static}, "k").chunking_body() == static
    assert parse_knowledge({"files": ["a"], "chunking": "auto"}, "k").chunking_body() is None
