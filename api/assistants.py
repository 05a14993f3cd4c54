"""`/assistants`: seed 002's registry endpoints, on the registry the CLI and workers share."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response, status

from api.auth import need
from api.errors import ApiError
from api.models import (
    Assistant,
    AssistantList,
    AssistantPatch,
    AssistantWrite,
    History,
    ImportBody,
    ImportResult,
    Version,
)
from api.registry_edits import entry_or_404, expected_version, spec_refused, write
from api.state import ApiState, api_state
from schemas.assistants import AssistantSpec, SpecError, parse_spec
from schemas.registry_snapshot import RegistrySnapshot, read_import
from store import registry, registry_writes
from store.api_tokens import Scope
from store.registry import RegistryEntry

router = APIRouter(prefix="/assistants", tags=["assistants"])
State = Annotated[ApiState, Depends(api_state)]
Profile = Annotated[str, Query(min_length=1, description="The connection profile.")]
IfMatch = Annotated[str | None, Header(description="The version the change is based on.")]
reading = [Depends(need(Scope.read))]
writing = [Depends(need(Scope.registry_write))]


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


async def _write_at(
    state: ApiState,
    entry: RegistryEntry,
    spec: AssistantSpec,
    if_match: str | None,
    response: Response,
) -> AssistantWrite:
    """Write `spec` over `entry`, at the version `If-Match` names (if any)."""
    result = await write(state, entry.profile, spec, version=expected_version(if_match))
    _etag(response, result.entry.version)
    return AssistantWrite.of(result)


@router.get("", dependencies=reading)
async def list_assistants(state: State, profile: str | None = None) -> AssistantList:
    """Every assistant (of one profile, or of all)."""
    entries = await registry.list_entries(state.ferry.db, profile)
    return AssistantList(data=[Assistant.of(entry) for entry in entries])


@router.post("", dependencies=writing, status_code=status.HTTP_201_CREATED)
async def create_assistant(
    spec: AssistantSpec, state: State, response: Response, profile: Profile = "default"
) -> AssistantWrite:
    """Create an assistant; 409 if the profile already has one of that name."""
    if await registry.get(state.ferry.db, profile, spec.name) is not None:
        raise ApiError(
            409, "conflict", f"profile {profile!r} already has {spec.name!r}: PUT or PATCH it"
        )
    result = await write(state, profile, spec)
    _etag(response, result.entry.version)
    return AssistantWrite.of(result)


@router.get("/export", dependencies=reading)
async def export_snapshot(state: State, profile: Profile = "default") -> RegistrySnapshot:
    """A versioned snapshot of one profile's assistants (what `ferry assistants export` writes)."""
    entries = await registry.list_entries(state.ferry.db, profile)
    return RegistrySnapshot.of(profile, [entry.spec for entry in entries])


@router.post("/import", dependencies=writing)
async def import_snapshot(
    body: ImportBody, state: State, profile: str | None = None
) -> ImportResult:
    """Import a snapshot or a raw Assistants-API dump: all of it, or nothing."""
    try:
        batch = read_import(body.root)
    except SpecError as error:
        raise spec_refused(error, "the import is invalid") from None
    target = profile or batch.profile
    if target is None:
        raise spec_refused(SpecError([("profile", "a raw Assistants-API dump needs ?profile=")]))
    try:
        results = await registry_writes.write_many(
            state.ferry.db,
            state.ferry.redis,
            state.keys,
            target,
            batch.specs,
            labels=batch.labels,
        )
    except SpecError as error:
        raise spec_refused(error, "the import is invalid") from None
    return ImportResult(
        profile=target,
        imported=len(results),
        changed=sum(result.changed for result in results),
        results=[AssistantWrite.of(result) for result in results],
    )


@router.get("/{assistant_id}", dependencies=reading, response_model=Assistant)
async def get_assistant(assistant_id: UUID, state: State) -> Response:
    """One assistant, with its version as the ETag."""
    entry = await entry_or_404(state, assistant_id)
    # Serialised directly: the hot read skips FastAPI's re-validation of what it just built.
    return Response(
        Assistant.of(entry).model_dump_json(),
        media_type="application/json",
        headers={"ETag": f'"{entry.version}"'},
    )


@router.put("/{assistant_id}", dependencies=writing)
async def replace_assistant(
    assistant_id: UUID,
    spec: AssistantSpec,
    state: State,
    response: Response,
    if_match: IfMatch = None,
) -> AssistantWrite:
    """Replace the whole spec; with `If-Match`, only if the assistant is still at that version."""
    entry = await entry_or_404(state, assistant_id)
    if spec.name != entry.name:
        raise spec_refused(
            SpecError([("name", f"is {entry.name!r}; renaming is not supported over HTTP")])
        )
    return await _write_at(state, entry, spec, if_match, response)


@router.patch("/{assistant_id}", dependencies=writing)
async def patch_assistant(
    assistant_id: UUID,
    patch: AssistantPatch,
    state: State,
    response: Response,
    if_match: IfMatch = None,
) -> AssistantWrite:
    """Change the fields given and keep the rest."""
    entry = await entry_or_404(state, assistant_id)
    data = entry.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.update(patch.model_dump(mode="json", by_alias=True, include=patch.model_fields_set))
    try:
        spec = parse_spec(data)
    except SpecError as error:
        raise spec_refused(error) from None
    return await _write_at(state, entry, spec, if_match, response)


@router.delete("/{assistant_id}", dependencies=writing, status_code=status.HTTP_204_NO_CONTENT)
async def delete_assistant(assistant_id: UUID, state: State) -> None:
    """Delete an assistant; 409 while another assistant calls it as a sub-assistant."""
    entry = await entry_or_404(state, assistant_id)
    try:
        await registry_writes.delete(
            state.ferry.db, state.ferry.redis, state.keys, entry.profile, entry.name
        )
    except registry.RegistryError as error:
        raise ApiError(409, "conflict", str(error)) from None


@router.get("/{assistant_id}/history", dependencies=reading)
async def assistant_history(assistant_id: UUID, state: State) -> History:
    """The assistant's versions, newest first, each with what changed."""
    await entry_or_404(state, assistant_id)
    versions = await registry.history(state.ferry.db, assistant_id)
    return History(data=[Version.of(version) for version in versions])
