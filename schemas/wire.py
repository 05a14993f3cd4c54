"""arq's serializer: JSON, never pickle (a pickle payload in Redis is code execution)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

# The arq function that receives jobs a worker cannot run (see worker/app.py).
REJECT_FUNCTION = "ferry.reject"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseException):
        # arq stores a failed job's exception as its result; keep its type and message.
        return {"exception": type(value).__name__, "message": str(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """Serialise a job or a result for Redis."""
    return json.dumps(value, default=_default, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """Deserialise a result (or anything else Ferry wrote)."""
    return json.loads(data)


def _rejected(reason: str, enqueue_time_ms: int = 0) -> dict[str, Any]:
    return {"t": 1, "f": REJECT_FUNCTION, "a": [{"reason": reason}], "k": {}, "et": enqueue_time_ms}


def job_loads(functions: Collection[str]) -> Callable[[bytes], Any]:
    """A worker's job deserializer: anything it cannot run goes to the rejecter.

    arq would otherwise fail non-JSON bytes or an unknown function before any of Ferry's code
    runs, and whoever waits on the job would never hear why.
    """

    def deserialize(data: bytes) -> Any:
        try:
            job = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return _rejected(f"the job is not JSON ({error}); enqueue jobs with Ferry's client")
        if not isinstance(job, dict) or not isinstance(job.get("a"), list):
            return _rejected("the job is not an arq job object; enqueue jobs with Ferry's client")
        if job.get("f") not in functions:
            known = ", ".join(sorted(f for f in functions if f != REJECT_FUNCTION))
            return _rejected(
                f"unknown job kind {job.get('f')!r}; this worker runs: {known}",
                job.get("et", 0),
            )
        return job

    return deserialize
