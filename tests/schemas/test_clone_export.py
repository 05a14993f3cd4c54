"""Export files read as a clone's source: ids, and errors naming the field and the fix."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from schemas.assistants import SpecError, parse_spec
from schemas.clone import ClonePlanJob
from schemas.clone_export import MAX_EXPORT_BYTES, export_ref, parse_export
from schemas.registry_snapshot import RegistrySnapshot


def dump(*entries: dict) -> bytes:
    return json.dumps(list(entries)).encode()


def test_a_raw_dump_keeps_its_ids_and_names_stand_in_where_there_is_none() -> None:
    parsed = parse_export(
        dump({"id": "asst_1", "name": "A", "model": "m"}, {"name": "B", "model": "m"})
    )
    assert [(a.source_id, a.spec.name) for a in parsed.assistants] == [("asst_1", "A"), ("B", "B")]


def test_a_snapshot_is_known_by_its_names_and_its_profile() -> None:
    data = RegistrySnapshot.of("legacy", [parse_spec({"name": "Z", "model": "m"})]).to_json()
    ref = export_ref(data.encode(), "legacy.json")
    assert (ref.format, ref.profile, ref.label, ref.size) == (
        "snapshot",
        "legacy",
        "export:legacy.json",
        len(data.encode()),
    )
    assert ref.sha256 == hashlib.sha256(data.encode()).hexdigest()
    assert [a.source_id for a in parse_export(data.encode()).assistants] == ["Z"]


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        (b"\xff\xfe", [("file", "not UTF-8 text")]),
        (dump({"id": 7, "name": "A", "model": "m"}), [("[0].id", "expected the assistant's id")]),
        (b"{}", [("file", "expected a 'ferry.assistants' snapshot")]),
        (b" " * (MAX_EXPORT_BYTES + 1), [("file", "64.0 MiB is over the limit of 64 MiB")]),
    ],
)
def test_bad_exports_name_the_field(data: bytes, problems: list[tuple[str, str]]) -> None:
    with pytest.raises(SpecError) as refused:
        parse_export(data)
    assert [
        (path, message[: len(start)])
        for (path, message), (_, start) in zip(refused.value.problems, problems, strict=True)
    ] == problems


def test_a_plan_job_names_its_export_consistently() -> None:
    data = dump({"id": "asst_1", "name": "A", "model": "m"})
    ref = export_ref(data, "d.json")
    job = ClonePlanJob(source="export:d.json", source_export=ref, destination="dst", request_id="r")
    assert job.source_export == ref
    named = re.escape("a clone from an export file is named 'export:d.json'")
    with pytest.raises(ValueError, match=named):
        ClonePlanJob(source="other", source_export=ref, destination="dst", request_id="r")
    unnamed = re.escape("names an export file; pass the file with --from-file")
    with pytest.raises(ValueError, match=unnamed):
        ClonePlanJob(source="export:d.json", destination="dst", request_id="r")
