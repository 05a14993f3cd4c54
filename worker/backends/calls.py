"""How the knowledge operations reach OpenAI: through a caller, so the call layer can wrap them.

A caller runs one request (a function of the profile's `AsyncOpenAI` client) and returns its
answer. `direct(client)` runs it as is; the OpenAI call layer (`worker/openai/`: shared
pacing, retries by error kind) is another caller,
`lambda request: clients.call(profile, request)`, plugged in where knowledge is made.
Failures arrive as the SDK's own errors or as the call layer's kinds, so `status_of` and
`message_of` read both (and whatever they were raised from).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol, TypeVar

import openai
from openai import AsyncOpenAI

# A module, not its names: worker.openai.errors imports worker.kinds.
from worker.openai import errors as call_errors

T = TypeVar("T")
M = TypeVar("M")
# A lost upload is looked for among files made this long before it was sent, and after.
RECONCILE_WINDOW_S = 120


class Caller(Protocol):
    """Runs one request on a profile's client and returns its answer."""

    def __call__(self, request: Callable[[AsyncOpenAI], Awaitable[T]], /) -> Awaitable[T]: ...


def direct(client: AsyncOpenAI) -> Caller:
    """A caller that sends each request once, on `client`, as it is."""

    async def call(request: Callable[[AsyncOpenAI], Awaitable[T]], /) -> T:
        return await request(client)

    return call


async def unless_missing(
    call: Caller, request: Callable[[AsyncOpenAI], Awaitable[T]], missing: M
) -> T | M:
    """The request's answer, or `missing` when the object is not there (a 404)."""
    try:
        return await call(request)
    except Exception as error:
        if status_of(error) == 404:
            return missing
        raise


async def reconciled(
    create: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]]
) -> T:
    """`create()`; if its answer was lost (the call layer's `Ambiguous`), what `find()`
    finds, else `create()` once more. Every job that creates remote objects goes through it.
    """
    try:
        return await create()
    except call_errors.Ambiguous:
        if (found := await find()) is not None:
            return found
        return await create()


def status_of(error: BaseException) -> int | None:
    """The HTTP status behind a failure (SDK error or call-layer kind), if it had one."""
    for link in _chain(error):
        if isinstance(link, openai.APIStatusError):
            return link.status_code
        status = getattr(link, "status", None)
        if isinstance(status, int):
            return status
    return None


def message_of(error: BaseException) -> str:
    """Every message along a failure's chain, OpenAI's own `error.message` included."""
    parts: list[str] = []
    for link in _chain(error):
        body = getattr(link, "body", None)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            parts.append(body["message"])
        parts.append(str(link))
    return " | ".join(parts)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__
