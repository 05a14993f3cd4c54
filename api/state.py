"""What every request shares: the producer client, the settings and the job kinds served."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.settings import ApiSettings
from api.token_cache import TokenCache
from producers.client import FerryClient
from schemas.jobs import Job
from schemas.keys import RedisKeys


@dataclass
class ApiState:
    settings: ApiSettings
    ferry: FerryClient
    kinds: dict[str, type[Job]]
    tokens: TokenCache

    @property
    def keys(self) -> RedisKeys:
        return self.ferry.keys


async def api_state(request: Request) -> ApiState:
    """A dependency: the app's shared state (async: FastAPI would run a sync one in a thread)."""
    return request.app.state.ferry_api
