"""Leases in Redis kept alive by their holder: one renewer for every lease Ferry holds.

A lease is a Redis key (or sorted-set member) whose expiry says its holder is alive: a
started job's in-progress key, a clone concurrency slot, a chat thread's lock. The holder
renews it every third of the lease, so a dead holder's lease ends within one lease while a
live one survives a missed renewal or two (a Redis blip, a briefly stalled event loop). A
renewal that fails on an outage is tried again every `OUTAGE_RETRY_S` until it lands, so a
lease that ran out while Redis was unreachable is taken back as soon as it is reachable
(each lease's `renew` re-takes a lease that is merely gone, never one another holder took).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from store.outages import OUTAGES

log = structlog.get_logger("ferry.lease")

# How soon a renewal that failed on an outage is tried again.
OUTAGE_RETRY_S = 1.0
# Renewals per lease: a live holder may miss all but one and still keep its lease.
RENEWALS_PER_LEASE = 3


@contextlib.asynccontextmanager
async def renewing(
    renew: Callable[[], Awaitable[bool]],
    *,
    lease_s: float,
    what: str,
    on_lost: Callable[[], None] | None = None,
    at_once: bool = False,
) -> AsyncIterator[None]:
    """Renew a lease for the block: `renew()` every `lease_s / 3` seconds.

    `renew` returns False when the lease is held by someone else now; `on_lost` is then
    called (once) and renewing goes on (a lease that frees again is taken back). With
    `at_once`, the first renewal runs at the start of the block (concurrently with it).
    """
    every = lease_s / RENEWALS_PER_LEASE
    lost = False

    async def loop() -> None:
        nonlocal lost
        wait = 0.0 if at_once else every
        while True:
            await asyncio.sleep(wait)
            try:
                held = await renew()
            except OUTAGES as error:
                log.warning("lease not renewed: Redis is unreachable", what=what, error=str(error))
                wait = min(OUTAGE_RETRY_S, every)
                continue
            except Exception:
                # A bug in one renewal must not end the others: the lease would lapse unseen.
                log.exception("lease renewal failed", what=what)
                wait = min(OUTAGE_RETRY_S, every)
                continue
            wait = every
            if not held and not lost:
                lost = True
                log.warning("lease lost: another holder has it", what=what)
                if on_lost is not None:
                    on_lost()

    task = asyncio.create_task(loop(), name=f"lease-{what}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
