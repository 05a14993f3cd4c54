"""The responses adapter: registry-held definitions, knowledge checked against the project."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from arq.connections import ArqRedis

from schemas.assistants import AssistantSpec, SpecError, parse_spec
from schemas.keys import RedisKeys
from store import registry
from tests.conftest import SandboxProject
from tests.schemas.test_assistants import FULL
from worker.backends.assistants_v2 import AssistantsV2Backend
from worker.backends.factory import backend_for
from worker.backends.responses import ResponsesBackend
from worker.registry import ConfigCache
from worker.settings import ApiStyle, Profile


def backend(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> ResponsesBackend:
    return ResponsesBackend("dst", sandbox_project.client(), db, redis, RedisKeys(key_prefix))


async def test_create_update_delete_through_the_registry(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    port = backend(sandbox_project, db, redis, key_prefix)
    store = await sandbox_project.client().vector_stores.create(name="kb")
    spec = parse_spec(
        {
            "name": "helper",
            "model": "gpt-4o",
            "tools": [{"type": "file_search"}],
            "tool_resources": {"file_search": {"vector_store_ids": [store.id]}},
            "metadata": {"cloned_from": "asst_old"},
        }
    )
    created = await port.create(spec)
    assert created.spec == spec
    assert str((await registry.get(db, "dst", "helper")).id) == created.id
    # a worker reading through the cache sees every write the port makes
    cache = ConfigCache(redis, db, RedisKeys(key_prefix))
    await cache.start()
    try:
        assert (await cache.get("dst", "helper")).version == 1
        await port.update(created.id, spec.model_copy(update={"instructions": "Use the KB."}))
        assert (await cache.get("dst", "helper")).spec.instructions == "Use the KB."
    finally:
        await cache.aclose()
    assert [a.id for a in await port.find_by_metadata("cloned_from", "asst_old")] == [created.id]
    renamed = await port.update(created.id, spec.model_copy(update={"name": "helper2"}))
    assert renamed.id == created.id and [a.spec.name for a in await port.list_all()] == ["helper2"]
    assert await port.delete(created.id) is True
    assert await port.get(created.id) is None and await port.list_all() == []


async def test_knowledge_missing_from_the_project_is_refused_and_nothing_is_written(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    port = backend(sandbox_project, db, redis, key_prefix)
    spec = parse_spec(
        {
            "name": "helper",
            "model": "m",
            "tool_resources": {
                "file_search": {"vector_store_ids": ["vs_missing"]},
                "code_interpreter": {"file_ids": ["file-missing"]},
            },
        }
    )
    with pytest.raises(SpecError) as caught:
        await port.create(spec)
    assert [path for path, _ in caught.value.problems] == [
        "tool_resources.file_search.vector_store_ids[0]",
        "tool_resources.code_interpreter.file_ids[0]",
    ]
    assert await registry.list_entries(db) == []
    await port.create(AssistantSpec(name="helper", model="m"))
    with pytest.raises(SpecError, match="already has an assistant 'helper'"):
        await port.create(AssistantSpec(name="helper", model="m"))


async def test_the_port_moves_assistants_across_styles_exactly(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    client = sandbox_project.client()
    keys = RedisKeys(key_prefix)
    profile = Profile(name="src", api_key="sk-test-0000000000000000", api_style=ApiStyle.assistants)
    source = backend_for(profile, client, db=db, redis=redis, keys=keys)
    target = backend_for(
        profile.model_copy(update={"name": "dst", "api_style": ApiStyle.responses}),
        client,
        db=db,
        redis=redis,
        keys=keys,
    )
    assert isinstance(source, AssistantsV2Backend) and isinstance(target, ResponsesBackend)
    await source.create(parse_spec({"name": "analyst", "model": "m", "temperature": 0.5}))
    for remote in await source.list_all():
        await target.create(remote.spec)
    assert [a.spec for a in await target.list_all()] == [a.spec for a in await source.list_all()]


async def test_a_registry_definition_runs_as_responses_parameters(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    client = sandbox_project.client()
    store = await client.vector_stores.create(name="kb")
    upload = await client.files.create(
        file=("rates.csv", b"pair,rate\nEURUSD,1.08\n"), purpose="assistants"
    )
    port = backend(sandbox_project, db, redis, key_prefix)
    await port.create(AssistantSpec(name="analyst", model="m"))
    spec = parse_spec(
        {
            **FULL,
            "tool_resources": {
                "file_search": {"vector_store_ids": [store.id]},
                "code_interpreter": {"file_ids": [upload.id]},
            },
        }
    )
    created = await port.create(spec)
    response = await client.responses.create(**created.spec.to_responses_params(), input="EURUSD?")
    assert response.status == "completed"
    assert response.instructions == spec.instructions
    by_type = {tool.type: tool for tool in response.tools}
    assert by_type["file_search"].vector_store_ids == [store.id]
    assert [t.name for t in response.tools if t.type == "function"] == ["get_price", "ask_analyst"]
    assert response.text.format.type == "json_schema" and response.text.format.name == "quote"


async def test_two_concurrent_creates_of_one_name_one_succeeds(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    port = backend(sandbox_project, db, redis, key_prefix)
    specs = [parse_spec({"name": "twin", "model": m}) for m in ("gpt-4o", "gpt-4o-mini")]
    results = await asyncio.gather(*(port.create(s) for s in specs), return_exceptions=True)
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, SpecError)]
    assert len(created) == 1 and len(refused) == 1
    assert refused[0].problems == [("name", "profile 'dst' already has an assistant 'twin'")]
    assert [a.spec.model for a in await port.list_all()] == [created[0].spec.model]


async def test_an_update_that_fails_leaves_the_old_name(
    sandbox_project: SandboxProject, db: asyncpg.Pool, redis: ArqRedis, key_prefix: str
) -> None:
    port = backend(sandbox_project, db, redis, key_prefix)
    first = await port.create(parse_spec({"name": "first", "model": "gpt-4o"}))
    # Calls a sub-assistant that does not exist: the write is refused after the rename ran.
    broken = parse_spec(
        {
            "name": "renamed",
            "model": "gpt-4o",
            "tools": [{"type": "sub_assistant", "name": "ask", "assistant": "nobody"}],
        }
    )
    with pytest.raises((SpecError, registry.RegistryError)):
        await port.update(first.id, broken)
    assert [a.spec.name for a in await port.list_all()] == ["first"]
