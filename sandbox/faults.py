"""Fault injection per route: latency, 5xx answers, hangs, dropped connections.

A `Fault` matches requests by method and path glob (and optionally project), and fires on a
share of them (`rate`, seeded so a run repeats) or on exactly the next `count` of them.
Kinds:

- `latency`: wait `latency_ms` (+ up to `jitter_ms`) and then answer normally;
- `error`: answer `status` (500/502/503) in OpenAI's error shape without running the handler;
- `hang`: never answer (until the client gives up and disconnects, or `hang_ms` passes);
- `drop`: close the connection without answering, handler not run;
- `apply_then_drop`: run the handler (the object is created) and close the connection
  before the answer is sent: the client cannot know its create succeeded;
- `apply_then_hang`: run the handler, swallow its answer and then hang as `hang` does: the
  object exists and the client is still waiting (a worker killed there never learnt its id).
  `applied` counts the requests whose handler has run, for a test to wait on;
- `cut_stream`: answer normally, then close the connection once `after_events` server-sent
  events of the answer have gone out (a stream that breaks mid-way; an answer that is not a
  stream, or is shorter, goes out whole).

With no fault set the middleware costs one `if`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.errors import APIError

KINDS = ("latency", "error", "hang", "drop", "apply_then_drop", "apply_then_hang", "cut_stream")

_ERRORS = {
    500: ("The server had an error while processing your request. Sorry about that!", None),
    502: ("Bad gateway.", "bad_gateway"),
    503: ("The server is overloaded or not ready yet.", "service_unavailable"),
}


@dataclass
class Fault:
    """One injected fault; see the module docstring for the kinds."""

    kind: str
    path: str = "/v1/*"
    method: str = "*"
    rate: float = 1.0
    count: int | None = None  # fire on the next `count` matches only, then retire
    project_id: str | None = None
    status: int = 500
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    hang_ms: float = 300_000.0
    after_events: int = 3
    seed: int | None = None
    id: str = field(default_factory=lambda: f"fault_{secrets.token_hex(6)}")
    fired: int = 0
    applied: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.kind == "error" and self.status not in _ERRORS:
            raise ValueError(f"error faults answer one of {sorted(_ERRORS)}, not {self.status}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate is a share between 0 and 1")
        if self.after_events < 0:
            raise ValueError("after_events counts events sent before the cut: 0 or more")
        self.method = self.method.upper()
        self._rng = random.Random(self.seed)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {k: v for k, v in data.items() if k not in ("id", "fired", "applied")}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, method: str, path: str, project_id: str | None) -> bool:
        if self.method not in ("*", method):
            return False
        if self.project_id is not None and self.project_id != project_id:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def fires(self) -> bool:
        """Whether this matching request is hit (consumes one of `count`)."""
        if self.count is not None and self.fired >= self.count:
            return False
        if self.rate < 1.0 and self._rng.random() >= self.rate:
            return False
        self.fired += 1
        return True

    @property
    def spent(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def delay(self) -> float:
        jitter = self._rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0
        return (self.latency_ms + jitter) / 1000.0

    def error(self) -> APIError:
        message, code = _ERRORS[self.status]
        return APIError(self.status, message, type="server_error", code=code)


class FaultTable:
    """The faults in force, changeable at runtime (admin routes or Python)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def __bool__(self) -> bool:
        return bool(self.faults)

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) != before

    def clear(self) -> None:
        self.faults.clear()

    def pick(self, method: str, path: str, project_id: str | None) -> list[Fault]:
        """The faults that fire on this request (latency ones may stack with one other)."""
        fired = [f for f in self.faults if f.matches(method, path, project_id) and f.fires()]
        if any(f.spent for f in self.faults):
            self.faults = [f for f in self.faults if not f.spent]
        return fired


async def apply(faults: list[Fault], app: Any, scope: Any, receive: Any, send: Any) -> bool:
    """Serve the request through `app` with the fired `faults` applied; False if unanswered."""
    delay = sum(f.delay() for f in faults if f.kind == "latency")
    if delay:
        await asyncio.sleep(delay)
    terminal = next((f for f in faults if f.kind != "latency"), None)
    if terminal is None:
        await app(scope, receive, send)
        return True
    if terminal.kind == "error":
        await terminal.error().response()(scope, receive, send)
        return True
    if terminal.kind == "cut_stream":
        await _cut_stream(terminal.after_events, app, scope, receive, send)
        return True
    if terminal.kind == "hang":
        await _hang(receive, terminal.hang_ms / 1000.0)
    elif terminal.kind == "drop":
        _drop(receive)
    else:  # apply_then_*: the handler's answer is swallowed, then the connection goes or hangs

        async def swallow(message: Any) -> None:
            return None

        await app(scope, receive, swallow)
        terminal.applied += 1
        if terminal.kind == "apply_then_hang":
            await _hang(receive, terminal.hang_ms / 1000.0)
        else:
            _drop(receive)
    return False


async def _cut_stream(after_events: int, app: Any, scope: Any, receive: Any, send: Any) -> None:
    """Serve through `app`, dropping the connection once `after_events` events went out."""
    sent = 0
    cut = False

    async def cutting(message: Any) -> None:
        nonlocal sent, cut
        if cut:
            return  # the rest of the answer goes nowhere
        if message["type"] == "http.response.body" and message.get("more_body", False):
            sent += message.get("body", b"").count(b"\n\n")
            if sent >= after_events:
                await send(message)
                cut = True
                _drop(receive)
                return
        await send(message)

    await app(scope, receive, cutting)


async def _hang(receive: Any, seconds: float) -> None:
    """Answer nothing until the client disconnects (or `seconds` pass, then drop)."""

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(until_disconnect(), timeout=seconds)
    except TimeoutError:
        _drop(receive)


def _drop(receive: Any) -> None:
    """Close the connection without a byte of answer.

    ASGI has no verb for this, so reach uvicorn's request cycle through its bound `receive`
    (the h11 and httptools protocols both keep `transport` and `disconnected` there). Under
    another server, raising makes it abort the connection, which is the nearest thing.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: connection dropped")
    transport.close()
    cycle.disconnected = True  # so uvicorn does not try to answer 500 on a closed socket
