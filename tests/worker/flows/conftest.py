"""A running worker for the flow kinds, a profile on the sandbox, and a registry assistant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from producers.client import FerryClient
from schemas.assistants import parse_spec
from schemas.keys import Queue
from store import registry_writes
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from worker.flows.jobs import FLOW_HANDLERS
from worker.settings import Settings

PROFILE = "dst"
ASSISTANT = "Sofia — Clínica"
PROMPT = (
    "# IDENTIDADE\r\n"
    "Você é a Sofia 😊, da Clínica Sorriso Feliz.\r\n"
    "\r\n"
    "# FLUXO\r\n"
    '"Olá! Eu sou a Sofia. Como posso ajudar?"\r\n'
    "AGUARDE a resposta do paciente.\r\n"
    'Para marcar: "Qual especialidade: ortodontia ou implante?"\r\n'
    "CHAME tool agendar_consulta com o horário.\r\n"
    '"Até breve!"\r\n'
    "ENCERRAR\r\n"
)
GLOBALS = PROMPT[: PROMPT.index("# FLUXO")]
CANONICAL = PROMPT[len(GLOBALS) :]


@dataclass
class FlowWorld:
    ferry: FerryClient
    db: asyncpg.Pool
    sandbox: SandboxProject
    profile: str = PROFILE
    assistant: str = ASSISTANT


@pytest.fixture
def api_style() -> str:
    return "responses"


@pytest.fixture
async def flow_world(
    db: asyncpg.Pool,
    ferry: FerryClient,
    settings: Settings,
    sandbox_project: SandboxProject,
    monkeypatch: pytest.MonkeyPatch,
    api_style: str,
) -> AsyncIterator[FlowWorld]:
    """Profile `dst` on a sandbox project, assistant `Sofia — Clínica`, a patch-queue worker."""
    monkeypatch.setenv("OPENAI_DST_API_KEY", sandbox_project.api_key)
    monkeypatch.setenv("OPENAI_DST_BASE_URL", sandbox_project.base_url)
    monkeypatch.setenv("OPENAI_DST_API_STYLE", api_style)
    spec = parse_spec({"name": ASSISTANT, "model": "gpt-4o", "instructions": "old prompt"})
    await registry_writes.write(db, ferry.redis, ferry.keys, PROFILE, spec)
    async with running_worker(settings, Queue.patch, FLOW_HANDLERS):
        yield FlowWorld(ferry, db, sandbox_project)
