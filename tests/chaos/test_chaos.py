"""The pipeline survives its own infrastructure: each fault, real processes, stores of our own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from producers.errors import StoreUnavailable
from schemas.results import JobStatus
from tests.chaos.scenarios import SCENARIOS, Cluster, run_scenario
from tests.chaos.serve import ChaosJob
from tests.chaos.stores import ThrowawayPostgres, ThrowawayRedis

pytestmark = pytest.mark.slow

# The promise: a job affected by a fault has its outcome within its timeout plus this.
RECOVERY_GRACE_S = 15


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ThrowawayRedis, ThrowawayPostgres]]:
    with ThrowawayRedis(tmp_path_factory.mktemp("redis")) as redis, ThrowawayPostgres() as pg:
        yield redis, pg


@pytest.mark.timeout(180)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_every_accepted_job_completes_once_whatever_breaks(
    stores: tuple[ThrowawayRedis, ThrowawayPostgres], scenario: str
) -> None:
    tally = await run_scenario(*stores, scenario, jobs=60)
    assert tally.problems == []
    assert (tally.accepted, tally.completed) == (60, 60)
    assert (tally.lost, tally.finished_twice, tally.contradicted, tally.hung) == (0, 0, 0, 0)
    assert tally.recovery_s <= ChaosJob.timeout_s + RECOVERY_GRACE_S


async def test_a_producer_gets_a_ferry_error_naming_the_store_that_is_down(
    stores: tuple[ThrowawayRedis, ThrowawayPostgres],
) -> None:
    redis, postgres = stores
    cluster = Cluster(redis, postgres, "producer")
    await cluster.create_schema()
    client = await cluster.client()
    try:
        await asyncio.to_thread(postgres.stop, "fast")
        try:
            with pytest.raises(StoreUnavailable) as info:
                await client.enqueue(ChaosJob(n=1, run="down"))
        finally:
            await asyncio.to_thread(postgres.start)
        assert str(info.value).startswith("could not record the job in Postgres")
        handle = await client.enqueue(ChaosJob(n=1, run="down"))
        assert await handle.status() is JobStatus.queued
    finally:
        await client.aclose()
