"""The FastAPI app: the registry over REST, jobs for any language, and the web console.

It is a producer like any other: it uses the producer client and the store, never the worker.
`create_app` takes the job kinds it serves, so each kind's issue adds its model to `KINDS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel

from api import assistants, chat, console, console_flows, errors, flows, jobs, tools
from api.limits import BodyLimit
from api.settings import ApiSettings
from api.state import ApiState
from api.token_cache import TokenCache
from producers.client import FerryClient
from schemas.chat import ChatRun
from schemas.clone import CloneAssistantJob, ClonePlanJob
from schemas.flows import ImportFlow, PatchPrompt, PublishFlow
from schemas.jobs import Job

# The job kinds `POST /jobs/{kind}` accepts; each kind's issue adds its model here.
KINDS: list[type[Job]] = [
    ImportFlow,
    PatchPrompt,
    PublishFlow,
    ChatRun,
    ClonePlanJob,
    CloneAssistantJob,
]


class Health(BaseModel):
    status: str


def create_app(
    settings: ApiSettings | None = None, kinds: Sequence[type[Job]] | None = None
) -> FastAPI:
    """The API, connected to the stores while it runs."""
    settings = settings or ApiSettings()
    served = {kind.kind: kind for kind in (KINDS if kinds is None else kinds)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ferry = await FerryClient.connect(settings.client_settings())
        tokens = TokenCache(ferry.db, ferry.redis, ferry.keys, settings.api_token_cache_s)
        await tokens.start()
        app.state.ferry_api = ApiState(settings=settings, ferry=ferry, kinds=served, tokens=tokens)
        try:
            yield
        finally:
            await tokens.aclose()
            await ferry.aclose()

    app = FastAPI(
        title="Ferry",
        summary="Assistants registry, jobs and web console",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # Responses are documented with the request models (a spec is a spec either way).
        separate_input_output_schemas=False,
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key"],
            expose_headers=["ETag"],
        )

    @app.get("/health", tags=["health"])
    async def health() -> Health:
        """Liveness: answers without a token."""
        return Health(status="ok")

    app.include_router(assistants.router)
    app.include_router(tools.router)
    app.include_router(jobs.router)
    app.include_router(chat.router)
    app.include_router(flows.router)
    app.include_router(console.router)
    app.include_router(console_flows.router)
    console.mount_static(app)
    return app
