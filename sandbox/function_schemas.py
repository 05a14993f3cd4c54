"""Strict mode for function tools: the subset of JSON Schema OpenAI accepts with `strict: true`,
and its 400 "Invalid schema for function 'f': …" for a schema outside it.

The rules checked (OpenAI's structured-outputs guide): the root is an object; every object
sets `additionalProperties: false` and lists every property in `required`; every schema has
a known `type` (or is an `anyOf` / `$ref` / `enum` / `const`). Definitions under `$defs` /
`definitions` are checked the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sandbox.errors import APIError

TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_TYPELESS_OK = ("anyOf", "$ref", "enum", "const")


def violations(schema: Any) -> Iterator[str]:
    """Why `schema` breaks strict mode, first reason first (nothing when it is fine)."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        got = schema.get("type") if isinstance(schema, dict) else None
        yield f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
        return
    yield from _walk(schema, ())


def _walk(schema: Any, context: tuple[str, ...]) -> Iterator[str]:
    where = f"In context={context!r}, "
    if not isinstance(schema, dict):
        yield f"{where}schema must be an object."
        return
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for name in kinds:
        if name not in TYPES:
            yield f"{where}{name!r} is not valid under any of the given schemas."
            return
    if not kinds and not any(key in schema for key in _TYPELESS_OK):
        yield f"{where}schema must have a 'type' key."
        return
    if "object" in kinds:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            yield f"{where}'additionalProperties' is required to be supplied and to be false."
            return
        required = schema.get("required") or []
        missing = [name for name in properties if name not in required]
        if missing:
            yield (
                f"{where}'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0]}'."
            )
            return
        for name, sub in properties.items():
            yield from _walk(sub, (*context, "properties", name))
    if "array" in kinds and "items" in schema:
        yield from _walk(schema["items"], (*context, "items"))
    for i, option in enumerate(schema.get("anyOf") or []):
        yield from _walk(option, (*context, "anyOf", str(i)))
    for defs in ("$defs", "definitions"):
        for name, sub in (schema.get(defs) or {}).items():
            yield from _walk(sub, (*context, defs, name))


def is_compatible(schema: Any) -> bool:
    """Whether strict mode accepts `schema` (Responses' default for an omitted `strict`)."""
    return next(violations(schema), None) is None


def require_strict(name: str, schema: Any, *, param: str) -> None:
    """OpenAI's 400 for a `strict: true` function whose parameters break strict mode."""
    reason = next(violations(schema), None)
    if reason is not None:
        raise APIError(
            400,
            f"Invalid schema for function '{name}': {reason}",
            param=param,
            code="invalid_function_parameters",
        )
