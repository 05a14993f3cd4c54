"""The sandbox ships what it needs (its import rules are in tests/test_layout.py)."""

from __future__ import annotations

from pathlib import Path

SANDBOX = Path(__file__).parents[2] / "sandbox"


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
