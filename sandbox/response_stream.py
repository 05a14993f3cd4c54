"""A finished response replayed as OpenAI's server-sent events, delta by delta."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any


def chunks(text: str) -> list[str]:
    """The deltas a text is streamed in: one word with its following whitespace each."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


def events(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event of the stream of `response` (its final state), in order, numbered."""
    numbered = _events(response)
    for sequence_number, event in enumerate(numbered):
        event["sequence_number"] = sequence_number
        yield event


def _events(final: dict[str, Any]) -> Iterator[dict[str, Any]]:
    start = copy.deepcopy(final)
    start.update(status="in_progress", output=[], completed_at=None, error=None)
    start.pop("usage", None)  # not known yet, and the spec's usage is never null
    yield {"type": "response.created", "response": start}
    yield {"type": "response.in_progress", "response": copy.deepcopy(start)}
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            yield from _message_events(index, item)
        elif item["type"] == "function_call":
            yield from _function_call_events(index, item)
        else:
            yield {"type": "response.output_item.added", "output_index": index, "item": item}
            yield {"type": "response.output_item.done", "output_index": index, "item": item}
    yield {"type": f"response.{final['status']}", "response": final}


def _message_events(index: int, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield {
        "type": "response.output_item.added",
        "output_index": index,
        "item": {**item, "status": "in_progress", "content": []},
    }
    for content_index, part in enumerate(item["content"]):
        where = {"item_id": item["id"], "output_index": index, "content_index": content_index}
        yield {"type": "response.content_part.added", **where, "part": {**part, "text": ""}}
        for delta in chunks(part["text"]):
            yield {"type": "response.output_text.delta", **where, "delta": delta, "logprobs": []}
        yield {"type": "response.output_text.done", **where, "text": part["text"], "logprobs": []}
        yield {"type": "response.content_part.done", **where, "part": part}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def _function_call_events(index: int, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield {
        "type": "response.output_item.added",
        "output_index": index,
        "item": {**item, "status": "in_progress", "arguments": ""},
    }
    where = {"item_id": item["id"], "output_index": index}
    yield {"type": "response.function_call_arguments.delta", **where, "delta": item["arguments"]}
    yield {
        "type": "response.function_call_arguments.done",
        **where,
        "name": item["name"],
        "arguments": item["arguments"],
    }
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def sse(event: dict[str, Any]) -> bytes:
    """One event on the wire, as OpenAI frames it."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
