"""The sandbox is a separate server: it imports nothing from Ferry's own packages."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).parents[2] / "sandbox"
FORBIDDEN = ("worker", "producers", "schemas")


def test_sandbox_imports_nothing_from_worker_producers_or_schemas() -> None:
    offenders = []
    for path in SANDBOX.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(SANDBOX.parent)}: {name}"
                for name in names
                if name.split(".")[0] in FORBIDDEN
            ]
    assert offenders == []


def test_the_bundled_fixture_ships_with_the_package() -> None:
    manifest = SANDBOX / "fixtures" / "demo" / "manifest.json"
    assert manifest.exists()
    import json

    spec = json.loads(manifest.read_text(encoding="utf-8"))
    for project in spec["projects"]:
        for entry in project["files"]:
            assert (manifest.parent / entry["path"]).exists(), entry["path"]
        for assistant in project["assistants"]:
            assert (manifest.parent / assistant["instructions_file"]).exists()
