"""Reading and checking JSON request bodies, refusing bad ones with OpenAI's 400 wording."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from sandbox.errors import APIError, bad_request, missing_parameter

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


async def json_body(request: Request, *, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """The request's JSON object body (empty when there is none); unknown keys refused."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)"
        ) from None
    if not isinstance(body, dict):
        raise bad_request(
            f"Invalid type for request body: expected an object, but got {_kind(body)} instead.",
            code="invalid_type",
        )
    if allowed is not None:
        known = set(allowed)
        for name in body:
            if name not in known:
                raise bad_request(
                    f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
                )
    return body


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return _TYPE_NAMES.get(type(value), "a value")


def invalid_type(param: str, expected: str, value: Any) -> APIError:
    """OpenAI's 400 for a parameter of the wrong JSON type."""
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(value: Any, supported: str, *, param: str) -> APIError:
    """OpenAI's 400 for a value outside a fixed set (`supported` as OpenAI lists it)."""
    return bad_request(
        f"Invalid value: '{value}'. Supported values are: {supported}.",
        param=param,
        code="invalid_value",
    )


def required(body: dict[str, Any], name: str) -> Any:
    """The value of a required parameter, or OpenAI's 'Missing required parameter' 400."""
    if body.get(name) is None:
        raise missing_parameter(name)
    return body[name]


def optional_str(
    body: dict[str, Any], name: str, *, max_chars: int | None = None, prefix: str = ""
) -> str | None:
    """A string-or-null parameter, length-checked."""
    value = body.get(name)
    param = f"{prefix}{name}"
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if max_chars is not None and len(value) > max_chars:
        raise string_too_long(param, max_chars, len(value))
    return value


def optional_number(
    body: dict[str, Any], name: str, *, low: float, high: float, default: float | None
) -> float | None:
    """A number-or-null parameter within [low, high]."""
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(name, "a decimal", value)
    if value < low:
        raise bad_request(
            f"Invalid '{name}': decimal below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=name,
            code="decimal_below_min_value",
        )
    if value > high:
        raise bad_request(
            f"Invalid '{name}': decimal above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=name,
            code="decimal_above_max_value",
        )
    return float(value)


def string_too_long(param: str, limit: int, length: int) -> APIError:
    """OpenAI's 400 for a string beyond its maximum length."""
    return bad_request(
        f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
        f"but got a string with length {length} instead.",
        param=param,
        code="string_above_max_length",
    )


def array_too_long(param: str, limit: int, length: int) -> APIError:
    """OpenAI's 400 for an array beyond its maximum length."""
    return bad_request(
        f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
        f"but got an array with length {length} instead.",
        param=param,
        code="array_above_max_length",
    )


def metadata(body: dict[str, Any], name: str = "metadata") -> dict[str, str] | None:
    """The checked `metadata` map: ≤ 16 keys, keys ≤ 64 chars, string values ≤ 512 chars."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_type(name, "an object", value)
    if len(value) > METADATA_MAX_KEYS:
        raise bad_request(
            f"Invalid '{name}': too many properties. Expected an object with at most "
            f"{METADATA_MAX_KEYS} properties, but got an object with {len(value)} properties "
            "instead.",
            param=name,
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY_CHARS:
            raise bad_request(
                f"Invalid '{name}': key too long. Expected a key with maximum length "
                f"{METADATA_MAX_KEY_CHARS}, but got a key with length {len(key)} instead.",
                param=name,
                code="string_above_max_length",
            )
        if not isinstance(item, str):
            raise invalid_type(f"{name}.{key}", "a string", item)
        if len(item) > METADATA_MAX_VALUE_CHARS:
            raise string_too_long(f"{name}.{key}", METADATA_MAX_VALUE_CHARS, len(item))
    return dict(value)


async def update_metadata(request: Request, target: dict[str, Any]) -> JSONResponse:
    """Answer a modify request whose only field is `metadata` (messages, runs)."""
    body = await json_body(request, allowed=("metadata",))
    if "metadata" in body:
        target["metadata"] = metadata(body) or {}
    return JSONResponse(target)
