"""The shared budget: learnt from headers, shared by every worker, corrected, paused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from arq.connections import ArqRedis

from schemas.keys import RedisKeys
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
