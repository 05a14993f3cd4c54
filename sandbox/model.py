"""The scripted model: a deterministic stand-in for an LLM, shared by runs and responses.

The script language is documented in sandbox/README.md ("The scripted model"). In short:
lines `call NAME {json}` in the last user message make function calls; once every call has an
output the model answers with those outputs; `fail MESSAGE` makes the turn fail; anything
else is echoed back behind a short hash of the instructions.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.state import Project

# Defaults keep runs and responses fast but still asynchronous enough that clients poll.
DEFAULT_RUN_STEP_SECONDS = 0.05
DEFAULT_RESPONSE_LATENCY_SECONDS = 0.0

_CALL_LINE = re.compile(r"^\s*call\s+([A-Za-z0-9_-]{1,64})\s*(.*?)\s*$")
_FAIL_LINE = re.compile(r"^\s*fail(?:\s+(.*?))?\s*$")
_SEARCH_LINE = re.compile(r"^\s*search\s+(.+?)\s*$")
_SNIPPET_CHARS = 80


@dataclass(frozen=True)
class ToolCall:
    """One function call the model makes."""

    call_id: str
    name: str
    arguments: str  # a JSON object, as OpenAI sends it


@dataclass(frozen=True)
class SearchHit:
    """One chunk file_search found."""

    file_id: str
    filename: str
    text: str
    score: float
    attributes: dict[str, Any] | None = None


# file_search as the caller provides it: a query in, the best chunks of its vector stores out
Searcher = Callable[[str], list[SearchHit]]


@dataclass(frozen=True)
class Search:
    """One file_search the model ran before answering."""

    query: str
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True)
class Turn:
    """What the model does on one turn: call tools, answer with text, or fail."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    error: str | None = None
    searches: tuple[Search, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Entry:
    """One item of the transcript the model reads.

    `kind` is "user", "assistant", "tool_call" (name, call_id, text = arguments) or
    "tool_output" (call_id, text = output).
    """

    kind: str
    text: str = ""
    call_id: str | None = None
    name: str | None = None


@dataclass
class ModelSettings:
    """Per-project knobs and the admin queue of scripted outputs."""

    run_step_seconds: float = DEFAULT_RUN_STEP_SECONDS
    response_latency_seconds: float = DEFAULT_RESPONSE_LATENCY_SECONDS
    queue: list[Turn] = field(default_factory=list)


def settings_of(project: Project) -> ModelSettings:
    """The project's model settings, created on first use."""
    store = project.private_of("model")
    if "settings" not in store:
        store["settings"] = ModelSettings()
    return store["settings"]


def set_timing(
    project: Project,
    *,
    run_step_seconds: float | None = None,
    response_latency_seconds: float | None = None,
) -> ModelSettings:
    """Set how long each run step lasts and how long a response takes to answer."""
    settings = settings_of(project)
    if run_step_seconds is not None:
        settings.run_step_seconds = max(0.0, run_step_seconds)
    if response_latency_seconds is not None:
        settings.response_latency_seconds = max(0.0, response_latency_seconds)
    return settings


def queue_outputs(project: Project, outputs: list[str | dict[str, Any]]) -> int:
    """Queue the model's next outputs for `project`; returns the queue's length.

    Each output is used by exactly one model turn (run step or response), first in first out,
    instead of the script. An output is a string (a text answer) or a dict with one of
    `{"text": str}`, `{"tool_calls": [{"name": str, "arguments": dict | str}, ...]}`,
    `{"error": str}`.
    """
    settings = settings_of(project)
    settings.queue.extend(_queued_turn(output) for output in outputs)
    return len(settings.queue)


def clear_outputs(project: Project) -> None:
    """Drop every queued output of `project`."""
    settings_of(project).queue.clear()


def _queued_turn(output: str | dict[str, Any]) -> Turn:
    if isinstance(output, str):
        return Turn(text=output)
    if not isinstance(output, dict):
        raise TypeError(f"a queued output is a str or a dict, got {type(output).__name__}")
    if "tool_calls" in output:
        calls = []
        for call in output["tool_calls"]:
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            calls.append(ToolCall(new_call_id(), str(call["name"]), arguments))
        return Turn(tool_calls=tuple(calls))
    if "error" in output:
        return Turn(error=str(output["error"]))
    if "text" in output:
        return Turn(text=str(output["text"]))
    raise ValueError(f"a queued output needs 'text', 'tool_calls' or 'error': {output!r}")


def new_call_id() -> str:
    """A fresh tool-call id shaped like OpenAI's (`call_…`)."""
    return f"call_{secrets.token_hex(12)}"


def instructions_tag(instructions: str | None) -> str:
    """The 8-hex-digit tag of the instructions that every text answer starts with."""
    return hashlib.sha256((instructions or "").encode()).hexdigest()[:8]


def count_tokens(text: str) -> int:
    """A rough token count: one token per four characters, at least one for non-empty text."""
    return math.ceil(len(text) / 4) if text else 0


def respond(
    project: Project,
    *,
    instructions: str | None,
    transcript: list[Entry],
    functions: set[str],
    search: Searcher | None = None,
) -> Turn:
    """The model's next turn over `transcript`, given its function tools and file_search."""
    input_tokens = count_tokens(instructions or "") + sum(
        count_tokens(e.text) + count_tokens(e.name or "") for e in transcript
    )
    settings = settings_of(project)
    if settings.queue:
        turn = settings.queue.pop(0)
    else:
        turn = _scripted(instructions, transcript, functions, search)
    output_tokens = count_tokens(turn.text or "") + sum(
        count_tokens(c.name) + count_tokens(c.arguments) for c in turn.tool_calls
    )
    return Turn(
        text=turn.text,
        tool_calls=turn.tool_calls,
        error=turn.error,
        searches=turn.searches,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def _scripted(
    instructions: str | None,
    transcript: list[Entry],
    functions: set[str],
    search: Searcher | None,
) -> Turn:
    tag = instructions_tag(instructions)
    last_user = max((i for i, e in enumerate(transcript) if e.kind == "user"), default=-1)
    since_user = transcript[last_user + 1 :]
    outputs = [e for e in since_user if e.kind == "tool_output"]
    if outputs:
        # The calls were answered: report what the tools said, in call order.
        names = {e.call_id: e.name for e in since_user if e.kind == "tool_call"}
        shown = "; ".join(f"{names.get(e.call_id) or e.call_id} -> {e.text}" for e in outputs)
        return Turn(text=f"[{tag}] Tool results: {shown}")
    user_text = transcript[last_user].text if last_user >= 0 else ""
    lines = user_text.splitlines()
    for line in lines:
        if fail := _FAIL_LINE.match(line):
            return Turn(error=fail.group(1) or "The scripted model was told to fail.")
    for line in lines:
        if found := _SEARCH_LINE.match(line):
            return _searched(tag, found.group(1), search)
    calls: list[ToolCall] = []
    for line in lines:
        match = _CALL_LINE.match(line)
        if not match:
            continue
        name, raw = match.group(1), match.group(2) or "{}"
        if name not in functions:
            # Choice: a plain answer (the run completes), as a real model would explain itself.
            return Turn(text=f"[{tag}] I cannot call {name}: it is not one of my tools.")
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError:
            return Turn(text=f"[{tag}] I cannot call {name}: its arguments are not JSON.")
        calls.append(ToolCall(new_call_id(), name, json.dumps(arguments)))
    if calls:
        return Turn(tool_calls=tuple(calls))
    return Turn(text=f"[{tag}] You said: {user_text}")


def _searched(tag: str, query: str, search: Searcher | None) -> Turn:
    if search is None:
        return Turn(text=f"[{tag}] I cannot search: file_search is not one of my tools.")
    hits = tuple(search(query))
    done = (Search(query, hits),)
    if not hits:
        return Turn(text=f"[{tag}] Found nothing for '{query}'.", searches=done)
    shown = "; ".join(f"{h.filename}: {' '.join(h.text.split())[:_SNIPPET_CHARS]}" for h in hits)
    return Turn(text=f"[{tag}] Found for '{query}': {shown}", searches=done)
