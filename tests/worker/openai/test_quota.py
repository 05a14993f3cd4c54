"""A profile out of quota is marked for every worker, and `ferry doctor` shows the mark."""

from __future__ import annotations

import math
import re
import time

import asyncpg
from arq.connections import ArqRedis
from pydantic import SecretStr

from schemas.keys import RedisKeys
from tests.conftest import SandboxProject
from worker.doctor import run_checks
from worker.openai.errors import QuotaExhausted
from worker.openai.quota import clear, exhaustion, mark_exhausted
from worker.settings import Profile, Settings


async def test_doctor_shows_a_profile_marked_out_of_quota(
    db: asyncpg.Pool,
    settings: Settings,
    redis: ArqRedis,
    key_prefix: str,
    sandbox_project: SandboxProject,
) -> None:
    def profile(name: str) -> Profile:
        return Profile(
            name=name, api_key=SecretStr(sandbox_project.api_key), base_url=sandbox_project.base_url
        )

    settings = Settings(
        _env_file=None,
        profiles={"src": profile("src"), "dst": profile("dst")},
        **settings.model_dump(),
    )
    spent = QuotaExhausted(
        "profile 'dst': POST /v1/responses answered 429 insufficient_quota: You exceeded your "
        "current quota",
        profile="dst",
        request="POST /v1/responses",
        code="insufficient_quota",
    )
    await mark_exhausted(redis, RedisKeys(key_prefix), spent, cooldown_s=600)
    started = time.monotonic()
    checks = {c.name: c for c in await run_checks(settings)}
    elapsed = time.monotonic() - started
    assert (checks["quota src"].ok, checks["quota src"].detail) == (True, "not marked out of quota")
    assert checks["quota dst"].ok is False
    told = re.fullmatch(
        r"profile 'dst' is out of quota \(insufficient_quota, \d+ s ago: profile 'dst': POST "
        r"/v1/responses answered 429 insufficient_quota: You exceeded your current quota\); "
        r"Ferry sends it nothing for another (\d+) s \(OPENAI_QUOTA_COOLDOWN_S\): add credit or "
        r"raise the project's limit, then retry",
        checks["quota dst"].detail,
    )
    assert told is not None
    # The cool-down left, rounded up: 600 s less what the checks took, never more.
    assert 600 - math.ceil(elapsed) <= int(told[1]) <= 600
    assert checks["profile src"].ok and checks["profile dst"].ok


async def test_a_mark_lives_as_long_as_its_cooldown_unless_cleared(
    redis: ArqRedis, key_prefix: str
) -> None:
    keys = RedisKeys(key_prefix)
    spent = QuotaExhausted("out", profile="dst", request="GET /v1/files", code="insufficient_quota")
    await mark_exhausted(redis, keys, spent, cooldown_s=90)
    assert 89_000 < await redis.pttl(keys.openai_quota("dst")) <= 90_000  # Redis expires it
    assert await clear(redis, keys, "dst") is True
    assert await exhaustion(redis, keys, "dst") is None
    assert await clear(redis, keys, "dst") is False
