"""Publishing: labels move; production makes globals + canonical the assistant's instructions."""

from __future__ import annotations

import pytest

from producers.errors import JobFailed
from schemas.flows import Edit
from schemas.keys import RedisKeys
from store import flows as flow_store
from store import registry
from tests.worker.flows.conftest import PROMPT, FlowWorld
from worker.registry import ConfigCache

BY = "ops:maria"


async def test_responses_style_publishes_through_the_registry_and_workers_see_it(
    flow_world: FlowWorld, key_prefix: str
) -> None:
    ops, p, a = flow_world.ferry.flows, flow_world.profile, flow_world.assistant
    cache = ConfigCache(flow_world.ferry.redis, flow_world.db, RedisKeys(key_prefix))
    await cache.start()
    try:
        assert (await cache.get(p, a)).spec.instructions == "old prompt"
        await ops.import_prompt(p, a, PROMPT, requested_by=BY)
        first = await ops.publish(p, a, requested_by=BY)
        assert (first.version, first.previous_version, first.api_style) == (1, None, "responses")
        assert first.instructions_written and first.unchanged_prefix_chars == 0
        # Imported and composed back, the prompt is the one given, byte for byte.
        assert (await registry.get(flow_world.db, p, a)).spec.instructions == PROMPT
        edit = Edit(block_id="block_4", old_text="Até breve!", new_text="Tchau!")
        patched = await ops.patch(p, a, [edit], publish_label="production", requested_by=BY)
        assert patched.published is not None and patched.published.previous_version == 1
        final = PROMPT.replace("Até breve!", "Tchau!")
        assert patched.published.unchanged_prefix_chars == PROMPT.index("Até breve!")
        # The cache heard the write: the next read serves the new prompt.
        assert (await cache.get(p, a)).spec.instructions == final
        # Rolling back moves the label; history stays.
        back = await ops.publish(p, a, 1, requested_by=BY)
        assert (back.version, back.previous_version) == (1, 2)
        assert (await cache.get(p, a)).spec.instructions == PROMPT
        history = await ops.history(p, a)
        assert [(v.version, v.labels) for v in history] == [(2, []), (1, ["production"])]
    finally:
        await cache.aclose()


async def test_another_label_only_points(flow_world: FlowWorld) -> None:
    ops, p, a = flow_world.ferry.flows, flow_world.profile, flow_world.assistant
    await ops.import_prompt(p, a, PROMPT, requested_by=BY)
    staged = await ops.publish(p, a, label="staging", requested_by=BY)
    assert (staged.label, staged.instructions_written, staged.api_style) == ("staging", False, None)
    assert (await registry.get(flow_world.db, p, a)).spec.instructions == "old prompt"
    view = await ops.show(p, a)
    assert view.labels == {"staging": 1}


async def test_publishing_a_missing_version_is_refused(flow_world: FlowWorld) -> None:
    ops, p, a = flow_world.ferry.flows, flow_world.profile, flow_world.assistant
    await ops.import_prompt(p, a, PROMPT, requested_by=BY)
    with pytest.raises(JobFailed, match="has no version 5: its versions are 1-1"):
        await ops.publish(p, a, 5, requested_by=BY)
    flow = await flow_store.require(flow_world.db, p, a)
    assert await flow_store.labels(flow_world.db, flow.id) == {}


@pytest.mark.parametrize("api_style", ["assistants"])
async def test_assistants_style_updates_the_remote_assistant_through_the_port(
    flow_world: FlowWorld,
) -> None:
    ops, p, a = flow_world.ferry.flows, flow_world.profile, flow_world.assistant
    client = flow_world.sandbox.client()
    remote = await client.beta.assistants.create(model="gpt-4o", name=a, instructions="old")
    await ops.import_prompt(p, a, PROMPT, requested_by=BY)
    with pytest.raises(JobFailed, match="has no remote assistant"):
        await ops.publish(p, a, requested_by=BY)
    await registry.set_remote_id(flow_world.db, p, a, remote.id)
    published = await ops.publish(p, a, requested_by=BY)
    assert (published.api_style, published.instructions_written) == ("assistants", True)
    assert (await client.beta.assistants.retrieve(remote.id)).instructions == PROMPT
    assert (await registry.get(flow_world.db, p, a)).spec.instructions == PROMPT
