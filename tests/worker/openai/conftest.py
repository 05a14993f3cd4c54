"""The OpenAI call layer on a fresh sandbox project, its Redis state under the test's prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from arq.connections import ArqRedis
from pydantic import SecretStr

from sandbox.faults import Fault
from schemas.keys import RedisKeys
from tests.conftest import SandboxProject
from worker.openai.clients import OpenAIClients
from worker.settings import Profile, Settings

PROFILE = "t"  # the profile every test here calls; its variables are OPENAI_T_…


@pytest.fixture
def sandbox_profile(sandbox_project: SandboxProject) -> Profile:
    """Profile `t`: the sandbox project's key, org and project."""
    return Profile(
        name=PROFILE,
        api_key=SecretStr(sandbox_project.api_key),
        base_url=sandbox_project.base_url,
        org_id=sandbox_project.org_id,
        project_id=sandbox_project.project_id,
    )


@pytest.fixture
def openai_settings(settings: Settings, sandbox_profile: Profile) -> Settings:
    """The test's settings with profile `t` injected (the environment is not read)."""
    fields = settings.model_dump() | {"openai_timeout_s": 5.0, "openai_max_attempts": 4}
    return Settings(_env_file=None, profiles={PROFILE: sandbox_profile}, **fields)


@pytest.fixture
async def make_clients(
    redis: ArqRedis, key_prefix: str
) -> AsyncIterator[Callable[..., OpenAIClients]]:
    """`make_clients(settings)`: one worker's clients; several share one Redis, as a fleet."""
    made: list[OpenAIClients] = []

    def make(settings: Settings) -> OpenAIClients:
        clients = OpenAIClients(settings, redis, RedisKeys(key_prefix))
        made.append(clients)
        return clients

    yield make
    for clients in made:
        await clients.aclose()


@pytest.fixture
def clients(make_clients: Callable[..., OpenAIClients], openai_settings: Settings) -> OpenAIClients:
    return make_clients(openai_settings)


def inject(project: SandboxProject, **fault: object) -> None:
    """Add a sandbox fault that hits this test's project only."""
    project.server.state.add_fault(Fault(project_id=project.project_id, **fault))  # type: ignore[arg-type]


class Answers:
    """The sandbox's answers to one route from now on, by status (tests run one at a time)."""

    def __init__(self, project: SandboxProject, method: str, route: str) -> None:
        self._project, self._method, self._route = project, method, route
        self._before = self._now()

    def _now(self) -> dict[int, int]:
        rows = self._project.server.state.counters.snapshot()["requests"]
        return {
            r["status"]: r["count"]
            for r in rows
            if r["method"] == self._method and r["route"] == self._route
        }

    def since(self) -> dict[int, int]:
        """Status → answers given since this was made."""
        now = self._now()
        return {s: n - self._before.get(s, 0) for s, n in now.items() if n > self._before.get(s, 0)}
