"""The assistant backend port: the one way clone, chat-run and patch jobs reach definitions.

Two adapters sit behind it, chosen by the profile's API style (`worker.backends.factory`):
`assistants` keeps definitions as remote v2 objects; `responses` keeps them in Ferry's
registry (OpenAI no longer stores them) while the remote holds files and vector stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from schemas.assistants import AssistantSpec
from worker.backends.knowledge import Knowledge


@dataclass(frozen=True)
class RemoteAssistant:
    """An assistant as a backend holds it: its id there and its definition."""

    id: str
    spec: AssistantSpec
    # Unix seconds, where the backend knows them (v2 objects carry `created_at`).
    created_at: int | None = None


class AssistantBackend(Protocol):
    """Definitions of one profile, whatever API style it speaks."""

    @property
    def style(self) -> str:
        """The API style served: `assistants` or `responses`."""
        ...

    @property
    def knowledge(self) -> Knowledge:
        """The profile's files and vector stores (the same API in both styles)."""
        ...

    async def list_all(self) -> list[RemoteAssistant]:
        """Every assistant, across every page, oldest first."""
        ...

    async def get(self, assistant_id: str) -> RemoteAssistant | None:
        """One assistant by id; None if there is no such assistant."""
        ...

    async def create(self, spec: AssistantSpec) -> RemoteAssistant:
        """A new assistant defined by `spec`."""
        ...

    async def update(self, assistant_id: str, spec: AssistantSpec) -> RemoteAssistant:
        """Make the assistant equal `spec` (fields the spec leaves unset are reset)."""
        ...

    async def delete(self, assistant_id: str) -> bool:
        """Delete it; False if there was no such assistant."""
        ...

    async def find_by_metadata(self, key: str, value: str) -> list[RemoteAssistant]:
        """Assistants whose metadata has `key` = `value` (e.g. `cloned_from`), oldest first."""
        ...
