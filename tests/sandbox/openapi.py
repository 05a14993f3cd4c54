"""Validate JSON bodies against the component schemas of OpenAI's official OpenAPI spec.

Usage (stable API, shared by every sandbox test module)::

    from tests.sandbox.openapi import assert_matches
    assert_matches("OpenAIFile", body)

The spec (87k lines) is parsed once per process and cached; `$ref`s resolve over the
whole document with `referencing`, so nested schemas are checked as the spec writes them.
The spec lives in `shared/openai/openapi.yaml` beside the repository (override the path
with `FERRY_OPENAPI_SPEC`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openai:openapi"
_REPO = Path(__file__).resolve().parents[2]


def spec_path() -> Path:
    """Where the official spec is: `$FERRY_OPENAPI_SPEC`, else `../shared/openai/openapi.yaml`."""
    if env := os.environ.get("FERRY_OPENAPI_SPEC"):
        return Path(env)
    for candidate in (
        _REPO.parent / "shared" / "openai" / "openapi.yaml",
        _REPO / "shared" / "openai" / "openapi.yaml",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        "OpenAI's openapi.yaml not found beside the repository; set FERRY_OPENAPI_SPEC"
    )


@functools.cache
def spec() -> dict[str, Any]:
    """The parsed spec (once per process: the C loader takes about a second)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path().open("rb") as fh:
        return yaml.load(fh, Loader=loader)


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def schema(name: str) -> dict[str, Any]:
    """The raw component schema `name` (KeyError for a name the spec does not have)."""
    return spec()["components"]["schemas"][name]


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema(name)  # a clear KeyError for a typo, before a cryptic unresolvable $ref
    root = {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(root, registry=_registry())


def errors(schema_name: str, body: Any) -> list[str]:
    """Every way `body` breaks `schema_name`, as readable lines (empty when it matches)."""
    found = sorted(_validator(schema_name).iter_errors(body), key=lambda e: list(e.path))
    return [
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}"
        for e in found
        if not _nullable_null(e)
    ]


def _nullable_null(error: jsonschema.ValidationError) -> bool:
    # The spec still marks many Assistants-era fields (`RunObject.started_at`, `last_error`…)
    # with OpenAPI 3.0's `nullable: true`, a keyword JSON Schema 2020-12 does not know: a
    # null there is what the spec allows.
    return (
        error.instance is None and error.validator == "type" and bool(error.schema.get("nullable"))
    )


def assert_matches(schema_name: str, body: Any, *, strict: bool = False) -> None:
    """Fail unless `body` matches the spec's component schema `schema_name`.

    With `strict`, top-level properties the schema does not declare fail too (the spec
    itself allows extras, but a sandbox that invents fields would fool nobody but itself).
    """
    problems = errors(schema_name, body)
    if strict and isinstance(body, dict):
        declared = _declared_properties(schema(schema_name))
        problems += [f"{key}: not declared by {schema_name}" for key in body if key not in declared]
    if problems:
        raise AssertionError(
            f"body does not match {schema_name}:\n  " + "\n  ".join(problems) + f"\nbody: {body!r}"
        )


def _declared_properties(node: dict[str, Any]) -> set[str]:
    names = set(node.get("properties", {}))
    for combinator in ("allOf", "anyOf", "oneOf"):
        for part in node.get(combinator, []):
            if "$ref" in part:
                part = schema(part["$ref"].rsplit("/", 1)[-1])
            names |= _declared_properties(part)
    return names
