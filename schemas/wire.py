"""arq's serializer: JSON, never pickle (a pickle payload in Redis is code execution)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from schemas.results import FieldError

# The arq function that receives jobs a worker cannot run (see worker/runner.py).
REJECT_FUNCTION = "ferry.reject"
# Jobs carry data, not documents: anything bigger is passed by reference (a file id, a URL).
MAX_JOB_BYTES = 1_048_576
# Deeper than any real payload, far shallower than what breaks a parser or Python's stack.
MAX_DEPTH = 64
_NUL_FIX = (
    "contains a NUL character (\\u0000), which Postgres cannot store: remove it, "
    "or encode binary data (base64)"
)


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


def unstorable(value: Any, *, root: str = "", limit: int = 5) -> list[FieldError]:
    """Why `value` cannot be stored as a job (NUL characters, nesting past `MAX_DEPTH`).

    Walks without recursion, so a depth bomb is measured rather than followed.
    """
    problems: list[FieldError] = []
    stack: list[tuple[str, Any, int]] = [(root, value, 0)]
    while stack and len(problems) < limit:
        path, item, depth = stack.pop()
        if depth > MAX_DEPTH:
            problems.append(
                FieldError(loc=path or "(root)", message=f"nested deeper than {MAX_DEPTH} levels")
            )
        elif isinstance(item, str):
            if "\x00" in item:
                problems.append(FieldError(loc=path or "(root)", message=_NUL_FIX))
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    problems.append(FieldError(loc=child_path, message=f"the key {_NUL_FIX}"))
                stack.append((child_path, child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{i}]", child, depth + 1) for i, child in enumerate(item))
    return problems


def _rejected(
    reason: str, enqueue_time_ms: Any = 0, fields: list[FieldError] | None = None
) -> dict[str, Any]:
    info = {"reason": reason, "fields": [f.model_dump() for f in fields or []]}
    et = enqueue_time_ms if isinstance(enqueue_time_ms, int) else 0
    return {"t": None, "f": REJECT_FUNCTION, "a": [info], "k": {}, "et": et}


def job_loads(functions: Collection[str]) -> Callable[[bytes], Any]:
    """A worker's job deserializer: whatever the bytes, the result is a job arq can start.

    Anything Ferry cannot run (not JSON, too big, too deep, NUL characters, an unknown
    function, arguments other than one envelope) goes to the rejecter, which gives the job a
    `validation` outcome; arq would otherwise fail it before any of Ferry's code runs, and
    whoever waits on the job would never hear why.
    """

    def deserialize(data: bytes) -> Any:
        if len(data) > MAX_JOB_BYTES:
            return _rejected(
                f"the job is {len(data)} bytes, over the limit of {MAX_JOB_BYTES}: pass large "
                "data by reference (a file id, a URL)"
            )
        try:
            job = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return _rejected(f"the job is not JSON ({error}); enqueue jobs with Ferry's client")
        except RecursionError:
            return _rejected(f"the job is nested deeper than {MAX_DEPTH} levels")
        if not isinstance(job, dict) or not isinstance(job.get("a"), list):
            return _rejected("the job is not an arq job object; enqueue jobs with Ferry's client")
        et = job.get("et", 0)
        if job.get("f") not in functions:
            known = ", ".join(sorted(f for f in functions if f != REJECT_FUNCTION))
            return _rejected(f"unknown job kind {job.get('f')!r}; this worker runs: {known}", et)
        args, kwargs = job["a"], job.get("k")
        if len(args) != 1 or kwargs:
            return _rejected(
                f"a job takes exactly one argument, its envelope; got {len(args)} positional "
                f"and {len(kwargs) if isinstance(kwargs, dict) else 0} keyword arguments",
                et,
            )
        if problems := unstorable(args[0]):
            return _rejected("the job cannot be stored", et, problems)
        tries = job.get("t")
        return {
            "t": tries if isinstance(tries, int) else None,
            "f": job["f"],
            "a": args,
            "k": {},
            "et": et if isinstance(et, int) else 0,
        }

    return deserialize
