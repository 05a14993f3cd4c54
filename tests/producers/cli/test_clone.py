"""`ferry clone`, run as a real subprocess, with a clone-queue worker running in the test."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from schemas.assistants import parse_spec
from schemas.registry_snapshot import RegistrySnapshot
from store import blob_rows, ledger, registry
from tests.producers.cli.conftest import FerryCLI
from tests.worker.clone.conftest import (  # noqa: F401 - fixtures
    CloneWorld,
    clone_world,
    dst_style,
    in_process_worker,
    seed_source,
    src_style,
)
from tests.worker.clone.history_world import seed_history

pytestmark = pytest.mark.timeout(300)


async def test_plan_then_apply_then_show(
    clone_world: CloneWorld,  # noqa: F811
    ferry_cli: FerryCLI,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = clone_world
    await seed_source(world)
    # Seed 000's variables are the flags' defaults.
    cli_env.update(CLONE_MODE="by_name", CLONE_NAMES="concierge,PLAIN", CLONE_NAME_PREFIX="QA - ")
    planned = await ferry_cli("clone", "plan", "--from", "src", "--to", "dst", "--file-search")
    assert planned.code == 0, planned.out
    assert "create    QA - Support Concierge" in planned.out
    assert "create    QA - Plain Helper" in planned.out
    assert "Data Analyst" not in planned.out
    assert "vector store Support KB: 2 file(s)" in planned.out
    assert "4 write request(s)" in planned.out
    [plan_id] = re.findall(r"apply it with: ferry clone apply (\S+)", planned.out)

    applied = await ferry_cli("clone", "apply", plan_id)
    assert applied.code == 0, applied.out
    assert "2 of 2 cloned, 0 failed, 2 file(s), 4 write request(s)" in applied.out
    assert (world.out / plan_id / "report.md").exists()

    shown = await ferry_cli("clone", "show", plan_id)
    assert shown.code == 0 and "2 of 2 cloned" in shown.out

    unknown = await ferry_cli("clone", "apply", "not-a-plan")
    assert unknown.code == 1
    assert "no clone plan 'not-a-plan'" in unknown.out and "nothing was changed" in unknown.out

    same = await ferry_cli("clone", "plan", "--from", "src", "--to", "src")
    assert same.code == 1 and "a clone needs two profiles" in same.out

    bad_map = await ferry_cli("clone", "plan", "--from", "src", "--to", "dst", "--model-map", "x")
    assert bad_map.code == 1 and "--model-map 'x': write it as old=new" in bad_map.out

    cli_env.update(DRY_RUN="true")
    dry = await ferry_cli("clone", "apply", "--from", "src", "--to", "dst")
    assert dry.code == 0 and "DRY_RUN is set: planned only, nothing applied" in dry.out
    assert "unchanged QA - Support Concierge" in dry.out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_threads_from_a_csv_are_planned_and_copied(
    clone_world: CloneWorld,  # noqa: F811
    ferry_cli: FerryCLI,
    tmp_path: Path,
) -> None:
    world = clone_world
    history = await seed_history(world, messages_per_thread=25)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"user_id,assistant_id,thread_id\nbob,{history.assistant_id}\nx,y,z\n")
    refused = await ferry_cli(
        "clone", "plan", "--from", "src", "--to", "dst", "--threads-from", str(bad)
    )
    assert refused.code == 1
    assert "line 2: 2 field(s), expected 3 (user_id,assistant_id,thread_id)" in refused.out
    assert "line 3: assistant_id 'y' is not an assistant id (asst_…)" in refused.out
    assert "nothing was changed" in refused.out

    good = tmp_path / "threads.csv"
    good.write_text(f"user-0002,{history.assistant_id},{history.threads[1]}\n")
    planned = await ferry_cli(
        "clone", "plan", "--from", "src", "--to", "dst", "--threads-from", str(good)
    )
    assert planned.code == 0, planned.out
    assert "threads: 2 → conversations, 50 message(s)" in planned.out
    assert "chat history: 2 thread(s), 50 message(s), 20 per append" in planned.out
    [plan_id] = re.findall(r"apply it with: ferry clone apply (\S+)", planned.out)
    applied = await ferry_cli("clone", "apply", plan_id)
    assert applied.code == 0, applied.out
    assert (
        "threads: 2 copied, 0 failed; 50 message(s), 3 annotation(s) dropped, 4 image(s) "
        "re-mapped, 0 assistant image(s) kept as text"
    ) in applied.out


async def test_plan_and_apply_from_an_export_file(
    clone_world: CloneWorld,  # noqa: F811
    ferry_cli: FerryCLI,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    world = clone_world
    specs = [
        parse_spec({"name": "Support Concierge", "model": "gpt-4o", "instructions": "Help."}),
        parse_spec({"name": "Plain Helper", "model": "gpt-4o"}),
    ]
    export = tmp_path / "legacy.json"
    export.write_text(RegistrySnapshot.of("legacy", specs).to_json())
    # Seed 000's variables are the defaults here too.
    cli_env.update(CLONE_MODE="by_name", CLONE_NAMES="concierge", CLONE_NAME_PREFIX="X - ")
    flags = ("--from-file", str(export), "--to", "dst")

    planned = await ferry_cli("clone", "plan", *flags)
    assert planned.code == 0, planned.out
    assert (
        "export file legacy.json (Ferry snapshot of profile legacy) → dst (responses)"
    ) in planned.out
    assert "create    X - Support Concierge  Support Concierge" in planned.out
    assert "Plain Helper" not in planned.out

    applied = await ferry_cli("clone", "apply", *flags)
    assert applied.code == 0, applied.out
    assert "1 of 1 cloned, 0 failed, 0 file(s), 0 write request(s)" in applied.out
    [entry] = await registry.list_entries(world.ferry.db, "dst")
    assert (entry.name, entry.spec.metadata) == (
        "X - Support Concierge",
        {"cloned_from": "Support Concierge"},
    )
    assert (
        "**Source:** export file legacy.json (Ferry snapshot of profile legacy"
        in (world.out / "report.md").read_text()
    )

    again = await ferry_cli("clone", "apply", *flags)
    assert again.code == 0, again.out
    assert "unchanged X - Support Concierge" in again.out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "{not json",
            "bad.json: file: not JSON: Expecting property name enclosed in double "
            "quotes at line 1, column 2",
        ),
        (
            '{"format": "ferry.assistants", "version": 2, "profile": "p", "assistants": []}',
            "bad.json: version: snapshot version 2; this Ferry reads version 1",
        ),
        (
            '{"data": [{"object": "assistant", "id": "asst_1", "name": "A"}]}',
            "bad.json: data[0].model: Input should be a valid string",
        ),
        (
            '{"data": [{"id": "asst_1", "name": "A", "model": "m"},'
            ' {"id": "asst_1", "name": "B", "model": "m"}]}',
            "bad.json: data[1].id: 'asst_1' appears twice (also at data[0]): keep one",
        ),
        ('{"data": []}', "bad.json: data: the export holds no assistants: nothing to clone"),
    ],
)
async def test_a_malformed_export_is_refused_before_anything_is_enqueued(
    clone_world: CloneWorld,  # noqa: F811
    ferry_cli: FerryCLI,
    tmp_path: Path,
    content: str,
    expected: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    ran = await ferry_cli("clone", "plan", "--from-file", str(bad), "--to", "dst")
    assert ran.code == 1
    assert f"error: {tmp_path}/{expected}" in ran.out.replace("\n", ""), ran.out
    assert "nothing was changed" in ran.out
    db = clone_world.ferry.db
    assert await ledger.list_jobs(db, kind="clone.plan") == []
    assert await blob_rows.get_blob(db, hashlib.sha256(content.encode()).hexdigest()) is None


async def test_an_export_and_a_profile_are_not_both_a_source(
    clone_world: CloneWorld,  # noqa: F811
    ferry_cli: FerryCLI,
    tmp_path: Path,
) -> None:
    export = tmp_path / "e.json"
    export.write_text('{"data": [{"id": "asst_1", "name": "A", "model": "m"}]}')
    both = await ferry_cli(
        "clone", "plan", "--from", "src", "--from-file", str(export), "--to", "dst"
    )
    assert both.code == 1
    assert "--from (a profile) and --from-file (an export) both name a source" in both.out
    missing = await ferry_cli(
        "clone", "plan", "--from-file", str(tmp_path / "no.json"), "--to", "dst"
    )
    assert missing.code == 1
    assert f"--from-file {tmp_path}/no.json: cannot read it (No such file or directory)" in (
        missing.out.replace("\n", "")
    )
    assert await ledger.list_jobs(clone_world.ferry.db, kind="clone.plan") == []
