"""The worker process's event loop: uvloop unless the setting says asyncio's own."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from worker import event_loop
from worker.settings import Settings


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_a_worker_runs_on_uvloop_by_default() -> None:
    kind = Settings(_env_file=None).worker_event_loop
    assert kind == "uvloop"
    assert isinstance(event_loop.run(running_loop(), kind), uvloop.Loop)


def test_the_setting_picks_the_standard_asyncio_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_EVENT_LOOP", "asyncio")
    kind = Settings(_env_file=None).worker_event_loop
    loop = event_loop.run(running_loop(), kind)
    assert not isinstance(loop, uvloop.Loop)
    assert isinstance(loop, asyncio.BaseEventLoop)


def test_an_unknown_loop_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="worker_event_loop"):
        Settings(_env_file=None)
