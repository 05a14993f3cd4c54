"""Fixtures shared by every test package: the sandbox over loopback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from openai import AsyncOpenAI

from sandbox.server import ThreadedSandbox
from sandbox.state import Project, SandboxState


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[ThreadedSandbox]:
    """One sandbox server for the whole session; tests isolate themselves by project."""
    with ThreadedSandbox(SandboxState()) as server:
        yield server


@dataclass
class SandboxProject:
    """A fresh org + project + API key on the shared sandbox, seen by no other test."""

    server: ThreadedSandbox
    api_key: str
    org_id: str
    project_id: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def project(self) -> Project:
        return self.server.state.projects[self.project_id]

    def client(self, **kwargs: object) -> AsyncOpenAI:
        """The official SDK pointed at this project, with no retries of its own."""
        kwargs.setdefault("max_retries", 0)
        return AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sandbox_project(sandbox_server: ThreadedSandbox) -> SandboxProject:
    token = secrets.token_hex(8)
    api_key = f"sk-proj-test{secrets.token_hex(20)}"
    org_id, project_id = f"org-{token}", f"proj_{token}"
    sandbox_server.state.add_key(api_key, org_id, project_id)
    return SandboxProject(sandbox_server, api_key, org_id, project_id)
