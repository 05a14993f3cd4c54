"""Responses-style items (messages, function calls, their outputs), shared by conversations
and responses: checked from requests, stored with ids, read back as model transcripts."""

from __future__ import annotations

from typing import Any

from sandbox.bodies import invalid_type, invalid_value
from sandbox.errors import bad_request, missing_parameter
from sandbox.model import Entry, ToolCall
from sandbox.state import new_id

_ROLES = ("user", "assistant", "system", "developer")
_INPUT_PARTS = ("input_text", "input_image", "input_file", "output_text", "refusal")
# which content parts each role may carry (an assistant's are outputs, everyone else's inputs)
_ASSISTANT_PARTS = ("output_text", "refusal")
_OTHER_PARTS = ("input_text", "input_image", "input_file")


def input_items(value: Any, *, param: str = "input") -> list[dict[str, Any]]:
    """`input` (a string or a list of items) as stored items, each with an id and a status."""
    if isinstance(value, str):
        return [message("user", [{"type": "input_text", "text": value}])]
    if not isinstance(value, list):
        raise invalid_type(param, "a string or an array of input items", value)
    return [_item(item, f"{param}[{i}]") for i, item in enumerate(value)]


def _item(item: Any, param: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid_type(param, "an object", item)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise invalid_value(
                role, "'assistant', 'system', 'developer', and 'user'", param=f"{param}.role"
            )
        return message(role, _parts(role, item.get("content"), f"{param}.content"))
    if kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise missing_parameter(f"{param}.{name}")
        return function_call(ToolCall(item["call_id"], item["name"], item["arguments"]))
    if kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise missing_parameter(f"{param}.call_id")
        output = item.get("output")
        if not isinstance(output, str | list):
            raise invalid_type(f"{param}.output", "a string", output)
        return {
            "type": "function_call_output",
            "id": new_id("fco_"),
            "call_id": item["call_id"],
            "output": output,
            "status": "completed",
        }
    if kind == "file_search_call":
        # An earlier output replayed as input: kept as it was, for the transcript to skip.
        return {"status": "completed", "queries": [], "results": None, **item, "id": new_id("fs_")}
    raise bad_request(
        f"Invalid value: '{kind}'. The sandbox supports input items of type 'message', "
        "'function_call', 'function_call_output' and 'file_search_call'.",
        param=f"{param}.type",
        code="invalid_value",
    )


def _parts(role: str, content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if role == "assistant":
            return [output_text(content)]
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise invalid_type(param, "a string or an array of content parts", content)
    parts = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _INPUT_PARTS:
            raise invalid_value(
                kind,
                "'input_text', 'input_image', 'input_file', 'output_text' and 'refusal'",
                param=f"{param}[{i}].type",
            )
        if role == "assistant" and kind not in _ASSISTANT_PARTS:
            raise invalid_value(kind, "'output_text' and 'refusal'", param=f"{param}[{i}]")
        if role != "assistant" and kind not in _OTHER_PARTS:
            raise invalid_value(
                kind, "'input_text', 'input_image', and 'input_file'", param=f"{param}[{i}]"
            )
        parts.append(output_text(part.get("text", "")) if kind == "output_text" else dict(part))
    return parts


def output_text(text: str) -> dict[str, Any]:
    """An `output_text` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message(role: str, content: list[dict[str, Any]], *, status: str = "completed") -> dict:
    """A message item."""
    return {
        "type": "message",
        "id": new_id("msg_"),
        "status": status,
        "role": role,
        "content": content,
    }


def function_call(call: ToolCall, *, status: str = "completed") -> dict[str, Any]:
    """A function_call item for one call of the model."""
    return {
        "type": "function_call",
        "id": new_id("fc_"),
        "call_id": call.call_id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


def text_of(item: dict[str, Any]) -> str:
    """The text parts of a message item, joined by newlines."""
    return "\n".join(
        p.get("text", "")
        for p in item.get("content", [])
        if p.get("type") in ("input_text", "output_text")
    )


def transcript(items: list[dict[str, Any]]) -> list[Entry]:
    """Items as the scripted model reads them (system and developer messages are skipped)."""
    entries = []
    for item in items:
        if item["type"] == "message" and item["role"] in ("user", "assistant"):
            entries.append(Entry(item["role"], text_of(item)))
        elif item["type"] == "function_call":
            entries.append(
                Entry("tool_call", item["arguments"], call_id=item["call_id"], name=item["name"])
            )
        elif item["type"] == "function_call_output":
            output = item["output"] if isinstance(item["output"], str) else str(item["output"])
            entries.append(Entry("tool_output", output, call_id=item["call_id"]))
    return entries


def check_calls_answered(context: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """OpenAI's 400s for outputs without calls and for calls left without outputs."""
    calls = {i["call_id"] for i in context + new if i["type"] == "function_call"}
    outputs = {i["call_id"] for i in context + new if i["type"] == "function_call_output"}
    for item in new:
        if item["type"] == "function_call_output" and item["call_id"] not in calls:
            raise bad_request(
                f"No tool call found for function call output with call_id {item['call_id']}.",
                param="input",
            )
    for item in context:
        if item["type"] == "function_call" and item["call_id"] not in outputs:
            raise bad_request(
                f"No tool output found for function call {item['call_id']}.", param="input"
            )
