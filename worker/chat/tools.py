"""Executors for the function calls a model makes in a chat turn.

A call goes, by tool name, to a sub-assistant of the registry spec (a nested turn on another
assistant, up to a depth limit), to a Python callable named by dotted path in
`CHAT_PYTHON_TOOLS`, or to an HTTP tool in `CHAT_HTTP_TOOLS` (the arguments POSTed as JSON,
the body is the output). Whatever goes wrong (no executor, an exception, a timeout, an HTTP
error, output that is not text, output too long) becomes an output the model reads; a tool
never crashes the turn.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from schemas.assistant_parts import SubAssistantTool
from schemas.assistants import AssistantSpec
from schemas.chat import ToolCallRecord
from worker.settings import Settings

# A nested turn on `assistant` asked `request`, at `depth`; answers the sub-assistant's text.
SubTurn = Callable[[str, str, int], Awaitable[str]]


class ToolError(Exception):
    """A tool failed in a way the model should be told about."""


def truncated(output: str, limit: int) -> str:
    """`output`, cut to `limit` characters with a note saying so when it is longer."""
    if len(output) <= limit:
        return output
    return (
        output[:limit]
        + f"\n[Ferry cut this tool output: {len(output)} characters, only the first {limit} "
        "are shown]"
    )


def load_callable(path: str) -> Callable[..., Any]:
    """The function at `pkg.module.function` (or `pkg.module:function`)."""
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    if not module_name:
        raise ToolError(f"{path!r} is not a dotted path (pkg.module.function)")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ToolError(f"cannot load {path!r}: {error}") from None
    if not callable(target):
        raise ToolError(f"{path!r} is not callable")
    return target


class ToolBox:
    """The executors of one turn: the spec's sub-assistants plus the configured tools."""

    def __init__(
        self, settings: Settings, spec: AssistantSpec, *, depth: int, sub_turn: SubTurn
    ) -> None:
        self._settings, self._depth, self._sub_turn = settings, depth, sub_turn
        self._subs = {t.name: t.assistant for t in spec.tools if isinstance(t, SubAssistantTool)}

    async def run(self, call_id: str, name: str, arguments: str) -> ToolCallRecord:
        """Run one call; its output (or what went wrong) is what the model will read."""
        started = time.monotonic()
        ok = True
        try:
            async with asyncio.timeout(self._timeout_for(name)):
                output = await self._execute(name, _arguments(arguments))
        except TimeoutError:
            ok, output = (
                False,
                f"error: tool {name!r} timed out after {self._timeout_for(name):g} s",
            )
        except ToolError as error:
            ok, output = False, f"error: {error}"
        except Exception as error:
            ok, output = False, f"error: tool {name!r} failed: {type(error).__name__}: {error}"
        return ToolCallRecord(
            call_id=call_id,
            name=name,
            arguments=arguments,
            output=truncated(output, self._settings.chat_tool_output_max_chars),
            ok=ok,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
        )

    def _timeout_for(self, name: str) -> float:
        # A nested turn has its own deadline; a plain tool gets the tool timeout.
        if name in self._subs:
            return self._settings.chat_tool_timeout_s * 6
        return self._settings.chat_tool_timeout_s

    async def _execute(self, name: str, arguments: dict[str, Any]) -> str:
        if name in self._subs:
            if self._depth >= self._settings.chat_max_depth:
                raise ToolError(
                    f"sub-assistant {self._subs[name]!r} not called: sub-assistants may nest "
                    f"{self._settings.chat_max_depth} deep (CHAT_MAX_DEPTH)"
                )
            request = arguments.get("request")
            if not isinstance(request, str):
                request = json.dumps(arguments, ensure_ascii=False)
            return await self._sub_turn(self._subs[name], request, self._depth + 1)
        if name in self._settings.chat_python_tools:
            function = load_callable(self._settings.chat_python_tools[name])
            if inspect.iscoroutinefunction(function):
                result = await function(**arguments)
            else:
                result = await asyncio.to_thread(function, **arguments)
            return _as_text(result)
        if name in self._settings.chat_http_tools:
            return await _post(self._settings.chat_http_tools[name], arguments, name)
        raise ToolError(
            f"no executor for tool {name!r}: configure it in CHAT_PYTHON_TOOLS or "
            "CHAT_HTTP_TOOLS, or make it a sub_assistant tool"
        )


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        raise ToolError(f"the arguments are not JSON ({error}): {raw[:200]!r}") from None
    if not isinstance(value, dict):
        raise ToolError(f"the arguments are not a JSON object: {raw[:200]!r}")
    return value


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return f"(not JSON, shown as text) {result!r}"


async def _post(url: str, arguments: dict[str, Any], name: str) -> str:
    async with httpx.AsyncClient() as client:
        answer = await client.post(url, json=arguments)
    if answer.status_code >= 400:
        raise ToolError(f"tool {name!r} answered HTTP {answer.status_code}: {answer.text[:500]}")
    return answer.text
