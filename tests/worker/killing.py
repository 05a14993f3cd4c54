"""A real worker process killed at a step the sandbox holds it at, then a job finished on another.

The sandbox runs in a thread of the test's process, so its fault counters (`fired`, `applied`)
are the events a test waits on before it kills.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


async def until(counter: Callable[[], int]) -> None:
    """Return once a sandbox fault counter has moved."""
    while counter() == 0:  # noqa: ASYNC110 - a counter of the in-process sandbox
        await asyncio.sleep(0.02)


@contextmanager
def killed_when_done(worker: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """`worker`, SIGKILLed when the block ends, however it ends."""
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
        worker.wait()


async def result_on(worker: subprocess.Popen[bytes], handle: Any, timeout: float = 60) -> Any:
    """`handle`'s result with `worker` serving the queue; the worker is stopped after."""
    try:
        return await handle.result(timeout=timeout)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
