"""Job payloads and the envelope they travel in.

A job kind is a pydantic model subclassing `Job`: its class variables say which queue it
rides, how long it may run and what it returns. On the wire a job is a JSON envelope
`{"kind", "schema_version", "payload"}`; the arq function name is the kind.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.keys import Queue
from schemas.results import FieldError

# What a kind's job returns: `class CloneJob(Job[CloneResult])` makes
# `await (await client.enqueue(clone)).result()` a `CloneResult` for the type checker.
ResultT = TypeVar("ResultT")


class Job(BaseModel, Generic[ResultT]):
    """Base of every job kind; `Job[ResultModel]` names what it returns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClassVar[str]
    queue: ClassVar[Queue]
    schema_version: ClassVar[int] = 1
    # How long one attempt may run; arq's in-progress key outlives it by a margin.
    timeout_s: ClassVar[int] = 300
    # Attempts in all, counting re-runs after a worker died or handed the job back.
    max_tries: ClassVar[int] = 3
    result_model: ClassVar[type[BaseModel] | None] = None

    def job_id(self) -> str:
        """A deterministic id: the same job enqueued twice has one id and runs once.

        Kinds with a natural id (a chat message id, a flow id + base version) override this.
        """
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return f"{self.kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"

    def envelope(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "payload": self.model_dump(mode="json"),
        }


class Envelope(BaseModel):
    """The outer shape of every job on the queue."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1)
    schema_version: int
    payload: dict[str, Any]


class PayloadError(ValueError):
    """A payload that cannot become a job; `fields` name what is wrong."""

    def __init__(self, message: str, fields: list[FieldError]) -> None:
        super().__init__(message)
        self.fields = fields


def field_errors(error: ValidationError, *, root: str = "") -> list[FieldError]:
    """pydantic's errors as `FieldError`s with dotted paths (`payload.items[2].name`)."""
    found = []
    for item in error.errors():
        path = root
        for part in item["loc"]:
            if isinstance(part, int):
                path = f"{path}[{part}]"
            else:
                path = f"{path}.{part}" if path else str(part)
        found.append(FieldError(loc=path or root or "(root)", message=item["msg"]))
    return found


def parse_job(raw: Any, kinds: dict[str, type[Job]]) -> Job:
    """Validate an envelope into its job model, or raise `PayloadError` naming the fields."""
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as error:
        raise PayloadError("the job envelope is invalid", field_errors(error)) from None
    model = kinds.get(envelope.kind)
    if model is None:
        known = ", ".join(sorted(kinds)) or "none"
        raise PayloadError(
            f"unknown job kind {envelope.kind!r}",
            [FieldError(loc="kind", message=f"unknown job kind; this worker runs: {known}")],
        )
    if envelope.schema_version != model.schema_version:
        raise PayloadError(
            f"{envelope.kind} schema version {envelope.schema_version} is not supported",
            [
                FieldError(
                    loc="schema_version",
                    message=f"expected {model.schema_version}, got {envelope.schema_version}; "
                    "upgrade the producer or the worker so both speak one version",
                )
            ],
        )
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as error:
        raise PayloadError(
            f"invalid {envelope.kind} payload", field_errors(error, root="payload")
        ) from None
