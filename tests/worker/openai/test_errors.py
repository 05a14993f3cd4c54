"""Every kind of failure, driven through the sandbox's faults and limits, and what Ferry does."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from arq.connections import ArqRedis
from openai import AsyncOpenAI

from sandbox.model import set_timing
from tests.conftest import SandboxProject
from tests.worker.openai.conftest import PROFILE, Answers, inject
from worker.openai.clients import OpenAIClients
from worker.openai.errors import (
    Ambiguous,
    Busy,
    Final,
    ProfileMisconfigured,
    QuotaExhausted,
    Transient,
    classify,
    parse_duration,
    retry_after,
)
from worker.openai.pacing import Deferred
from worker.openai.quota import exhaustion
from worker.settings import Profile, Settings


def with_settings(settings: Settings, **changes: object) -> Settings:
    return Settings(_env_file=None, profiles=settings.profiles, **(settings.model_dump() | changes))


# --- transient: retried with backoff, then named if it never recovers ---


async def test_5xx_answers_are_retried_until_the_call_succeeds(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    inject(sandbox_project, kind="error", status=503, path="/v1/files", count=2)
    answers = Answers(sandbox_project, "GET", "/v1/files")
    page = await clients.call(PROFILE, lambda c: c.files.list())
    assert page.data == []
    assert answers.since() == {503: 2, 200: 1}


@pytest.mark.parametrize("kind", ["drop", "hang"])
async def test_a_dropped_or_hung_get_is_retried(
    make_clients: Callable[..., OpenAIClients],
    openai_settings: Settings,
    sandbox_project: SandboxProject,
    kind: str,
) -> None:
    clients = make_clients(with_settings(openai_settings, openai_timeout_s=0.3))
    inject(sandbox_project, kind=kind, method="GET", path="/v1/files", count=1)
    answers = Answers(sandbox_project, "GET", "/v1/files")
    page = await clients.call(PROFILE, lambda c: c.files.list())
    assert page.data == []
    assert answers.since() == {0: 1, 200: 1}  # 0: the sandbox never answered the first


async def test_a_server_that_stays_down_fails_the_call_with_its_last_answer(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    inject(sandbox_project, kind="error", status=502, path="/v1/files")
    answers = Answers(sandbox_project, "GET", "/v1/files")
    with pytest.raises(Transient) as failed:
        await clients.call(PROFILE, lambda c: c.files.list())
    assert str(failed.value).startswith(
        f"profile {PROFILE!r}: GET /v1/files answered 502 bad_gateway: Bad gateway. (request id "
    )
    assert str(failed.value).endswith("(gave up after 4 attempts)")
    assert answers.since() == {502: 4}
    assert failed.value.detail["openai_error"] == "transient"


# --- ambiguous: a create whose answer was lost is never sent again blindly ---


async def test_a_create_applied_then_dropped_is_ambiguous_and_not_retried(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    inject(
        sandbox_project, kind="apply_then_drop", method="POST", path="/v1/vector_stores", count=1
    )
    with pytest.raises(Ambiguous) as failed:
        await clients.call(PROFILE, lambda c: c.vector_stores.create(name="kb"))
    assert str(failed.value) == (
        f"profile {PROFILE!r}: POST /v1/vector_stores lost its connection before an answer: "
        "the server may have acted on it; reconcile (find the object by its tag) before "
        "sending it again"
    )
    # The server did create it, exactly once: the caller reconciles by listing.
    listed = await clients.call(PROFILE, lambda c: c.vector_stores.list())
    assert [store.name for store in listed.data] == ["kb"]


async def test_a_create_that_timed_out_is_ambiguous_unless_the_caller_says_it_is_idempotent(
    make_clients: Callable[..., OpenAIClients],
    openai_settings: Settings,
    sandbox_project: SandboxProject,
) -> None:
    clients = make_clients(with_settings(openai_settings, openai_timeout_s=0.3))
    inject(sandbox_project, kind="hang", method="POST", path="/v1/vector_stores/*/search", count=2)
    store = await clients.call(PROFILE, lambda c: c.vector_stores.create(name="kb"))

    def search(c: AsyncOpenAI) -> Any:
        return c.vector_stores.search(store.id, query="returns")

    with pytest.raises(Ambiguous, match=r"POST /v1/vector_stores/\S+/search timed out"):
        await clients.call(PROFILE, search)
    found = await clients.call(PROFILE, search, idempotent=True)  # the hang retried, then 200
    assert found.data == []


# --- busy: contention, waited out ---


async def test_a_message_on_a_thread_with_an_active_run_waits_for_the_run(
    make_clients: Callable[..., OpenAIClients],
    openai_settings: Settings,
    sandbox_project: SandboxProject,
) -> None:
    set_timing(sandbox_project.project, run_step_seconds=0.3)
    plain = sandbox_project.client()
    assistant = await plain.beta.assistants.create(model="gpt-4o-mini", instructions="be brief")
    thread = await plain.beta.threads.create()

    def add(c: AsyncOpenAI) -> Any:
        return c.beta.threads.messages.create(thread.id, role="user", content="next")

    await plain.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    once = make_clients(with_settings(openai_settings, openai_max_attempts=1))
    with pytest.raises(Busy, match=r"answered 400 .*while a run run_\w+ is active"):
        await once.call(PROFILE, add)
    patient = make_clients(with_settings(openai_settings, openai_max_attempts=8))
    message = await patient.call(PROFILE, add)
    listed = await plain.beta.threads.messages.list(thread.id, order="asc")
    assert [m.id for m in listed.data if m.role == "user"] == [message.id]


# --- quota: final, and the profile cools down for every worker ---


async def test_insufficient_quota_fails_at_once_and_stops_every_worker(
    make_clients: Callable[..., OpenAIClients],
    openai_settings: Settings,
    sandbox_project: SandboxProject,
    redis: ArqRedis,
    key_prefix: str,
) -> None:
    from schemas.keys import RedisKeys

    state = sandbox_project.server.state
    state.set_insufficient_quota(
        sandbox_project.project_id, True, code="billing_hard_limit_reached"
    )
    first, second = make_clients(openai_settings), make_clients(openai_settings)
    answers = Answers(sandbox_project, "GET", "/v1/files")
    with pytest.raises(QuotaExhausted) as failed:
        await first.call(PROFILE, lambda c: c.files.list())
    assert failed.value.code == "billing_hard_limit_reached"
    assert "You exceeded your current quota" in str(failed.value)
    assert answers.since() == {429: 1}  # never retried

    with pytest.raises(QuotaExhausted) as refused:
        await second.call(PROFILE, lambda c: c.files.list())
    assert re.fullmatch(
        rf"profile {PROFILE!r} is out of quota \(billing_hard_limit_reached, \d+ s ago: .*\); "
        r"Ferry sends it nothing for another 600 s \(OPENAI_QUOTA_COOLDOWN_S\): add credit or "
        r"raise the project's limit, then retry",
        str(refused.value),
    )
    assert answers.since() == {429: 1}  # the second worker sent nothing
    mark = await exhaustion(redis, RedisKeys(key_prefix), PROFILE)
    assert mark is not None
    assert (mark.code, round(mark.remaining_s)) == ("billing_hard_limit_reached", 600)


# --- rate_limited: the headers say how long; everyone waits; long waits leave the slot ---


async def test_a_429_is_waited_out_as_its_headers_say(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    state, project = sandbox_project.server.state, sandbox_project.project_id
    state.set_limits(project, requests_per_minute=60)  # one request a second
    plain = sandbox_project.client()
    while True:  # spend the bucket from outside Ferry, as another service would
        try:
            await plain.files.list()
        except openai.RateLimitError as refused:
            if int(refused.response.headers["retry-after-ms"]) >= 500:
                break
    answers = Answers(sandbox_project, "GET", "/v1/files")
    page = await clients.call(PROFILE, lambda c: c.files.list())
    assert page.data == []
    # Ferry knew nothing yet: its probe met the empty bucket, waited as told, and got in.
    assert answers.since() == {429: 1, 200: 1}


async def test_a_long_rate_limit_wait_hands_the_job_back_for_every_worker(
    make_clients: Callable[..., OpenAIClients],
    openai_settings: Settings,
    sandbox_project: SandboxProject,
) -> None:
    state, project = sandbox_project.server.state, sandbox_project.project_id
    state.set_limits(project, requests_per_minute=3)  # one request per 20 s
    plain = sandbox_project.client()
    for _ in range(3):
        await plain.files.list()
    first, second = make_clients(openai_settings), make_clients(openai_settings)
    answers = Answers(sandbox_project, "GET", "/v1/files")
    with pytest.raises(Deferred) as deferred:
        await first.call(PROFILE, lambda c: c.files.list())
    assert 19.0 < deferred.value.wait_s <= 20.0
    assert deferred.value.defer_score == round(deferred.value.wait_s * 1000)
    with pytest.raises(Deferred) as also:
        await second.call(PROFILE, lambda c: c.files.list())
    assert 18.0 < also.value.wait_s <= deferred.value.wait_s
    assert answers.since() == {429: 1}  # the second worker did not ask the server


async def test_a_request_bigger_than_the_token_budget_is_never_sent(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    sandbox_project.server.state.set_limits(sandbox_project.project_id, tokens_per_minute=1000)
    # Each model has its own budget (as on OpenAI): a first call learns its limits.
    await clients.call(
        PROFILE,
        lambda c: c.responses.create(model="gpt-4o-mini", input="hi"),
        model="gpt-4o-mini",
        tokens=10,
    )
    answers = Answers(sandbox_project, "POST", "/v1/responses")
    with pytest.raises(Final) as failed:
        await clients.call(
            PROFILE,
            lambda c: c.responses.create(model="gpt-4o-mini", input="x" * 8000),
            model="gpt-4o-mini",
            tokens=2000,
        )
    assert str(failed.value) == (
        f"profile {PROFILE!r}: the call needs about 2000 tokens, more than the whole budget "
        "of 1000 tokens a minute for gpt-4o-mini: shorten the input"
    )
    assert answers.since() == {}


# --- final: quoted, named, not retried ---


async def test_a_missing_object_is_final_and_quotes_openai(
    clients: OpenAIClients, sandbox_project: SandboxProject
) -> None:
    answers = Answers(sandbox_project, "GET", "/v1/files/{id}")
    with pytest.raises(Final) as failed:
        await clients.call(PROFILE, lambda c: c.files.retrieve("file-n0pe0000"))
    assert type(failed.value) is Final
    assert re.fullmatch(
        rf"profile {PROFILE!r}: GET /v1/files/file-n0pe0000 answered 404 invalid_request_error: "
        r"No such File object: file-n0pe0000 \(request id req_\w+\)",
        str(failed.value),
    )
    assert failed.value.detail["request"] == "GET /v1/files/file-n0pe0000"
    assert answers.since() == {404: 1}


# --- bad input: the profile's settings, named ---


async def test_a_profile_with_no_key_names_the_variable(clients: OpenAIClients) -> None:
    with pytest.raises(ProfileMisconfigured) as failed:
        await clients.call("ghost", lambda c: c.files.list())
    assert str(failed.value) == (
        "unknown connection profile 'ghost': set OPENAI_GHOST_API_KEY to define it "
        "(profiles defined now: t)"
    )


def _profile(base: Profile, **changes: object) -> Settings:
    profile = base.model_copy(update=changes)
    return Settings(_env_file=None, profiles={PROFILE: profile})


async def test_a_refused_key_names_the_key_variable_without_printing_the_key(
    make_clients: Callable[..., OpenAIClients],
    sandbox_profile: Profile,
    sandbox_project: SandboxProject,
) -> None:
    from pydantic import SecretStr

    wrong = "sk-proj-wrong" + "0" * 30 + "abcd"
    clients = make_clients(_profile(sandbox_profile, api_key=SecretStr(wrong)))
    answers = Answers(sandbox_project, "GET", "/v1/files")
    with pytest.raises(ProfileMisconfigured) as failed:
        await clients.call(PROFILE, lambda c: c.files.list())
    message = str(failed.value)
    assert message.startswith(f"profile {PROFILE!r}: GET /v1/files answered 401 invalid_api_key:")
    assert message.endswith("; check OPENAI_T_API_KEY")
    assert wrong not in message
    assert answers.since() == {401: 1}


async def test_a_wrong_project_header_names_the_project_variable(
    make_clients: Callable[..., OpenAIClients], sandbox_profile: Profile
) -> None:
    clients = make_clients(_profile(sandbox_profile, project_id="proj_other"))
    with pytest.raises(ProfileMisconfigured, match=r"; check OPENAI_T_PROJECT_ID$"):
        await clients.call(PROFILE, lambda c: c.files.list())


async def test_a_base_url_without_a_server_is_refused_once_naming_the_variable(
    make_clients: Callable[..., OpenAIClients], sandbox_profile: Profile
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clients = make_clients(_profile(sandbox_profile, base_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(ProfileMisconfigured) as failed:
        await clients.call(PROFILE, lambda c: c.files.list())
    assert str(failed.value).startswith(
        f"profile {PROFILE!r}: GET /v1/files: cannot connect to http://127.0.0.1:{port} ("
    )
    assert str(failed.value).endswith("); check OPENAI_T_BASE_URL")


async def test_a_base_url_of_something_else_than_openai_names_the_variable(
    make_clients: Callable[..., OpenAIClients],
    sandbox_profile: Profile,
    sandbox_project: SandboxProject,
) -> None:
    root = sandbox_project.base_url.removesuffix("/v1")  # forgot the /v1
    clients = make_clients(_profile(sandbox_profile, base_url=root))
    with pytest.raises(ProfileMisconfigured) as failed:
        await clients.call(PROFILE, lambda c: c.files.list())
    # A plain 404, or OpenAI's own "Invalid URL (GET /files)": the route, not an object.
    assert str(failed.value).startswith(f"profile {PROFILE!r}: GET /files answered 404")
    assert str(failed.value).endswith(
        "; the server has no such route: check OPENAI_T_BASE_URL (it ends in /v1 for OpenAI "
        "and most compatible servers)"
    )


# --- header arithmetic ---


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20ms", 0.02), ("1s", 1.0), ("8.64s", 8.64), ("6m0s", 360.0), ("1h2m3.5s", 3723.5)],
)
def test_reset_durations_parse_as_openai_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5", "1s later"])
def test_a_duration_that_is_not_one_is_none(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250", "retry-after": "1"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "120ms"}, 0.12),
        ({}, None),
    ],
)
def test_retry_after_prefers_the_most_precise_header(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after(headers) == (pytest.approx(seconds) if seconds is not None else None)


def test_a_key_echoed_by_a_server_is_not_quoted_into_the_failure() -> None:
    key = "sk-proj-" + "k" * 40
    request = httpx2.Request("GET", "http://127.0.0.1:9/v1/files")
    error = openai.AuthenticationError(
        "Error code: 401",
        response=httpx2.Response(401, request=request),
        body={"message": f"Key {key} is not valid.", "type": "invalid_request_error"},
    )
    failure = classify(error, profile="dst")
    assert str(failure) == (
        "profile 'dst': GET /v1/files answered 401 invalid_request_error: Key [redacted] is "
        "not valid.; check OPENAI_DST_API_KEY"
    )
