"""The destination's definition of a cloned assistant, before and after its knowledge exists.

A plan keeps the source's ids of vector stores and files in the definition; apply swaps them
for the destination's once those are copied (the mapping tables know them).
"""

from __future__ import annotations

from typing import Any

from schemas.assistants import METADATA_MAX_KEYS, AssistantSpec, parse_spec
from schemas.clone import CLONED_FROM_KEY, CloneOptions
from store import clone_state
from store.registry import Database
from worker.backends.port import RemoteAssistant

NAME_MAX_CHARS = 256


def destination_spec(source: RemoteAssistant, options: CloneOptions) -> tuple[AssistantSpec, bool]:
    """The source's definition as the destination gets it, and whether it carries the tag.

    The name gains the prefix, the model is mapped, and `metadata.cloned_from` names the
    source unless the source already uses all 16 keys (then the mapping table alone links
    them). Knowledge not asked for is left out.
    """
    data: dict[str, Any] = source.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["name"] = (options.name_prefix + source.spec.name)[:NAME_MAX_CHARS]
    data["model"] = options.model_map.get(source.spec.model, source.spec.model)
    metadata = dict(data.get("metadata") or {})
    tagged = CLONED_FROM_KEY in metadata or len(metadata) < METADATA_MAX_KEYS
    if tagged:
        metadata[CLONED_FROM_KEY] = source.id
    data["metadata"] = metadata
    resources = dict(data.get("tool_resources") or {})
    if not options.include_file_search:
        resources.pop("file_search", None)
    if not options.include_code_interpreter:
        resources.pop("code_interpreter", None)
    data["tool_resources"] = resources or None
    return parse_spec(data), tagged


def resource_ids(spec: AssistantSpec) -> tuple[list[str], list[str]]:
    """The vector store ids and code-interpreter file ids a definition names."""
    resources = spec.tool_resources
    if resources is None:
        return [], []
    stores = list(resources.file_search.vector_store_ids) if resources.file_search else []
    files = list(resources.code_interpreter.file_ids) if resources.code_interpreter else []
    return stores, files


def swap_resources(
    spec: AssistantSpec, stores: dict[str, str], files: dict[str, str]
) -> AssistantSpec:
    """The definition with source ids replaced by the destination's (all must be known)."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    resources = data.get("tool_resources") or {}
    if "file_search" in resources:
        resources["file_search"]["vector_store_ids"] = [
            stores[i] for i in resources["file_search"]["vector_store_ids"]
        ]
    if "code_interpreter" in resources:
        resources["code_interpreter"]["file_ids"] = [
            files[i] for i in resources["code_interpreter"]["file_ids"]
        ]
    return parse_spec(data)


async def with_destination_resources(
    db: Database, destination: str, spec: AssistantSpec
) -> AssistantSpec | None:
    """`spec` pointing at the destination's copies; None while any is not copied yet."""
    store_ids, file_ids = resource_ids(spec)
    stores: dict[str, str] = {}
    for store_id in store_ids:
        copied = await clone_state.copied_vector_store(db, destination, store_id)
        if copied is None:
            return None
        stores[store_id] = copied
    files: dict[str, str] = {}
    for file_id in file_ids:
        copy = await clone_state.copied_file(db, destination, file_id)
        if copy is None:
            return None
        files[file_id] = copy.destination_file_id
    return swap_resources(spec, stores, files)


def covers(wanted: Any, found: Any) -> bool:
    """True when `found` has everything `wanted` sets (None in `wanted`: the server's default).

    A server fills defaults in (v2 answers `temperature: 1.0`, a file_search tool's ranking
    options): those are not differences, or every clone would look changed.
    """
    if wanted is None:
        return True
    if isinstance(wanted, dict):
        return isinstance(found, dict) and all(
            covers(value, found.get(key)) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(found, list)
            and len(wanted) == len(found)
            and all(covers(w, f) for w, f in zip(wanted, found, strict=True))
        )
    return bool(wanted == found)
