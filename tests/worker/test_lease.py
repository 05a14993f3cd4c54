from __future__ import annotations

import asyncio
import itertools

from worker.lease import renewing


async def test_a_lease_is_renewed_through_an_outage_and_its_loss_is_told_once() -> None:
    replies: list[bool | OSError] = [OSError("redis is down"), False, False, True]
    calls: list[float] = []
    lost: list[float] = []
    fourth = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def renew() -> bool:
        calls.append(loop.time())
        reply = replies[len(calls) - 1] if len(calls) <= len(replies) else True
        if len(calls) == 4:
            fourth.set()
        if isinstance(reply, OSError):
            raise reply
        return reply

    started = loop.time()
    async with renewing(renew, lease_s=0.3, what="test", on_lost=lambda: lost.append(1)):
        async with asyncio.timeout(5):
            await fourth.wait()
    # Every third of the lease (an outage is retried as soon, never later); lost told once.
    assert calls[0] - started >= 0.1
    assert all(0.09 <= b - a < 0.5 for a, b in itertools.pairwise(calls))
    assert lost == [1]
    # The block has ended: its renewer is gone, nothing renews any more.
    assert [t for t in asyncio.all_tasks() if t.get_name() == "lease-test"] == []


async def test_at_once_renews_at_the_start_of_the_block() -> None:
    first = asyncio.Event()

    async def renew() -> bool:
        first.set()
        return True

    async with renewing(renew, lease_s=60, what="test", at_once=True):
        async with asyncio.timeout(2):
            await first.wait()
