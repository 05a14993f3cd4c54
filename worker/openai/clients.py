"""The clients a worker uses, one per profile, and the one way every job calls OpenAI.

    answer = await ctx.openai.call("dst", lambda c: c.files.retrieve(file_id))
    reply = await ctx.openai.call(
        "dst", lambda c: c.responses.create(**params),
        model=params["model"], tokens=estimate_tokens(params),
    )

`call` books the request on the profile's shared budget (`pacing.py`), sends it, and on
failure maps the error to one kind (`errors.py`): rate-limited, transient and busy calls are
retried with full-jitter backoff; a wait too long to sleep through hands the job back to its
queue (`Deferred`, an `arq.Retry`); a quota error marks the profile out of quota for every
worker (`quota.py`); ambiguous and final errors go to the caller. Every answer's
rate-limit headers are read in one place: the response hook of the client's httpx pool.
"""

from __future__ import annotations

import asyncio
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import openai
import structlog
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from worker.openai import quota
from worker.openai.errors import (
    Busy,
    OpenAICallError,
    ProfileMisconfigured,
    QuotaExhausted,
    RateLimited,
    Retryable,
    classify,
    retry_after,
)
from worker.openai.pacing import Deferred, Pacer
from worker.settings import Profile, Settings, SettingsError

# The SDK marks `client.beta.assistants` / `threads` deprecated (the API is shut down on
# OpenAI); Ferry uses them on purpose, for servers that still speak the v2 protocol.
warnings.filterwarnings("ignore", message="deprecated$", category=DeprecationWarning)

log = structlog.get_logger("ferry.openai")
T = TypeVar("T")
ResponseHook = Callable[[Any], Awaitable[None]]

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
BUSY_WAIT_S = 0.25
# The model whose budget the call in progress (in this task) is booked on: the response
# hook files the answer's headers under it.
_CALL_MODEL: ContextVar[str | None] = ContextVar("ferry_openai_call_model", default=None)


def openai_client(
    profile: Profile, *, timeout_s: float = 60.0, on_response: ResponseHook | None = None
) -> AsyncOpenAI:
    """A client for `profile`: org and project headers set, no retries of the SDK's own.

    Ferry owns retries (shared rate-limit state, final errors never retried), so the SDK's
    would only multiply them. `on_response` sees every answer's headers before the SDK does.
    """
    hooks = {"response": [on_response]} if on_response else {}
    return AsyncOpenAI(
        api_key=profile.api_key.get_secret_value(),
        organization=profile.org_id,
        project=profile.project_id,
        base_url=profile.base_url,
        max_retries=0,
        timeout=timeout_s,
        http_client=DefaultAsyncHttpxClient(timeout=timeout_s, event_hooks=hooks),
    )


def full_jitter(
    attempt: int, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S
) -> float:
    """Seconds before try `attempt + 1`: uniform in [0, min(cap, base·2^(attempt-1))]."""
    return random.uniform(0, min(cap_s, base_s * 2 ** (attempt - 1)))


class OpenAIClients:
    """A worker's clients, one per profile, made on first use and closed on shutdown."""

    def __init__(self, settings: Settings, redis: Redis, keys: RedisKeys) -> None:
        self._settings, self._redis, self._keys = settings, redis, keys
        self._clients: dict[str, AsyncOpenAI] = {}
        self._reached: set[str] = set()
        self.pacer = Pacer(redis, keys, max_wait_s=settings.openai_max_inline_wait_s)

    def get(self, profile_name: str) -> AsyncOpenAI:
        """The profile's client; its answers correct the shared budget even outside `call`."""
        if profile_name not in self._clients:
            profile = self._settings.profile(profile_name)
            self._clients[profile_name] = openai_client(
                profile,
                timeout_s=self._settings.openai_timeout_s,
                on_response=self._response_hook(profile_name),
            )
        return self._clients[profile_name]

    async def call(
        self,
        profile: str,
        request: Callable[[AsyncOpenAI], Awaitable[T]],
        *,
        model: str | None = None,
        tokens: int = 0,
        idempotent: bool | None = None,
        on_paced: Callable[[float], None] | None = None,
    ) -> T:
        """Run `request(client)` for `profile`: paced, retried by kind, failures named.

        `model` picks the budget (OpenAI limits each model apart); `tokens` is what the
        call may spend (`estimate_tokens`); `idempotent` overrides the rule that a POST
        whose answer was lost is `Ambiguous` and a GET/DELETE `Transient`. `on_paced` hears
        the seconds each attempt spent booking the budget (any wait it asked for included).
        """
        try:
            client = self.get(profile)
        except SettingsError as error:
            raise ProfileMisconfigured(str(error), profile=profile, request="(not sent)") from None
        attempts = self._settings.openai_max_attempts
        for attempt in range(1, attempts + 1):
            booking = time.monotonic()
            await self.pacer.acquire(profile, model, tokens)
            if on_paced is not None:
                on_paced(time.monotonic() - booking)
            scope = _CALL_MODEL.set(model)
            try:
                return await request(client)
            except openai.OpenAIError as error:
                reached = profile in self._reached
                failure = classify(error, profile=profile, idempotent=idempotent, reached=reached)
                failure.__cause__ = error  # the SDK's error, for whoever reads the chain
                if not isinstance(error, openai.APIStatusError):
                    await self.pacer.release_probe(profile, model)  # no headers will come
            finally:
                _CALL_MODEL.reset(scope)
            await self._settle(failure, attempt, attempts)
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    async def _settle(self, failure: OpenAICallError, attempt: int, attempts: int) -> None:
        """Return to try again (after any wait), or raise what the caller must see."""
        fields = {"profile": failure.profile, "request": failure.request, "kind": failure.kind}
        if isinstance(failure, QuotaExhausted):
            cooldown = self._settings.openai_quota_cooldown_s
            await quota.mark_exhausted(self._redis, self._keys, failure, cooldown_s=cooldown)
            log.warning("profile out of quota", cooldown_s=cooldown, **fields)
            raise failure
        if not isinstance(failure, Retryable):
            raise failure
        if attempt >= attempts:
            failure.args = (f"{failure} (gave up after {attempt} attempts)",)
            raise failure
        if isinstance(failure, RateLimited) and failure.retry_after_s is not None:
            delay = 0.0  # the response hook paused the budget for everyone; acquire waits
        elif isinstance(failure, Busy):
            delay = BUSY_WAIT_S + full_jitter(attempt)  # the lock holder needs a moment
        else:
            delay = full_jitter(attempt)
        if delay > self._settings.openai_max_inline_wait_s:
            raise Deferred(failure.profile, delay, f"{failure.kind}: {failure}")
        log.info("openai call retried", attempt=attempt, delay_s=round(delay, 3), **fields)
        await asyncio.sleep(delay)

    def _response_hook(self, profile: str) -> ResponseHook:
        async def on_response(response: Any) -> None:
            self._reached.add(profile)
            model, headers = _CALL_MODEL.get(), response.headers
            self.pacer.report(profile, model, headers)
            # A rate 429 pauses the budget for everyone, before this call's retry books
            # again; a quota 429 has no retry-after.
            asked = headers.get("retry-after-ms") or headers.get("retry-after")
            if response.status_code == 429 and asked:
                await self.pacer.pause(profile, model, retry_after(headers) or 0.0)

        return on_response

    async def aclose(self) -> None:
        await self.pacer.settled()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
