"""Rate limits per project: OpenAI's headers on every answer, 429s, and the quota 429."""

from __future__ import annotations

import re

import openai
import pytest

from sandbox.limits import (
    Bucket,
    RateLimiter,
    estimate_tokens,
    format_duration,
    is_token_route,
    request_tokens,
)
from tests.sandbox.openapi import assert_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HEADERS = [
    f"x-ratelimit-{what}-{kind}"
    for kind in ("requests", "tokens")
    for what in ("limit", "remaining", "reset")
]
DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")


async def test_every_v1_answer_carries_the_six_rate_limit_headers(sandbox_project) -> None:
    client = sandbox_project.client()
    ok = await client.files.with_raw_response.list()
    with pytest.raises(openai.NotFoundError) as info:
        await client.files.retrieve("file-missing")
    for response in (ok.http_response, info.value.response):
        for name in HEADERS:
            assert name in response.headers, name
        assert DURATION.match(response.headers["x-ratelimit-reset-requests"])
        assert DURATION.match(response.headers["x-ratelimit-reset-tokens"])


async def test_remaining_requests_counts_down(sandbox_project, sandbox_server) -> None:
    sandbox_server.state.set_limits(sandbox_project.project_id, requests_per_minute=50)
    client = sandbox_project.client()
    first = await client.files.with_raw_response.list()
    second = await client.files.with_raw_response.list()
    assert first.http_response.headers["x-ratelimit-limit-requests"] == "50"
    assert first.http_response.headers["x-ratelimit-remaining-requests"] == "49"
    assert second.http_response.headers["x-ratelimit-remaining-requests"] == "48"


async def test_requests_over_the_limit_get_429_with_retry_after(
    sandbox_project, sandbox_server
) -> None:
    sandbox_server.state.set_limits(sandbox_project.project_id, requests_per_minute=3)
    client = sandbox_project.client()
    for _ in range(3):
        await client.files.list()
    with pytest.raises(openai.RateLimitError) as info:
        await client.files.list()
    error = info.value
    assert_matches("ErrorResponse", {"error": error.body})
    assert error.code == "rate_limit_exceeded" and error.type == "requests"
    assert "Limit 3" in error.body["message"]
    # 3 per minute refill one every 20 s: the client is told to wait about that long
    assert 15_000 <= int(error.response.headers["retry-after-ms"]) <= 20_000
    assert error.response.headers["retry-after"] == "20"
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert sandbox_server.state.counters.rate_limited["requests"] >= 1


async def test_token_routes_spend_tokens_estimated_from_the_body(
    sandbox_project, sandbox_server
) -> None:
    sandbox_server.state.set_limits(sandbox_project.project_id, tokens_per_minute=300)
    client = sandbox_project.client()
    # ~1 KB of body is ~260 tokens: the first fits in 300 TPM, the second must wait
    first = await client.responses.with_raw_response.create(model="gpt-4o", input="x" * 1000)
    remaining = int(first.http_response.headers["x-ratelimit-remaining-tokens"])
    assert 30 <= remaining <= 50
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model="gpt-4o", input="x" * 1000)
    assert info.value.type == "tokens" and info.value.code == "rate_limit_exceeded"
    assert_matches("ErrorResponse", {"error": info.value.body})
    # about 220 missing tokens at 5 a second: some 44 s
    assert 40_000 <= int(info.value.response.headers["retry-after-ms"]) <= 50_000
    # other routes are not charged tokens
    listed = await client.files.with_raw_response.list()
    assert int(listed.http_response.headers["x-ratelimit-remaining-tokens"]) <= remaining + 1


async def test_a_request_larger_than_the_token_limit_is_refused_outright(
    sandbox_project, sandbox_server
) -> None:
    sandbox_server.state.set_limits(sandbox_project.project_id, tokens_per_minute=100)
    client = sandbox_project.client()
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model="gpt-4o", input="x" * 1000)
    assert info.value.type == "tokens"
    assert info.value.body["message"].startswith("Request too large")
    assert "retry-after" not in info.value.response.headers


async def test_insufficient_quota_is_a_final_429(sandbox_project, sandbox_server) -> None:
    sandbox_server.state.set_insufficient_quota(sandbox_project.project_id)
    client = sandbox_project.client()
    with pytest.raises(openai.RateLimitError) as info:
        await client.files.list()
    assert info.value.code == "insufficient_quota" and info.value.type == "insufficient_quota"
    assert info.value.body["message"].startswith("You exceeded your current quota")
    assert "retry-after" not in info.value.response.headers
    sandbox_server.state.set_insufficient_quota(sandbox_project.project_id, False)
    await client.files.list()


