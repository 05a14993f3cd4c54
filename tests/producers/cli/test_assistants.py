"""`ferry assistants`, run as a real subprocess against this test's schema and key prefix."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
import yaml
from arq.connections import ArqRedis

from schemas.keys import RedisKeys
from store import registry
from tests.producers.cli.conftest import FerryCLI
from tests.specs import TRADER as SPEC
from worker.registry import ConfigCache


@pytest.fixture
def cli(ferry_cli: FerryCLI) -> FerryCLI:
    ferry_cli.env.update(
        OPENAI_API_KEY="sk-test-" + "a" * 20, OPENAI_OTHER_API_KEY="sk-test-" + "b" * 20
    )
    return ferry_cli


def write(path: Path, data: object) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


async def test_apply_is_idempotent_prints_changes_and_reaches_running_workers(
    cli: FerryCLI, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str, tmp_path: Path
) -> None:
    spec_file = write(tmp_path / "trader.yaml", SPEC)
    planned = await cli("assistants", "apply", "-f", spec_file, "--dry-run")
    assert planned.code == 0 and "trader: would be created, version 1" in planned.out
    assert await registry.list_entries(db) == []
    created = await cli("assistants", "apply", "-f", spec_file)
    assert created.code == 0, created.out
    assert "trader: created, version 1" in created.out and "tools[get_price]" in created.out
    again = await cli("assistants", "apply", "-f", spec_file)
    assert again.code == 0 and "trader: no changes (version 1)" in again.out

    cache = ConfigCache(redis, db, RedisKeys(key_prefix))
    await cache.start()
    try:
        assert (await cache.get("default", "trader")).spec.instructions == SPEC["instructions"]
        edited = {**SPEC, "instructions": "Be brief.", "metadata": {"team": "fx"}}
        updated = await cli("assistants", "apply", "-f", write(tmp_path / "t.yaml", edited))
        assert updated.code == 0 and "trader: updated, version 2" in updated.out
        rows = [line for line in updated.out.splitlines() if "│" in line]
        fields = {line.split("│")[1].strip() for line in rows} - {"field"}
        assert fields == {"instructions", "metadata.team"}
        # the worker's cached copy was dropped by the CLI's announcement
        assert (await cache.get("default", "trader")).spec.instructions == "Be brief."
    finally:
        await cache.aclose()

    shown = await cli("assistants", "show", "trader")
    assert shown.code == 0 and "version 2" in shown.out
    (tmp_path / "shown.yaml").write_text(shown.out)
    reapplied = await cli("assistants", "apply", "-f", str(tmp_path / "shown.yaml"))
    assert "trader: no changes (version 2)" in reapplied.out
    listed = await cli("assistants", "list")
    assert "trader" in listed.out and "1 assistant(s)" in listed.out
    deleted = await cli("assistants", "delete", "trader")
    assert deleted.code == 0 and await registry.list_entries(db) == []
    missing = await cli("assistants", "delete", "trader")
    assert missing.code == 1 and "no assistant 'trader'" in missing.out


async def test_bad_specs_name_the_field_and_change_nothing(
    cli: FerryCLI, db: asyncpg.Pool, tmp_path: Path
) -> None:
    bad = {
        **SPEC,
        "temperature": "hot",
        "tools": [
            {
                "type": "function",
                "name": "get_price",
                "parameters": {"type": "object", "properties": {"symbol": {"type": "strin"}}},
            }
        ],
        "metadata": {"note": "x" * 600},
    }
    ran = await cli("assistants", "apply", "-f", write(tmp_path / "bad.yaml", bad))
    assert ran.code == 1 and "nothing was changed" in ran.out
    for field in ("temperature", "tools[0].parameters.properties.symbol.type", "metadata.note"):
        assert f": {field}: " in ran.out, field
    # the first spec is fine, the second repeats a tool name: neither is written
    twice = {**SPEC, "name": "other", "tools": [*SPEC["tools"], *SPEC["tools"]]}
    ran = await cli("assistants", "apply", "-f", write(tmp_path / "two.yaml", [SPEC, twice]))
    assert ran.code == 1 and "[1].tools[1].name: tools[1] has the name 'get_price'" in ran.out
    # a sub-assistant that is not in the registry is refused inside the transaction
    calls = {
        **SPEC,
        "name": "caller",
        "tools": [{"type": "sub_assistant", "name": "ask", "assistant": "ghost"}],
    }
    ran = await cli("assistants", "apply", "-f", write(tmp_path / "sub.yaml", [SPEC, calls]))
    assert ran.code == 1 and "[1].tools[0].assistant: no assistant 'ghost'" in ran.out
    ran = await cli("assistants", "apply", "-f", write(tmp_path / "ok.yaml", SPEC), "-p", "nope")
    assert ran.code == 1 and "OPENAI_NOPE_API_KEY" in ran.out
    assert await registry.list_entries(db) == []


async def test_export_import_round_trips_exactly_and_reads_a_raw_v2_dump(
    cli: FerryCLI, db: asyncpg.Pool, tmp_path: Path
) -> None:
    analyst = {"name": "analyst", "model": "gpt-4o", "temperature": 0.3}
    calls = {
        **SPEC,
        "tools": [*SPEC["tools"], {"type": "sub_assistant", "name": "ask", "assistant": "analyst"}],
    }
    # callee listed after its caller: apply orders the writes
    await cli("assistants", "apply", "-f", write(tmp_path / "both.yaml", [calls, analyst]))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert (await cli("assistants", "export", "-o", str(first))).code == 0
    imported = await cli("assistants", "import", str(first), "--profile", "other")
    assert imported.code == 0 and "imported 2 assistant(s) into 'other': 2 changed" in imported.out
    await cli("assistants", "export", "--profile", "other", "-o", str(second))
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["format"] == "ferry.assistants" and a["version"] == 1
    assert a["assistants"] == b["assistants"] and len(a["assistants"]) == 2

    dump = {
        "object": "list",
        "data": [
            {
                "id": "asst_legacy1",
                "object": "assistant",
                "created_at": 1700000000,
                "name": "legacy",
                "model": "gpt-4-turbo",
                "instructions": "Old but gold.",
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                "tool_resources": {"code_interpreter": {"file_ids": ["file-1"]}},
                "metadata": {},
                "temperature": 1.0,
                "top_p": 1.0,
                "response_format": "auto",
            }
        ],
    }
    (tmp_path / "dump.json").write_text(json.dumps(dump))
    ran = await cli("assistants", "import", str(tmp_path / "dump.json"), "--profile", "other")
    assert ran.code == 0 and "asst_legacy1 → legacy" in ran.out
    legacy = await registry.get(db, "other", "legacy")
    assert legacy.spec.instructions == "Old but gold."
    assert legacy.spec.tool_resources.code_interpreter.file_ids == ["file-1"]


async def test_show_writes_long_instructions_as_a_block_scalar_apply_takes_back(
    cli: FerryCLI, db: asyncpg.Pool, tmp_path: Path
) -> None:
    instructions = '# IDENTIDADE\nVocê é a Sofia 😊.\n\n# FLUXO\n\t"Olá!"\nENCERRAR\n'
    spec = {**SPEC, "instructions": instructions}
    assert (await cli("assistants", "apply", "-f", write(tmp_path / "s.yaml", spec))).code == 0
    shown = await cli("assistants", "show", "trader")
    assert "instructions: |\n  # IDENTIDADE\n  Você é a Sofia 😊.\n\n  # FLUXO\n" in shown.out
    (tmp_path / "shown.yaml").write_text(shown.out, "utf-8")
    reapplied = await cli("assistants", "apply", "-f", str(tmp_path / "shown.yaml"))
    assert "trader: no changes (version 1)" in reapplied.out
