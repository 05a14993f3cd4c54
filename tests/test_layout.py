"""Dependencies point one way: producers → schemas, store ← worker; the sandbox stands alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
OURS = {"schemas", "store", "producers", "worker", "sandbox"}
ALLOWED = {
    "schemas": {"schemas"},
    "store": {"store", "schemas"},
    "producers": {"producers", "schemas", "store"},
    "worker": {"worker", "schemas", "store"},
    "sandbox": {"sandbox"},
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


# Job kinds stay apart: a kind's package may use the worker's shared parts (kinds, backends,
# the OpenAI clients, settings), never another kind's package.
KIND_PACKAGES = {"flows"}
SHARED_WORKER_MODULES = {"kinds", "backends", "openai", "settings", "registry"}


def worker_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {n.split(".")[1] for n in names if n.startswith("worker.") and "." in n}
    return found


@pytest.mark.parametrize("kind", sorted(KIND_PACKAGES))
def test_a_job_kind_package_uses_only_the_workers_shared_parts(kind: str) -> None:
    allowed = SHARED_WORKER_MODULES | {kind}
    offenders = [
        f"{path.relative_to(ROOT)} imports worker.{name}"
        for path in sorted((ROOT / "worker" / kind).rglob("*.py"))
        for name in sorted(worker_modules(path) - allowed)
    ]
    assert (ROOT / "worker" / kind / "__init__.py").exists()
    assert offenders == []


def test_the_flow_parser_and_patches_are_pure() -> None:
    """Parsing and exact patching touch no store or network: they are what the bench times."""
    for module in ("parser", "patch", "compose"):
        path = ROOT / "worker" / "flows" / f"{module}.py"
        imported = imported_packages(path) | {
            name
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        }
        assert not imported & {"store", "asyncpg", "redis", "openai", "httpx", "arq"}, module
