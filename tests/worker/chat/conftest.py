"""A chat world: profile `dst` on a sandbox project, assistants in the registry, a chat worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from producers.client import FerryClient
from sandbox import model as sandbox_model
from schemas.assistants import parse_spec
from schemas.keys import Queue
from store import registry, registry_writes
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from worker.chat.jobs import CHAT_HANDLERS
from worker.settings import Settings

PROFILE = "dst"
TOOLS = "tests.worker.chat.tool_functions"
ORDER_TOOL = {
    "type": "function",
    "name": "lookup_order",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
}


@dataclass
class ChatWorld:
    ferry: FerryClient
    db: asyncpg.Pool
    sandbox: SandboxProject
    settings: Settings
    profile: str = PROFILE

    def queue_outputs(self, *outputs: Any) -> None:
        """The sandbox model's next turns, in order (texts or tool calls)."""
        sandbox_model.queue_outputs(self.sandbox.project, list(outputs))

    async def add_assistant(self, name: str, **fields: Any) -> None:
        spec = parse_spec({"name": name, "model": "gpt-4o", **fields})
        await registry_writes.write(self.db, self.ferry.redis, self.ferry.keys, PROFILE, spec)
        if self.settings.profile(PROFILE).api_style.value == "assistants":
            client = self.sandbox.client()
            remote = await client.beta.assistants.create(**spec.to_v2_create())
            await registry.set_remote_id(self.db, PROFILE, name, remote.id)
            await registry_writes.announce(
                self.ferry.redis,
                self.ferry.keys,
                PROFILE,
                name,
                (await registry.get(self.db, PROFILE, name)).version,
            )


@pytest.fixture
def api_style() -> str:
    return "responses"


@pytest.fixture
def chat_settings(
    settings: Settings,
    sandbox_project: SandboxProject,
    monkeypatch: pytest.MonkeyPatch,
    api_style: str,
) -> Settings:
    monkeypatch.setenv("OPENAI_DST_API_KEY", sandbox_project.api_key)
    monkeypatch.setenv("OPENAI_DST_BASE_URL", sandbox_project.base_url)
    monkeypatch.setenv("OPENAI_DST_API_STYLE", api_style)
    return settings.model_copy(
        update={
            "chat_python_tools": {
                "lookup_order": f"{TOOLS}.lookup_order",
                "explode": f"{TOOLS}.explode",
                "dawdle": f"{TOOLS}.dawdle",
                "huge": f"{TOOLS}.huge",
                "not_json": f"{TOOLS}.not_json",
            },
            "chat_tool_timeout_s": 0.5,
            "chat_tool_output_max_chars": 1000,
        }
    )


@pytest.fixture
async def chat_world_without_worker(
    db: asyncpg.Pool,
    ferry: FerryClient,
    chat_settings: Settings,
    sandbox_project: SandboxProject,
) -> ChatWorld:
    """Assistant `support` (tool lookup_order); no worker runs."""
    world = ChatWorld(ferry, db, sandbox_project, chat_settings)
    await world.add_assistant("support", instructions="You help.", tools=[ORDER_TOOL])
    return world


@pytest.fixture
async def chat_world(chat_world_without_worker: ChatWorld) -> AsyncIterator[ChatWorld]:
    """Assistant `support` (tool lookup_order) and a chat-queue worker."""
    async with running_worker(chat_world_without_worker.settings, Queue.chat, CHAT_HANDLERS):
        yield chat_world_without_worker
