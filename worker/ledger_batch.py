"""A worker process's ledger writes, batched: jobs that start or finish together share a
statement.

While one statement is in flight the next batch gathers, so under load a worker process makes
one round trip per batch instead of one per job, and a lone job waits for nothing. Each
caller still gets its own answer (its row, whether its outcome landed) or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import asyncpg

from schemas.results import JobOutcome
from store import ledger
from store.ledger import LedgerJob

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


class _Batcher(Generic[K, V, R]):
    """Calls `flush` with everything queued since the last call began, one call at a time."""

    def __init__(self, flush: Callable[[dict[K, V]], Awaitable[dict[K, R]]]) -> None:
        self._flush = flush
        self._pending: dict[K, tuple[V, list[asyncio.Future[R]]]] = {}
        self._running: asyncio.Task[None] | None = None

    async def submit(self, key: K, value: V) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        if key in self._pending:
            self._pending[key][1].append(future)
        else:
            self._pending[key] = (value, [future])
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                answers = await self._flush({key: value for key, (value, _) in batch.items()})
            except BaseException as error:
                for _, futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for key, (_, futures) in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(answers[key])


class LedgerBatch:
    """`start_attempt` and `finish` for every job of a worker process, batched."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._starts: _Batcher[str, dict[str, Any], LedgerJob] = _Batcher(self._start_all)
        self._finishes: _Batcher[str, JobOutcome, bool] = _Batcher(self._finish_all)

    async def start_attempt(
        self, *, job_id: str, kind: str, queue: str, payload: dict[str, Any], timeout_s: int
    ) -> LedgerJob:
        """As `store.ledger.start_attempt`."""
        details = {"kind": kind, "queue": queue, "payload": payload, "timeout_s": timeout_s}
        return await self._starts.submit(job_id, details)

    async def finish(self, outcome: JobOutcome) -> bool:
        """Record `outcome` unless the job has one already; whether this call recorded it."""
        return await self._finishes.submit(outcome.job_id, outcome)

    async def _start_all(self, batch: dict[str, dict[str, Any]]) -> dict[str, LedgerJob]:
        rows = await ledger.start_attempts(
            self.pool, {job_id: details["payload"] for job_id, details in batch.items()}
        )
        for job_id in batch.keys() - rows.keys():
            # No row yet: a job put on the queue by hand. Rare; one statement each.
            rows[job_id] = await ledger.start_attempt(self.pool, job_id=job_id, **batch[job_id])
        return rows

    async def _finish_all(self, batch: dict[str, JobOutcome]) -> dict[str, bool]:
        landed = await ledger.finish_many(self.pool, list(batch.values()))
        return {job_id: job_id in landed for job_id in batch}
