"""The `assistants` style: definitions are remote v2 objects, reached via `client.beta.assistants`.

For compatible servers, archives and the seeds' world; OpenAI itself answers 404 since the
Assistants API shut down (2026-08-26). v2 has no metadata filter, so `find_by_metadata`
lists everything and filters here.
"""

from __future__ import annotations

import warnings
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.types.beta import Assistant

from schemas.assistants import AssistantSpec
from worker.backends import knowledge as knowledge_port
from worker.backends.calls import Caller, direct, unless_missing
from worker.backends.knowledge import Knowledge
from worker.backends.port import RemoteAssistant

MAX_PAGE_SIZE = 100  # the API's upper bound for `limit`
# The SDK marks `beta.assistants` deprecated at every call; speaking v2 is this module's job.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=__name__)


class AssistantsV2Backend:
    """Assistant definitions as remote v2 objects of one profile."""

    style = "assistants"

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        page_size: int = MAX_PAGE_SIZE,
        knowledge: Knowledge | None = None,
        via: Caller | None = None,
    ) -> None:
        # Requests go through `via` (the call layer, in jobs), or straight to `client`.
        self._call = via or direct(client)
        self._page_size = min(page_size, MAX_PAGE_SIZE)
        self._knowledge = knowledge

    @property
    def knowledge(self) -> Knowledge:
        """The profile's files and vector stores."""
        return knowledge_port.required(self._knowledge, self.style)

    async def list_all(self) -> list[RemoteAssistant]:
        """Every assistant, following `after` cursors until `has_more` is false."""
        found: list[RemoteAssistant] = []
        after: str | openai.Omit = openai.omit
        while True:
            page = await self._call(
                lambda c, after=after: c.beta.assistants.list(
                    limit=self._page_size, order="asc", after=after
                )
            )
            found.extend(_remote(obj) for obj in page.data)
            if not page.has_more or not page.data:
                return found
            after = page.data[-1].id

    async def get(self, assistant_id: str) -> RemoteAssistant | None:
        """`retrieve`; a 404 is None."""
        found = await unless_missing(
            self._call, lambda c: c.beta.assistants.retrieve(assistant_id), None
        )
        return _remote(found) if found is not None else None

    async def create(self, spec: AssistantSpec) -> RemoteAssistant:
        """`create` with the spec's set fields (the server defaults the rest)."""
        body = spec.to_v2_create()
        return _remote(await self._call(lambda c: c.beta.assistants.create(**body)))

    async def update(self, assistant_id: str, spec: AssistantSpec) -> RemoteAssistant:
        """`update` with every field, so the remote object ends up equal to the spec."""
        body = spec.to_v2_update()
        return _remote(await self._call(lambda c: c.beta.assistants.update(assistant_id, **body)))

    async def delete(self, assistant_id: str) -> bool:
        """`delete`; a 404 is False."""
        deleted = await unless_missing(
            self._call, lambda c: c.beta.assistants.delete(assistant_id), None
        )
        return deleted is not None and deleted.deleted

    async def find_by_metadata(self, key: str, value: str) -> list[RemoteAssistant]:
        """v2 lists cannot filter by metadata: list everything, filter here."""
        return [a for a in await self.list_all() if a.spec.metadata.get(key) == value]


def _remote(obj: Assistant) -> RemoteAssistant:
    data: dict[str, Any] = obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    # The registry keys assistants by name; an unnamed remote one is known by its id.
    if not data.get("name"):
        data["name"] = obj.id
    return RemoteAssistant(id=obj.id, spec=AssistantSpec.from_v2(data), created_at=obj.created_at)
