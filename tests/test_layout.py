"""Dependencies point one way: api → producers → schemas, store ← worker; sandbox stands alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
OURS = {"schemas", "store", "producers", "worker", "sandbox", "api"}
ALLOWED = {
    "schemas": {"schemas"},
    "store": {"store", "schemas"},
    "producers": {"producers", "schemas", "store"},
    "worker": {"worker", "schemas", "store"},
    "sandbox": {"sandbox"},
    # The HTTP API is a producer: the client and the store, never the worker.
    "api": {"api", "producers", "schemas", "store"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_design_allows(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_packages(path) - ALLOWED[package])
    ]
    assert offenders == []
