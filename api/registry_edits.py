"""Registry writes made over HTTP: the CLI's store functions, plus versions and cycle checks.

Each write is the registry's own (validated, all or nothing) and is announced to the
workers' caches after it commits, exactly as `ferry assistants apply` does.
"""

from __future__ import annotations

from typing import Any

from api.errors import ApiError, invalid, not_found
from api.state import ApiState
from schemas.assistants import AssistantSpec, SpecError, parse_spec
from schemas.results import FieldError
from store import registry, registry_writes
from store.registry import RegistryEntry, StaleVersion, WriteResult


def spec_refused(error: SpecError, message: str = "the assistant is invalid") -> ApiError:
    return invalid([FieldError(loc=path, message=text) for path, text in error.problems], message)


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header names (`"3"`, `W/"3"` or `3`); None without one."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise invalid(
            [FieldError(loc="If-Match", message="expected the version, as the ETag gives it")]
        )
    return int(text)


async def entry_or_404(state: ApiState, assistant_id: Any) -> RegistryEntry:
    entry = await registry.get_by_id(state.ferry.db, assistant_id)
    if entry is None:
        raise not_found(f"assistant {assistant_id}")
    return entry


async def check_cycles(state: ApiState, profile: str, spec: AssistantSpec) -> None:
    """Refuse a spec whose sub-assistant calls would come back to it through the registry."""
    if not spec.sub_assistant_names():
        return
    calls = {
        entry.name: set(entry.spec.sub_assistant_names())
        for entry in await registry.list_entries(state.ferry.db, profile)
    }
    calls[spec.name] = set(spec.sub_assistant_names())
    path: list[str] = []

    def reaches_back(name: str) -> bool:
        for callee in sorted(calls.get(name, set()) - {name}):
            if callee == spec.name:
                return True
            if callee not in path:
                path.append(callee)
                if reaches_back(callee):
                    return True
        return False

    if reaches_back(spec.name):
        chain = " → ".join([spec.name, *path, spec.name])
        raise spec_refused(
            SpecError([("tools", f"a cycle of sub-assistant calls: {chain}")]),
        )


async def write(
    state: ApiState, profile: str, spec: AssistantSpec, *, version: int | None = None
) -> WriteResult:
    """Create or update one assistant (at `version`, if given), then announce it."""
    await check_cycles(state, profile, spec)
    try:
        result = await registry.upsert(state.ferry.db, profile, spec, expected_version=version)
    except StaleVersion as error:
        raise ApiError(412, "precondition_failed", str(error)) from None
    except SpecError as error:
        raise spec_refused(error) from None
    except registry.RegistryError as error:
        raise ApiError(409, "conflict", str(error)) from None
    if result.changed:
        await registry_writes.announce(
            state.ferry.redis, state.keys, profile, spec.name, result.entry.version
        )
    return result


def with_tools(entry: RegistryEntry, tools: list[dict[str, Any]]) -> AssistantSpec:
    """The entry's spec with other tools, validated as any spec."""
    data = entry.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        return parse_spec({**data, "tools": tools})
    except SpecError as error:
        raise spec_refused(error) from None


def tool_dicts(spec: AssistantSpec) -> list[dict[str, Any]]:
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in spec.tools]
