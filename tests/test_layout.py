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


# Inside worker/: packages below the job kinds stand alone, so every kind can use them; a
# job kind's package stands on those shared parts, never on another kind's package.
WORKER_PACKAGES = {
    # the blob store: bytes and links only, no OpenAI, no backends, no job kind
    "worker/blobs": {"worker.blobs", "store", "schemas"},
    # the port: jobs (clone, chat, flows) stand on it, never the other way round
    "worker/backends": {
        "worker.backends",
        "worker.blobs",
        "worker.openai",
        "worker.settings",
        "store",
        "schemas",
    },
    "worker/chat": {
        "worker.chat",
        "worker.backends",
        "worker.blobs",
        "worker.kinds",
        "worker.lease",
        "worker.openai",
        "worker.registry",
        "worker.settings",
        "store",
        "schemas",
    },
    # knowledge from local files: the port and the job machinery, never the clone package
    "worker/knowledge": {
        "worker.knowledge",
        "worker.kinds",
        "worker.backends",
        "store",
        "schemas",
    },
    "worker/flows": {
        "worker.flows",
        "worker.kinds",
        "worker.backends",
        "worker.openai",
        "worker.settings",
        "store",
        "schemas",
    },
}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in OURS}


@pytest.mark.parametrize("package", sorted(WORKER_PACKAGES))
def test_a_worker_package_imports_only_what_it_stands_on(package: str) -> None:
    allowed = WORKER_PACKAGES[package]
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert offenders == []


def test_the_flow_parser_and_patches_are_pure() -> None:
    """Parsing and exact patching touch no store, network or job machinery: the bench times them."""
    for module in ("parser", "patch", "compose"):
        path = ROOT / "worker" / "flows" / f"{module}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            name.split(".")[0]
            for node in ast.walk(tree)
            for name in (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
        }
        modules = imported_modules(path)
        assert not names & {"store", "asyncpg", "redis", "openai", "httpx", "arq"}, module
        assert all(m == "schemas.flows" or m.startswith("worker.flows") for m in modules), module
