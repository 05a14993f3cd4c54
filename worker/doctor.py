"""`python -m worker.doctor` (what `ferry doctor` runs): is everything a worker needs there?

Checks Redis, Postgres, the migrations, the blob store, and each connection profile's
settings and reachability; prints a table; exits non-zero if anything failed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass

import asyncpg
import openai
from arq.connections import RedisSettings, create_pool
from rich.console import Console
from rich.table import Table

from schemas.keys import Queue, RedisKeys
from store.migrate import pending
from store.pool import create_pool as create_db_pool
from worker.blobs import blob_store_from_url
from worker.openai.clients import openai_client
from worker.openai.quota import exhaustion
from worker.settings import ApiStyle, Profile, Settings, SettingsError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


async def check_redis(settings: Settings) -> list[Check]:
    """Redis itself, then which queues have a live worker (informational: none is no fault)."""
    keys = RedisKeys(settings.redis_key_prefix)
    try:
        redis = await create_pool(RedisSettings.from_dsn(settings.redis_url), retry=0)
        try:
            info = await redis.info("server")
            health = {q: await redis.get(keys.health_check(q)) for q in Queue}
        finally:
            await redis.aclose()
    except Exception as error:
        return [Check("redis", False, f"{settings.redis_url}: {error} (is REDIS_URL right?)")]
    checks = [Check("redis", True, f"{settings.redis_url} (Redis {info.get('redis_version')})")]
    for queue, seen in health.items():
        detail = seen.decode() if seen else "no worker has reported in the last 30 s"
        checks.append(Check(f"queue {keys.queue(queue)}", True, detail))
    return checks


async def check_postgres(settings: Settings) -> list[Check]:
    where = _without_password(settings.database_url)
    try:
        pool = await create_db_pool(settings.database_url, schema=settings.database_schema)
    except Exception as error:
        return [Check("postgres", False, f"{where}: {error} (is DATABASE_URL right?)")]
    try:
        version = await pool.fetchval("SHOW server_version")
        todo = await pending(pool)
    finally:
        await pool.close()
    checks = [Check("postgres", True, f"{where} (PostgreSQL {version})")]
    if todo:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in todo)
        checks.append(Check("migrations", False, f"pending: {names}; run `ferry db migrate`"))
    else:
        checks.append(Check("migrations", True, "up to date"))
    return checks


# Content-addressed, so every doctor run writes these same bytes once and reads them back.
BLOB_PROBE = b"ferry doctor: the blob store keeps and returns bytes\n"


async def check_blob_store(settings: Settings) -> Check:
    """Write the probe blob and read it back, wherever BLOB_STORE_URL points."""
    scheme = settings.blob_store_url.partition(":")[0]
    try:
        pool = await create_db_pool(settings.database_url, schema=settings.database_schema)
    except Exception:
        return Check("blob store", False, "needs Postgres (see above)")
    try:
        store = await blob_store_from_url(
            settings.blob_store_url, db=pool, chunk_bytes=settings.blob_chunk_bytes
        )
        try:
            ref = await store.put_bytes(BLOB_PROBE)
            back = await store.read_bytes(ref.sha256)
        finally:
            await store.aclose()
    except asyncpg.UndefinedTableError:
        return Check(
            "blob store", False, f"{scheme}: its tables are missing; run `ferry db migrate`"
        )
    except Exception as error:
        return Check("blob store", False, f"{error} (check BLOB_STORE_URL)")
    finally:
        await pool.close()
    if back != BLOB_PROBE:
        return Check("blob store", False, f"{scheme}: the probe came back different")
    return Check("blob store", True, f"{scheme}: wrote and read back a probe blob")


async def check_profile(profile: Profile, settings: Settings) -> Check:
    name = f"profile {profile.name}"
    where = f"{profile.base_url or 'api.openai.com'}, {profile.api_style.value} style"
    client = openai_client(profile, timeout_s=min(settings.openai_timeout_s, 10))
    started = time.perf_counter()
    try:
        if profile.api_style is ApiStyle.assistants:
            await client.beta.assistants.list(limit=1)
        else:
            await client.files.list(limit=1)
    except openai.AuthenticationError as error:
        return Check(
            name,
            False,
            f"{where}: key refused ({error.code or 401}); check {profile.env_prefix}API_KEY",
        )
    except openai.PermissionDeniedError as error:
        return Check(
            name,
            False,
            f"{where}: forbidden ({error.code}); check {profile.env_prefix}ORG_ID/PROJECT_ID",
        )
    except openai.APIConnectionError as error:
        return Check(
            name, False, f"{where}: unreachable ({error}); check {profile.env_prefix}BASE_URL"
        )
    except openai.APIStatusError as error:
        return Check(name, False, f"{where}: HTTP {error.status_code} {error.code or ''}".rstrip())
    finally:
        await client.close()
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Check(name, True, f"{where}: reachable in {elapsed_ms:.0f} ms")


async def check_quotas(settings: Settings, profiles: list[str]) -> list[Check]:
    """Profiles marked out of quota in Redis: every worker refuses their jobs until it lapses."""
    try:
        redis = await create_pool(RedisSettings.from_dsn(settings.redis_url), retry=0)
    except Exception:
        return []  # check_redis has said why
    keys = RedisKeys(settings.redis_key_prefix)
    try:
        marks = [await exhaustion(redis, keys, name) for name in profiles]
    finally:
        await redis.aclose()
    return [
        Check(f"quota {m.profile}", False, str(m.error()))
        if m
        else Check(f"quota {n}", True, "not marked out of quota")
        for n, m in zip(profiles, marks, strict=True)
    ]


async def run_checks(settings: Settings) -> list[Check]:
    checks = [*await check_redis(settings), *await check_postgres(settings)]
    checks.append(await check_blob_store(settings))
    try:
        profiles = settings.profiles
    except SettingsError as error:
        return [*checks, Check("profiles", False, str(error))]
    if not profiles:
        checks.append(
            Check("profiles", False, "none defined: set OPENAI_<NAME>_API_KEY (see .env.example)")
        )
    for variable in settings.unread_openai_variables():
        # Not a failure (the worker runs without it), but likely a typo: said, in the table.
        checks.append(
            Check(
                f"setting {variable}",
                True,
                "set but nothing reads it: check its spelling (see .env.example), or define "
                "the profile's API_KEY",
            )
        )
    checks += await asyncio.gather(*(check_profile(p, settings) for p in profiles.values()))
    checks += await check_quotas(settings, list(profiles))
    return checks


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def main() -> int:
    console = Console()
    try:
        settings = Settings()
    except ValueError as error:
        console.print(f"[red]settings:[/red] {error}")
        return 1
    checks = asyncio.run(run_checks(settings))
    table = Table(title="ferry doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(
            check.name, "[green]ok[/green]" if check.ok else "[red]FAIL[/red]", check.detail
        )
    console.print(table)
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