def test_token_routes_are_responses_and_run_creation() -> None:
    assert is_token_route("POST", "/v1/responses")
    assert is_token_route("POST", "/v1/threads/runs")
    assert is_token_route("POST", "/v1/threads/thread_abc/runs")
    assert not is_token_route("GET", "/v1/threads/thread_abc/runs")
    assert not is_token_route("POST", "/v1/threads/thread_abc/runs/run_1/cancel")
    assert not is_token_route("POST", "/v1/files")
    assert estimate_tokens(0) == 1 and estimate_tokens(4000) == 1000


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.02, "20ms"), (1, "1s"), (360, "6m0s"), (8.64, "8.64s"), (3723.5, "1h2m3.5s"), (0, "0s")],
)
def test_durations_are_formatted_like_openai(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_buckets_refill_over_time() -> None:
    limiter = RateLimiter()
    limiter.configure(requests_per_minute=60)
    start = limiter.requests.stamp
    for _ in range(60):
        assert limiter.admit("org", at=start)[1] is None
    assert limiter.admit("org", at=start)[1] is not None
    # one request per second comes back
    assert limiter.admit("org", at=start + 1.0)[1] is None
    assert Bucket(capacity=60, level=0).wait_for(1) == pytest.approx(1.0)


async def test_a_model_family_has_its_own_limit_named_in_the_429(
    sandbox_project, sandbox_server
) -> None:
    state = sandbox_server.state
    state.set_model_limits(sandbox_project.project_id, "gpt-4o", requests_per_minute=2)
    client = sandbox_project.client()
    first = await client.responses.with_raw_response.create(model="gpt-4o", input="a")
    assert first.http_response.headers["x-ratelimit-limit-requests"] == "2"
    assert first.http_response.headers["x-ratelimit-remaining-requests"] == "1"
    # a dated snapshot shares its base model's limit
    await client.responses.create(model="gpt-4o-2024-08-06", input="b")
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model="gpt-4o", input="c")
    message = info.value.body["message"]
    assert message.startswith(
        f"Rate limit reached for gpt-4o in organization {sandbox_project.org_id} on requests "
        "per min (RPM): Limit 2, Used 2, Requested 1. Please try again in "
    )
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    # another family, and routes that serve no model, are not held back
    await client.responses.create(model="gpt-4o-mini", input="d")
    await client.files.list()
    # runs count against the model of their assistant
    assistant = await client.beta.assistants.create(model="gpt-4o-2024-11-20")
    thread = await client.beta.threads.create()
    with pytest.raises(openai.RateLimitError) as info:
        await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert "Rate limit reached for gpt-4o in organization" in info.value.body["message"]


async def test_the_token_charge_is_the_reserved_output_when_larger(
    sandbox_project, sandbox_server
) -> None:
    sandbox_server.state.set_limits(sandbox_project.project_id, tokens_per_minute=10_000)
    client = sandbox_project.client()
    raw = await client.responses.with_raw_response.create(
        model="gpt-4o", input="hi", max_output_tokens=4000
    )
    assert int(raw.http_response.headers["x-ratelimit-remaining-tokens"]) == 6000
    assistant = await client.beta.assistants.create(model="gpt-4o")
    thread = await client.beta.threads.create()
    # a full bucket again, so the charge reads exactly (the bucket refills as time passes)
    sandbox_server.state.set_limits(sandbox_project.project_id, tokens_per_minute=10_000)
    raw = await client.beta.threads.runs.with_raw_response.create(
        thread_id=thread.id,
        assistant_id=assistant.id,
        max_prompt_tokens=1000,
        max_completion_tokens=2500,
    )
    remaining = int(raw.http_response.headers["x-ratelimit-remaining-tokens"])
    assert remaining == 7500  # the larger of the two reservations
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model="gpt-4o", input="hi", max_output_tokens=8000)
    message = info.value.body["message"]
    assert "Rate limit reached for gpt-4o in organization" in message
    headers = info.value.response.headers
    used = int(message.split("Used ")[1].split(",")[0])
    # the message and the headers sent beside it tell the same story
    assert used == 10_000 - int(headers["x-ratelimit-remaining-tokens"])
    assert "Limit 10000" in message and "Requested 8000." in message


def test_the_charge_is_the_larger_of_characters_and_reserved_tokens() -> None:
    assert request_tokens(400, {}) == 100
    assert request_tokens(400, {"max_output_tokens": 300}) == 300
    assert request_tokens(4000, {"max_output_tokens": 300}) == 1000
    assert request_tokens(8, {"max_prompt_tokens": 50, "max_completion_tokens": 20}) == 50
    assert request_tokens(8, {"max_completion_tokens": True}) == 2
    assert request_tokens(0, None) == 1
