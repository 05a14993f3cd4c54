"""What the queue benchmarks share: stores of the run's own, a worker in a subprocess, a client.

Each run gets a Postgres schema and a Redis key prefix nobody else uses (dropped at the end),
so a benchmark never disturbs, nor is disturbed by, anything else on the same services.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from producers.client import FerryClient
from producers.settings import ClientSettings
from schemas.keys import Queue
from store.migrate import migrate
from store.pool import create_pool

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@asynccontextmanager
async def isolated_ferry(script: str) -> AsyncIterator[FerryClient]:
    """Migrate a fresh schema, start `script --serve SCHEMA PREFIX` (the worker), connect."""
    schema, prefix = f"bench_{secrets.token_hex(4)}", f"ferry-bench{secrets.token_hex(4)}"
    admin = await asyncpg.connect(DATABASE_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pool = await create_pool(DATABASE_URL, schema=schema)
    await migrate(pool)
    await pool.close()
    worker = await asyncio.create_subprocess_exec(sys.executable, script, "--serve", schema, prefix)
    client = await FerryClient.connect(
        ClientSettings(
            _env_file=None,
            database_url=DATABASE_URL,
            database_schema=schema,
            redis_url=REDIS_URL,
            redis_key_prefix=prefix,
        )
    )
    try:
        yield client
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        await client.aclose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def serve(
    schema: str,
    prefix: str,
    queues: Sequence[Queue],
    handlers: Sequence[Any] | None = None,
    **settings: Any,
) -> None:
    """The worker side of a benchmark (run in the subprocess): serve `queues` until stopped.

    `handlers` are the job kinds (default: the product's); `settings` override `Settings`.
    """
    from worker import event_loop
    from worker.app import run_workers
    from worker.handlers import PRODUCT_HANDLERS
    from worker.logs import configure_logging
    from worker.settings import Settings

    configure_logging("error")
    worker_settings = Settings(
        _env_file=None,
        database_url=DATABASE_URL,
        database_schema=schema,
        redis_url=REDIS_URL,
        redis_key_prefix=prefix,
        log_level="error",
        **settings,
    )
    running = run_workers(queues, worker_settings, handlers or PRODUCT_HANDLERS)
    if not (profile_to := os.environ.get("BENCH_PROFILE")):
        event_loop.run(running, worker_settings.worker_event_loop)
        return
    # A diagnosis: the worker process's cProfile stats, written when it stops.
    import cProfile

    with cProfile.Profile() as profiler:
        event_loop.run(running, worker_settings.worker_event_loop)
    profiler.dump_stats(profile_to)
