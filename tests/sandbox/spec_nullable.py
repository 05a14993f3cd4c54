"""`assert_matches` that also honours OpenAPI 3.0's `nullable: true`.

The spec still marks many Assistants-era fields (`RunObject.started_at`, `last_error`, …) with
`nullable: true` instead of a `null` type; JSON Schema 2020-12 ignores that keyword, so a
spec-exact run object with `"started_at": null` fails plain validation. This keeps every
other check of tests/sandbox/openapi.py and forgives only `null` where the spec says nullable.
(Uses two of openapi.py's private helpers; drop this module once openapi.py handles nullable.)
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from tests.sandbox import openapi


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    openapi.schema(name)  # a clear KeyError for a typo
    root = {"$ref": f"{openapi.SPEC_URI}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(root, registry=openapi._registry())


def _forgiven(error: jsonschema.ValidationError) -> bool:
    return (
        error.instance is None and error.validator == "type" and bool(error.schema.get("nullable"))
    )


def assert_matches(schema_name: str, body: Any, *, strict: bool = False) -> None:
    """Like `openapi.assert_matches`, with `nullable: true` fields allowed to be null."""
    problems = [
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}"
        for e in _validator(schema_name).iter_errors(body)
        if not _forgiven(e)
    ]
    if strict and isinstance(body, dict):
        declared = openapi._declared_properties(openapi.schema(schema_name))
        problems += [f"{key}: not declared by {schema_name}" for key in body if key not in declared]
    if problems:
        raise AssertionError(
            f"body does not match {schema_name}:\n  " + "\n  ".join(problems) + f"\nbody: {body!r}"
        )
