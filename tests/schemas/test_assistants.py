"""AssistantSpec: refusals that name the field, exact v2 round trips, Responses parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.assistant_changes import spec_changes
from schemas.assistants import AssistantSpec, SpecError, parse_spec
from schemas.registry_snapshot import RegistrySnapshot, read_import

FULL: dict[str, Any] = {
    "name": "trader",
    "model": "gpt-4o",
    "description": "Quotes prices",
    "instructions": "Answer with the latest price.",
    "temperature": 0.2,
    "top_p": 0.9,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "quote", "schema": {"type": "object"}, "strict": True},
    },
    "tools": [
        {
            "type": "function",
            "name": "get_price",
            "description": "Price of a symbol",
            "parameters": {
                "type": "object",
                # property order matters to strict structured outputs: kept as written
                "properties": {"symbol": {"type": "string"}, "at": {"type": "string"}},
                "required": ["symbol"],
            },
            "strict": False,
        },
        {"type": "file_search", "max_num_results": 5},
        {"type": "code_interpreter"},
        {"type": "sub_assistant", "name": "ask_analyst", "assistant": "analyst"},
    ],
    "tool_resources": {
        "file_search": {"vector_store_ids": ["vs_1"]},
        "code_interpreter": {"file_ids": ["file-1", "file-2"]},
    },
    "metadata": {"team": "markets"},
}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return dict(caught.value.problems)


def test_invalid_json_schema_is_refused_with_the_path_inside_the_schema() -> None:
    data = json.loads(json.dumps(FULL))
    data["tools"][0]["parameters"]["properties"]["symbol"]["type"] = "strin"
    found = problems(data)
    assert list(found) == ["tools[0].parameters.properties.symbol.type"]
    assert "'strin'" in found["tools[0].parameters.properties.symbol.type"]


def test_wrong_types_duplicate_tools_and_metadata_limits_each_name_their_field() -> None:
    found = problems(
        {
            "name": "x",
            "model": 4,
            "temperature": 3,
            "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}],
            "metadata": {"k" * 65: "v", "long": "v" * 513},
        }
    )
    assert set(found) == {"model", "temperature", "tools[1].name", f"metadata.{'k' * 65}"}
    found = problems({"name": "x", "model": "m", "metadata": {"long": "v" * 513}})
    assert set(found) == {"metadata.long"}
    found = problems({"name": "x", "model": "m", "metadata": {str(i): "v" for i in range(17)}})
    assert "17 keys" in found["metadata"]


def test_a_bad_response_format_names_the_field() -> None:
    assert set(problems({"name": "x", "model": "m", "response_format": "xml"})) == {
        "response_format"
    }
    assert set(
        problems({"name": "x", "model": "m", "response_format": {"type": "json_schema"}})
    ) == {"response_format.json_schema"}


def test_sub_assistant_marker_counts_against_the_metadata_limit() -> None:
    data = {
        "name": "x",
        "model": "m",
        "tools": [{"type": "sub_assistant", "name": "ask", "assistant": "y"}],
        "metadata": {str(i): "v" for i in range(16)},
    }
    assert "17 keys" in " ".join(problems(data).values())


def test_v2_round_trip_is_exact() -> None:
    spec = parse_spec(FULL)
    v2_object = {"id": "asst_1", "object": "assistant", "created_at": 1, **spec.to_v2_update()}
    assert AssistantSpec.from_v2(v2_object) == spec
    # ...and the v2 object survives the trip through the spec, nested tools and all
    again = AssistantSpec.from_v2(v2_object).to_v2_update()
    assert {k: v2_object[k] for k in again} == again
    assert list(again["tools"][0]["function"]["parameters"]["properties"]) == ["symbol", "at"]


def test_v2_create_leaves_unset_fields_to_the_server() -> None:
    spec = parse_spec({"name": "x", "model": "m"})
    assert spec.to_v2_create() == {"model": "m", "name": "x", "tools": [], "metadata": {}}
    assert spec.to_v2_update()["temperature"] is None  # an update resets what the spec unsets


def test_v2_objects_with_nested_tools_and_empty_resources_read_as_specs() -> None:
    spec = AssistantSpec.from_v2(
        {
            "id": "asst_9",
            "object": "assistant",
            "created_at": 1,
            "name": "old",
            "model": "gpt-4",
            "description": None,
            "instructions": None,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_resources": {"code_interpreter": {"file_ids": []}},
            "metadata": None,
            "temperature": 1.0,
            "top_p": 1.0,
            "response_format": "auto",
        }
    )
    assert spec.tools[0].name == "f"
    assert spec.tool_resources is None
    assert spec.metadata == {}
    assert spec.response_format == "auto"


def test_responses_params_carry_instructions_tools_stores_and_text_format() -> None:
    params = parse_spec(FULL).to_responses_params()
    assert params["instructions"] == FULL["instructions"]
    assert params["model"] == "gpt-4o"
    tools = {tool.get("name", tool["type"]): tool for tool in params["tools"]}
    assert tools["file_search"] == {
        "type": "file_search",
        "vector_store_ids": ["vs_1"],
        "max_num_results": 5,
    }
    assert tools["code_interpreter"]["container"] == {
        "type": "auto",
        "file_ids": ["file-1", "file-2"],
    }
    assert tools["get_price"]["parameters"] == FULL["tools"][0]["parameters"]
    assert tools["get_price"]["strict"] is False
    assert tools["ask_analyst"]["type"] == "function"
    assert params["text"] == {
        "format": {
            "type": "json_schema",
            "name": "quote",
            "schema": {"type": "object"},
            "strict": True,
        }
    }
    assert "text" not in parse_spec({"name": "x", "model": "m"}).to_responses_params()


def test_changes_are_listed_field_by_field() -> None:
    old = parse_spec(FULL)
    data = json.loads(json.dumps(FULL))
    data["instructions"] = "Be brief."
    data["tools"][0]["parameters"]["required"] = ["symbol", "at"]
    data["metadata"] = {"team": "markets", "tier": "gold"}
    changes = {c.field: (c.before, c.after) for c in spec_changes(old, parse_spec(data))}
    assert set(changes) == {"instructions", "tools[get_price].parameters", "metadata.tier"}
    assert changes["metadata.tier"] == (None, "gold")
    assert spec_changes(old, parse_spec(FULL)) == []


def test_snapshot_round_trips_exactly() -> None:
    snapshot = RegistrySnapshot.of(
        "dst", [parse_spec(FULL), parse_spec({"name": "a", "model": "m"})]
    )
    text = snapshot.to_json()
    batch = read_import(json.loads(text))
    assert batch.kind == "snapshot" and batch.profile == "dst"
    again = RegistrySnapshot(
        profile="dst", exported_at=snapshot.exported_at, assistants=batch.specs
    )
    assert again.to_json() == text


def test_raw_v2_dump_is_read_and_bad_entries_are_named() -> None:
    good = {
        "id": "asst_1",
        "object": "assistant",
        "created_at": 1,
        "name": "a",
        "model": "m",
        "tools": [],
        "metadata": {},
    }
    batch = read_import({"object": "list", "data": [good]})
    assert batch.kind == "assistants_api_dump" and batch.source_ids == ["asst_1"]
    with pytest.raises(SpecError) as caught:
        read_import([good, {**good, "id": "asst_2", "name": None}, {**good, "temperature": 9}])
    assert {path for path, _ in caught.value.problems} == {"[1].name", "[2].temperature"}
