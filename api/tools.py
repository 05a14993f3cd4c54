"""`/tools` and `/assistants/{id}/tools`: seed 002's standalone tools and their links.

A library tool is linked by copying its definition into the assistant's spec (workers read
only specs); changing a library tool rewrites every assistant that links it, in one
transaction, announced to the workers' caches.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from api.auth import need
from api.errors import ApiError, not_found
from api.models import (
    AssistantTool,
    AssistantToolList,
    AssistantWrite,
    LibraryToolList,
    LibraryToolOut,
)
from api.registry_edits import (
    entry_or_404,
    expected_version,
    spec_refused,
    tool_dicts,
    with_tools,
    write,
)
from api.state import ApiState, api_state
from schemas.assistant_parts import Tool
from schemas.assistants import SpecError
from store import registry, registry_writes, tool_library
from store.api_tokens import Scope
from store.tool_library import LibraryTool, ToolNameTaken

router = APIRouter(tags=["tools"])
State = Annotated[ApiState, Depends(api_state)]
Definition = Annotated[Tool, Body(description="A tool as in an assistant spec.")]
reading = [Depends(need(Scope.read))]
writing = [Depends(need(Scope.registry_write))]


def _plain(tool: Any) -> dict[str, Any]:
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


async def _tool_or_404(state: ApiState, tool_id: UUID) -> LibraryTool:
    found = await tool_library.get(state.ferry.db, tool_id)
    if found is None:
        raise not_found(f"tool {tool_id}")
    return found


@router.get("/tools", dependencies=reading)
async def list_tools(state: State, profile: str | None = None) -> LibraryToolList:
    tools = await tool_library.list_tools(state.ferry.db, profile)
    return LibraryToolList(data=[LibraryToolOut.of(tool) for tool in tools])


@router.post("/tools", dependencies=writing, status_code=status.HTTP_201_CREATED)
async def create_tool(
    definition: Definition,
    state: State,
    profile: Annotated[str, Query(min_length=1)] = "default",
) -> LibraryToolOut:
    """Add a tool to the profile's library (409 if the name is taken)."""
    try:
        created = await tool_library.create(
            state.ferry.db, profile, definition.name, _plain(definition)
        )
    except ToolNameTaken as error:
        raise ApiError(409, "conflict", str(error)) from None
    return LibraryToolOut.of(created)


@router.get("/tools/{tool_id}", dependencies=reading)
async def get_tool(tool_id: UUID, state: State, response: Response) -> LibraryToolOut:
    found = await _tool_or_404(state, tool_id)
    response.headers["ETag"] = f'"{found.version}"'
    return LibraryToolOut.of(found)


@router.put("/tools/{tool_id}", dependencies=writing)
async def replace_tool(
    tool_id: UUID,
    definition: Definition,
    state: State,
    if_match: Annotated[str | None, Header()] = None,
) -> LibraryToolOut:
    """Replace a library tool and rewrite every assistant that links it (all or nothing)."""
    found = await _tool_or_404(state, tool_id)
    wanted = expected_version(if_match)
    if wanted is not None and wanted != found.version:
        raise ApiError(412, "precondition_failed", f"the tool is at version {found.version}")
    new = _plain(definition)
    specs = []
    for assistant_id in found.linked:
        entry = await registry.get_by_id(state.ferry.db, assistant_id)
        if entry is None:
            continue
        tools = [t for t in tool_dicts(entry.spec) if t.get("name", t["type"]) != found.name]
        position = next(
            (i for i, t in enumerate(entry.spec.tools) if t.name == found.name), len(tools)
        )
        specs.append(with_tools(entry, [*tools[:position], new, *tools[position:]]))
    if specs:
        try:
            await registry_writes.write_many(
                state.ferry.db, state.ferry.redis, state.keys, found.profile, specs
            )
        except SpecError as error:
            raise spec_refused(error) from None
    try:
        replaced = await tool_library.replace(state.ferry.db, tool_id, definition.name, new)
    except ToolNameTaken as error:
        raise ApiError(409, "conflict", str(error)) from None
    if replaced is None:
        raise not_found(f"tool {tool_id}")
    return LibraryToolOut.of(replaced)


@router.delete("/tools/{tool_id}", dependencies=writing, status_code=status.HTTP_204_NO_CONTENT)
async def delete_tool(tool_id: UUID, state: State) -> None:
    """Delete a library tool; 409 while an assistant links it."""
    found = await _tool_or_404(state, tool_id)
    if found.linked:
        names = []
        for assistant_id in found.linked:
            entry = await registry.get_by_id(state.ferry.db, assistant_id)
            names.append(entry.name if entry else str(assistant_id))
        raise ApiError(
            409, "conflict", f"{found.name!r} is linked to {', '.join(names)}: unlink it first"
        )
    await tool_library.delete(state.ferry.db, tool_id)


@router.get("/assistants/{assistant_id}/tools", dependencies=reading)
async def assistant_tools(assistant_id: UUID, state: State) -> AssistantToolList:
    """The assistant's tools in order, each with the library tool it came from."""
    entry = await entry_or_404(state, assistant_id)
    linked = {t.name: t.id for t in await tool_library.linked_to(state.ferry.db, assistant_id)}
    return AssistantToolList(
        data=[
            AssistantTool(definition=tool, library_tool_id=linked.get(tool.name))
            for tool in entry.spec.tools
        ]
    )


@router.post("/assistants/{assistant_id}/tools/{tool_id}", dependencies=writing)
async def link_tool(assistant_id: UUID, tool_id: UUID, state: State) -> AssistantWrite:
    """Give the assistant the library tool (replacing a tool of the same name)."""
    entry = await entry_or_404(state, assistant_id)
    found = await _tool_or_404(state, tool_id)
    if found.profile != entry.profile:
        raise ApiError(
            409,
            "conflict",
            f"the tool is of profile {found.profile!r}, the assistant of {entry.profile!r}",
        )
    tools = tool_dicts(entry.spec)
    names = [tool.name for tool in entry.spec.tools]
    if found.name in names:
        tools[names.index(found.name)] = found.definition
    else:
        tools.append(found.definition)
    result = await write(state, entry.profile, with_tools(entry, tools))
    await tool_library.link(state.ferry.db, tool_id, assistant_id)
    return AssistantWrite.of(result)


@router.delete("/assistants/{assistant_id}/tools/{tool_id}", dependencies=writing)
async def unlink_tool(assistant_id: UUID, tool_id: UUID, state: State) -> AssistantWrite:
    """Take the library tool off the assistant."""
    entry = await entry_or_404(state, assistant_id)
    found = await _tool_or_404(state, tool_id)
    if assistant_id not in found.linked:
        raise not_found(f"link from assistant {assistant_id} to tool {tool_id}")
    tools = [tool for tool in entry.spec.tools if tool.name != found.name]
    result = await write(state, entry.profile, with_tools(entry, [_plain(t) for t in tools]))
    await tool_library.unlink(state.ferry.db, tool_id, assistant_id)
    return AssistantWrite.of(result)
