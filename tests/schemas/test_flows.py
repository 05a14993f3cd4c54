"""The flow contract: deterministic patch ids, checked payloads, composition and diffs."""

from __future__ import annotations

import difflib

import pytest
from pydantic import ValidationError

from schemas.flows import Edit, PatchMode, PatchPrompt, PublishFlow, final_prompt, prompt_diff

EDIT = {"block_id": "block_1", "old_text": "Olá", "new_text": "Oi"}


def patch(**changes: object) -> PatchPrompt:
    fields = {
        "profile": "dst",
        "assistant": "Sofia — Clínica",
        "base_version": 3,
        "edits": [EDIT],
        "requested_by": "ops:maria",
    }
    return PatchPrompt.model_validate({**fields, **changes})


def test_a_patch_id_is_the_flow_its_base_version_and_a_hash_of_the_edits() -> None:
    job = patch()
    assert job.job_id() == patch(requested_by="someone else").job_id()
    assert job.job_id().startswith(f"flow.patch-{job.flow_key()}-v3-")
    assert patch(base_version=4).job_id() != job.job_id()
    assert patch(edits=[{**EDIT, "new_text": "Oi!"}]).job_id() != job.job_id()
    assert patch(assistant="Outra").job_id() != job.job_id()


@pytest.mark.parametrize(
    ("changes", "loc", "words"),
    [
        ({"edits": []}, ("edits",), "at least 1 item"),
        ({"edits": [{**EDIT, "new_text": "Olá"}]}, ("edits", 0), "changes nothing"),
        ({"edits": [{**EDIT, "old_text": ""}]}, ("edits", 0, "old_text"), "at least 1 character"),
        ({"base_version": 0}, ("base_version",), "greater than or equal to 1"),
        ({"publish_label": "Live!"}, ("publish_label",), "a label is 1-64 lower-case"),
        ({"requested_by": "  "}, ("requested_by",), "say who asks"),
        (
            {"mode": "semantic", "edits": [EDIT, {**EDIT, "block_id": "block_2"}]},
            (),
            "one block at a time",
        ),
    ],
)
def test_bad_patch_payloads_name_the_field(
    changes: dict[str, object], loc: tuple[object, ...], words: str
) -> None:
    with pytest.raises(ValidationError) as error:
        patch(**changes)
    [problem] = error.value.errors()
    assert problem["loc"] == loc and words in problem["msg"]


def test_a_publish_label_is_checked() -> None:
    fields = {"profile": "dst", "assistant": "a", "requested_by": "x", "request_id": "r"}
    assert PublishFlow(**fields, label="staging-2").label == "staging-2"
    with pytest.raises(ValidationError, match="a label is 1-64"):
        PublishFlow(**fields, label="Produção")
    assert PatchMode("semantic") is PatchMode.semantic and Edit(**EDIT).occurrence is None


def test_the_final_prompt_is_globals_then_canonical() -> None:
    assert final_prompt("# TOM\r\nbreve\r\n", '"Oi"\r\n') == '# TOM\r\nbreve\r\n"Oi"\r\n'
    assert final_prompt("# TOM\r\nbreve", '"Oi"') == '# TOM\r\nbreve\r\n"Oi"'
    assert final_prompt("", '"Oi"\n') == '"Oi"\n'


def test_a_diff_far_down_a_long_prompt_is_numbered_as_difflib_numbers_it() -> None:
    old = "".join(f"linha {n}\r\n" for n in range(2000))
    new = old.replace("linha 1500\r\n", "linha 1500 mudou\r\n")
    expected = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), "v1", "v2"
        )
    )
    assert prompt_diff(old, new, "v1", "v2") == expected
    assert "@@ -1498,7 +1498,7 @@" in expected
    assert prompt_diff(old, old, "v1", "v2") == ""
