"""The shared budget: learnt from headers, shared by every worker, corrected, paused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from openai import AsyncOpenAI
from redis.asyncio import Redis

from schemas.keys import RedisKeys
from tests.chaos.stores import ThrowawayRedis
from tests.conftest import SandboxProject
from tests.worker.openai.conftest import PROFILE, Answers
from worker.openai.clients import OpenAIClients
from worker.openai.pacing import Deferred, Pacer, estimate_tokens
from worker.settings import Settings

LIMITS = {
    "x-ratelimit-limit-requests": "600",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-limit-tokens": "60000",
    "x-ratelimit-remaining-tokens": "60000",
}


def levels(state: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in state.items() if k in ("rl", "rv", "tl", "tv")}


async def test_the_first_answer_teaches_the_limits(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    state = sandbox_project.server.state
    state.set_limits(sandbox_project.project_id, requests_per_minute=100, tokens_per_minute=5000)
    await clients.call(PROFILE, lambda c: c.files.list())
    assert levels(await clients.pacer.state(PROFILE)) == {
        "rl": 100.0,
        "rv": 99.0,
        "tl": 5000.0,
        "tv": 5000.0,
    }


async def test_a_fleet_shares_one_budget_and_the_server_never_refuses(
    make_clients: Callable[..., OpenAIClients],
    openai_settings: Settings,
    sandbox_project: SandboxProject,
) -> None:
    state = sandbox_project.server.state
    state.set_limits(sandbox_project.project_id, requests_per_minute=6)  # one per 10 s
    workers = [make_clients(openai_settings) for _ in range(3)]
    answers = Answers(sandbox_project, "GET", "/v1/files")
    for n in range(6):
        await workers[n % 3].call(PROFILE, lambda c: c.files.list())
    with pytest.raises(Deferred) as deferred:
        await workers[0].call(PROFILE, lambda c: c.files.list())
    assert 9.0 < deferred.value.wait_s <= 10.0
    assert answers.since() == {200: 6}


async def test_calls_waiting_for_the_budget_get_slots_in_order(
    redis: ArqRedis, key_prefix: str
) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    await pacer.observe(PROFILE, None, LIMITS)  # 600 a minute, none left: one every 0.1 s
    waits = await asyncio.gather(*(pacer.acquire(PROFILE) for _ in range(5)))
    assert sorted(round(w, 1) for w in waits) == [0.1, 0.2, 0.3, 0.4, 0.5]


async def test_a_wait_past_the_limit_books_nothing(redis: ArqRedis, key_prefix: str) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=0.15)
    await pacer.observe(PROFILE, "gpt-4o-mini", LIMITS)
    booked, refused = await asyncio.gather(
        pacer.acquire(PROFILE, "gpt-4o-mini"),  # the 0.1 s slot
        pacer.acquire(PROFILE, "gpt-4o-mini"),  # would be the 0.2 s slot: too far
        return_exceptions=True,
    )
    assert isinstance(booked, float) and round(booked, 1) == 0.1
    assert isinstance(refused, Deferred) and round(refused.wait_s, 1) == 0.2
    assert str(refused) == (
        f"profile {PROFILE!r}: rate budget for gpt-4o-mini; the job retries in 0.2 s"
    )
    # The refused call booked nothing: 0.1 s later the next slot is the 0.2 s one, now 0.1 away.
    assert round(await pacer.acquire(PROFILE, "gpt-4o-mini"), 1) == 0.1


async def test_tokens_are_booked_with_the_request(redis: ArqRedis, key_prefix: str) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    await pacer.observe(PROFILE, "m", LIMITS | {"x-ratelimit-remaining-requests": "600"})
    assert await pacer.acquire(PROFILE, "m", tokens=1500) == 0.0
    state = await pacer.state(PROFILE, "m")
    assert (round(state["rv"]), round(state["tv"])) == (599, 58500)


async def test_answers_lower_the_mirror_to_what_the_server_says_remains(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    state = sandbox_project.server.state
    state.set_limits(sandbox_project.project_id, requests_per_minute=100)
    await clients.call(PROFILE, lambda c: c.files.list())
    plain = sandbox_project.client()  # another service on the same project
    for _ in range(10):
        await plain.files.list()
    answer = await clients.call(PROFILE, lambda c: c.files.with_raw_response.list())
    remaining = float(answer.headers["x-ratelimit-remaining-requests"])
    assert remaining <= 88  # 100 - Ferry's 2 - the other service's 10 (+ what refilled)
    assert (await clients.pacer.state(PROFILE))["rv"] == remaining


async def test_an_answer_goes_on_while_its_rate_limits_are_being_written(
    openai_settings: Settings, sandbox_project: SandboxProject, tmp_path: Path
) -> None:
    sandbox_project.server.state.set_limits(sandbox_project.project_id, requests_per_minute=60)
    with ThrowawayRedis(tmp_path) as server:
        redis = await create_pool(RedisSettings.from_dsn(server.url))
        admin = Redis.from_url(server.url)
        keys = RedisKeys("paced")
        clients = OpenAIClients(openai_settings, redis, keys)
        try:
            await clients.call(PROFILE, lambda c: c.files.list())  # teaches the budget: 59
            plain = sandbox_project.client()  # another service spends 10 of the 60
            for _ in range(10):
                await plain.files.list()

            async def list_with_writes_paused(client: AsyncOpenAI) -> Any:
                # Booked already; from here until the end of the test Redis takes no write.
                await admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
                return await client.files.with_raw_response.list()

            async with asyncio.timeout(10):
                answer = await clients.call(PROFILE, list_with_writes_paused)
            remaining = float(answer.headers["x-ratelimit-remaining-requests"])
            assert remaining <= 48  # 60 - Ferry's 2 - the other service's 10 (+ refill)
            # The answer came back with its headers' write still waiting on Redis: the
            # mirror holds this worker's own booking (59 - 1, + what refilled since).
            held = float(await admin.hget(keys.openai_pacing(PROFILE, None), "rv"))
            assert int(held) == 58
            await admin.execute_command("CLIENT", "UNPAUSE")
            assert (await clients.pacer.state(PROFILE))["rv"] == remaining
        finally:
            await admin.execute_command("CLIENT", "UNPAUSE")
            await clients.aclose()
            await redis.aclose()
            await admin.aclose()


async def test_the_newest_answer_is_written_and_the_ones_it_supersedes_are_not(
    redis: ArqRedis, key_prefix: str
) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    six = LIMITS | {"x-ratelimit-limit-requests": "6"}  # refills 0.1 a second
    for remaining in ("5", "2", "3"):
        pacer.report(PROFILE, None, six | {"x-ratelimit-remaining-requests": remaining})
    # Written in turn, "2" would have lowered the mirror for good (it only goes down).
    assert (await pacer.state(PROFILE))["rv"] == 3.0


async def test_the_call_after_a_probe_waits_for_its_answer_not_a_retry(
    redis: ArqRedis, key_prefix: str
) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    assert await pacer.acquire(PROFILE) == 0.0  # the probe is out
    pacer.report(PROFILE, None, LIMITS | {"x-ratelimit-remaining-requests": "10"})
    # Not told "a probe is out, ask again in 20 ms": it waited for the probe's answer.
    assert await pacer.acquire(PROFILE) == 0.0
    assert round((await pacer.state(PROFILE))["rv"]) == 9


async def test_a_server_without_rate_headers_is_not_paced(redis: ArqRedis, key_prefix: str) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    assert await pacer.acquire(PROFILE) == 0.0  # the probe
    await pacer.observe(PROFILE, None, {})
    assert levels(await pacer.state(PROFILE)) == {"rl": -1.0, "rv": 0.0, "tl": -1.0, "tv": 0.0}
    waits = await asyncio.gather(*(pacer.acquire(PROFILE, tokens=10**9) for _ in range(20)))
    assert set(waits) == {0.0}


async def test_until_the_limits_are_known_one_call_probes_at_a_time(
    redis: ArqRedis, key_prefix: str
) -> None:
    pacer = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    assert await pacer.acquire(PROFILE) == 0.0  # the probe is out
    second = asyncio.create_task(pacer.acquire(PROFILE))
    await asyncio.sleep(0.1)  # the second asks every 20 ms and keeps being told to wait
    assert not second.done()
    await pacer.observe(PROFILE, None, LIMITS | {"x-ratelimit-remaining-requests": "10"})
    assert await second >= 0.1
    assert round((await pacer.state(PROFILE))["rv"]) == 9


async def test_a_pause_stops_every_worker_until_it_ends(redis: ArqRedis, key_prefix: str) -> None:
    first = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    second = Pacer(redis, RedisKeys(key_prefix), max_wait_s=5)
    await first.observe(PROFILE, None, LIMITS | {"x-ratelimit-remaining-requests": "600"})
    await first.pause(PROFILE, None, 0.3)
    assert round(await second.acquire(PROFILE), 1) == 0.3


def test_the_token_estimate_is_the_body_at_four_bytes_a_token_plus_the_output_cap() -> None:
    params = {"model": "gpt-4o-mini", "input": "hello", "max_output_tokens": 100}
    assert estimate_tokens(params) == 17 + 100  # 68 bytes of JSON
