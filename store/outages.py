"""Which errors mean a store (Postgres or Redis) is unreachable, not that the work is wrong.

Both sides use it: a worker retries the job later instead of failing it, a producer raises
`StoreUnavailable` instead of a raw driver error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = structlog.get_logger("ferry.outages")
T = TypeVar("T")

OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError is one)
    RedisConnectionError,
    RedisTimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "connection is closed", a pool closing under us
    # "the database system is shutting down / starting up", admin shutdown
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
)


def is_outage(error: BaseException) -> bool:
    """Whether `error` says a store is unreachable (so retrying later may succeed)."""
    return isinstance(error, OUTAGES) and not isinstance(error, asyncio.CancelledError)


async def until_it_lands(
    what: str, attempt: Callable[[], Awaitable[T]], *, cap_s: float = 2.0
) -> T:
    """Run `attempt` until no outage stops it, backing off up to `cap_s` between tries.

    For writes that must not be dropped (a finished job's outcome): an outage only delays them.
    """
    delay = 0.05
    while True:
        try:
            return await attempt()
        except OUTAGES as error:
            log.warning("store unreachable; retrying", what=what, error=str(error), delay_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap_s)
