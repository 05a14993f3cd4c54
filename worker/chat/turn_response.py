"""The part of a Responses answer a chat turn reads, parsed by the SDK into a lean model.

The SDK's `Response` builds every item of the answer into its own typed model (a union
resolved per item, the tools and the echoed request fields included): ≈ 0.4 ms of worker CPU
per create and per poll, three or more times a turn, for objects the turn reads five fields
of. `TurnResponse` is an `openai.BaseModel` like the SDK's, so a `cast_to=TurnResponse`
request still goes through the client (auth, errors, the response hook) and is built the
same way, only from fewer fields; any field it does not name is kept as sent.
A response's stream is read as plain events for the same reason (the SDK resolves each
through a union of some fifty event models); its final response becomes a `TurnResponse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import BaseModel
from pydantic import Field


class OutputPart(BaseModel):
    """A part of a message item: `output_text` parts carry the reply."""

    type: str
    text: str | None = None


class OutputItem(BaseModel):
    """An output item: a `message`, or a `function_call` the turn must answer."""

    type: str
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    content: list[OutputPart] | None = None


class TurnUsage(BaseModel):
    """Tokens the response spent."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class TurnError(BaseModel):
    """Why a response failed."""

    code: str | None = None
    message: str | None = None


class TurnResponse(BaseModel):
    """A response as a chat turn reads it (id, status, output, usage, error)."""

    id: str
    status: str | None = None
    output: list[OutputItem] = Field(default_factory=list)
    usage: TurnUsage | None = None
    error: TurnError | None = None

    @property
    def output_text(self) -> str:
        """The text of every `output_text` part of the message items, as the SDK joins it."""
        return "".join(
            part.text
            for item in self.output
            if item.type == "message"
            for part in item.content or []
            if part.type == "output_text" and part.text is not None
        )


def event_response(event: Mapping[str, Any]) -> TurnResponse:
    """The response a stream's `response.*` event carries, built as the SDK builds answers."""
    return TurnResponse.construct(**event["response"])
