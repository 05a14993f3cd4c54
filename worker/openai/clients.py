"""The one place an `AsyncOpenAI` client is made: from a profile, with Ferry's rules."""

from __future__ import annotations

import warnings

from openai import AsyncOpenAI

from worker.settings import Profile, Settings

# The SDK marks `client.beta.assistants` / `threads` deprecated (the API is shut down on
# OpenAI); Ferry uses them on purpose, for servers that still speak the v2 protocol.
warnings.filterwarnings("ignore", message="deprecated$", category=DeprecationWarning)


def openai_client(profile: Profile, *, timeout_s: float = 60.0) -> AsyncOpenAI:
    """A client for `profile`: org and project headers set, no retries of the SDK's own.

    Ferry owns retries (shared rate-limit state, final errors never retried), so the SDK's
    would only multiply them.
    """
    return AsyncOpenAI(
        api_key=profile.api_key.get_secret_value(),
        organization=profile.org_id,
        project=profile.project_id,
        base_url=profile.base_url,
        max_retries=0,
        timeout=timeout_s,
    )


class OpenAIClients:
    """A worker's clients, one per profile, made on first use and closed on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, AsyncOpenAI] = {}

    def get(self, profile_name: str) -> AsyncOpenAI:
        if profile_name not in self._clients:
            profile = self._settings.profile(profile_name)
            self._clients[profile_name] = openai_client(
                profile, timeout_s=self._settings.openai_timeout_s
            )
        return self._clients[profile_name]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
