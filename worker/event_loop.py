"""The event loop a worker process runs on: uvloop by default, asyncio's own on request.

A worker's turn is mostly small socket exchanges (Redis, Postgres, OpenAI over HTTP), and
uvloop (libuv, from the authors of asyncpg) can spend less CPU on each than asyncio's
selector loop (`bench/chat_overhead.py`: a tenth less worker CPU per chat turn at one user
in stop 20's and stop 21's runs, none at ten users, none in stop 18's; see the README).
`WORKER_EVENT_LOOP=asyncio` keeps the standard loop (to rule uvloop out, or to debug).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoopKind = Literal["uvloop", "asyncio"]


def loop_factory(kind: EventLoopKind) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the loop of `kind`."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], kind: EventLoopKind) -> T:
    """`asyncio.run(main)` on the loop of `kind`."""
    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(main)
