"""`ferry clone`, run as a real subprocess, with a clone-queue worker running in the test."""

from __future__ import annotations

import re

import pytest

from tests.producers.cli.conftest import FerryCLI
from tests.worker.clone.conftest import (  # noqa: F401 - fixtures
    CloneWorld,
    clone_world,
    dst_style,
    in_process_worker,
    seed_source,
    src_style,
)

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
