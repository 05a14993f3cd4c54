"""The spec validator itself: it must reject what the spec rejects, or every other test lies."""

from __future__ import annotations

import pytest

from tests.sandbox.openapi import assert_matches, errors

FILE = {
    "id": "file-abc",
    "object": "file",
    "bytes": 3,
    "created_at": 1,
    "filename": "a.txt",
    "purpose": "assistants",
    "status": "processed",
}


def test_a_valid_file_object_matches() -> None:
    assert_matches("OpenAIFile", FILE, strict=True)


def test_wrong_enum_and_missing_fields_are_reported() -> None:
    problems = errors("OpenAIFile", {**FILE, "object": "files", "bytes": None})
    assert any("object" in p for p in problems)
    assert any("bytes" in p for p in problems)


def test_nested_refs_are_resolved() -> None:
    bad = {"error": {"message": "m", "type": "t", "param": None}}
    with pytest.raises(AssertionError, match="code"):
        assert_matches("ErrorResponse", bad)


def test_strict_rejects_undeclared_fields() -> None:
    assert_matches("OpenAIFile", {**FILE, "invented": 1})
    with pytest.raises(AssertionError, match="invented"):
        assert_matches("OpenAIFile", {**FILE, "invented": 1}, strict=True)


def test_unknown_schema_name_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        assert_matches("NoSuchSchema", {})
