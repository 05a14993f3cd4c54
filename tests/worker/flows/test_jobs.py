"""The flow jobs through the queue: import, exact patches, retries, rebase and conflicts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from producers.errors import JobFailed
from schemas.flows import Edit, PatchPrompt
from store import flows as flow_store
from tests.worker.flows.conftest import CANONICAL, GLOBALS, PROMPT, FlowWorld
from worker.blobs import PostgresBlobStore
from worker.flows.jobs import run_patch
from worker.kinds import JobContext
from worker.openai.clients import OpenAIClients
from worker.settings import Settings

BY = "ops:maria"


async def imported(world: FlowWorld) -> None:
    result = await world.ferry.flows.import_prompt(
        world.profile, world.assistant, PROMPT, requested_by=BY, timeout=20
    )
    assert (result.version, result.created, result.globals_sections) == (1, True, ["IDENTIDADE"])


def farewell_patch(world: FlowWorld) -> PatchPrompt:
    """Version 1's goodbye becomes "Tchau!"."""
    return PatchPrompt(
        profile=world.profile,
        assistant=world.assistant,
        base_version=1,
        edits=[Edit(block_id="block_4", old_text="Até breve!", new_text="Tchau!")],
        requested_by=BY,
    )


async def head(world: FlowWorld) -> flow_store.Flow:
    return await flow_store.require(world.db, world.profile, world.assistant)


async def test_import_keeps_the_prompt_exactly_and_maps_its_blocks(flow_world: FlowWorld) -> None:
    await imported(flow_world)
    flow = await head(flow_world)
    assert (flow.globals, flow.canonical, flow.version) == (GLOBALS, CANONICAL, 1)
    assert [CANONICAL[s.prompt_start : s.prompt_end] for s in flow.mapping] == [
        "Olá! Eu sou a Sofia. Como posso ajudar?",
        "AGUARDE a resposta do paciente.",
        "Qual especialidade: ortodontia ou implante?",
        "CHAME tool agendar_consulta com o horário.",
        "Até breve!",
        "ENCERRAR",
    ]
    [version] = await flow_store.history(flow_world.db, flow.id)
    assert (version.kind, version.requested_by, version.blocks) == ("import", BY, 6)


async def test_an_exact_patch_changes_only_its_span_and_says_what_it_did(
    flow_world: FlowWorld,
) -> None:
    await imported(flow_world)
    edit = Edit(block_id="block_2", old_text="ortodontia", new_text="ortodontia, clínico geral")
    result = await flow_world.ferry.flows.patch(
        flow_world.profile, flow_world.assistant, [edit], requested_by=BY, timeout=20
    )
    expected = CANONICAL.replace("ortodontia", "ortodontia, clínico geral")
    flow = await head(flow_world)
    assert (flow.canonical, flow.version, result.version) == (expected, 2, 2)
    assert result.changed_blocks == ["block_2"] and result.rebased_onto is None
    assert result.mapping == flow.mapping
    assert '-Para marcar: "Qual especialidade: ortodontia ou implante?"\r\n' in result.diff
    assert '+Para marcar: "Qual especialidade: ortodontia, clínico geral ou implante?"\r\n' in (
        result.diff
    )
    # The final prompt's start is untouched up to the edit: that much stays prompt-cached.
    assert result.unchanged_prefix_chars == len(GLOBALS) + CANONICAL.index("ortodontia") + len(
        "ortodontia"
    )
    assert result.final_chars == len(GLOBALS) + len(expected)
    version = await flow_store.require_version(flow_world.db, flow, 2)
    assert version.patch["edits"] == [edit.model_dump(mode="json")]
    assert version.requested_by == BY and version.base_version == 1


async def test_a_retried_patch_is_one_job_and_applies_once(flow_world: FlowWorld) -> None:
    await imported(flow_world)
    job = farewell_patch(flow_world)
    first = await (await flow_world.ferry.enqueue(job)).result(timeout=20)
    again = await flow_world.ferry.enqueue(job.model_copy())
    assert again.job_id == job.job_id() and (await again.result(timeout=20)) == first
    flow = await head(flow_world)
    assert flow.version == 2 and flow.canonical.count("Tchau!") == 1
    # A different patch on the same base version is its own job.
    other = job.model_copy(
        update={"edits": [Edit(block_id="block_0", old_text="Olá!", new_text="Oi!")]}
    )
    assert other.job_id() != job.job_id()


async def test_a_stale_patch_rebases_when_its_blocks_are_untouched_and_conflicts_otherwise(
    flow_world: FlowWorld,
) -> None:
    await imported(flow_world)
    ops = flow_world.ferry.flows
    p, a = flow_world.profile, flow_world.assistant
    await ops.patch(
        p, a, [Edit(block_id="block_0", old_text="Olá!", new_text="Oi!")], requested_by=BY
    )
    rebased = await ops.patch(
        p,
        a,
        [Edit(block_id="block_5", old_text="ENCERRAR", new_text="ENCERRAR educadamente")],
        base_version=1,
        requested_by=BY,
    )
    assert (rebased.version, rebased.rebased_onto, rebased.base_version) == (3, 2, 1)
    flow = await head(flow_world)
    assert flow.canonical == CANONICAL.replace("Olá!", "Oi!").replace(
        "ENCERRAR", "ENCERRAR educadamente"
    )
    with pytest.raises(JobFailed) as conflict:
        await ops.patch(
            p,
            a,
            [Edit(block_id="block_0", old_text="Como posso", new_text="Em que posso")],
            base_version=1,
            requested_by=BY,
        )
    assert conflict.value.error.detail["code"] == "conflict"
    assert conflict.value.error.detail["current_version"] == 3
    assert "version 2 changed block_0" in str(conflict.value)
    assert "the flow is at version 3" in str(conflict.value)
    assert (await head(flow_world)).version == 3


@pytest.mark.parametrize(
    ("edits", "index", "loc", "words"),
    [
        ([Edit(block_id="block_9", old_text="x", new_text="y")], 0, "block_id", "unknown block"),
        (
            [
                Edit(block_id="block_4", old_text="Até", new_text="Tchau"),
                Edit(block_id="block_1", old_text="Olá", new_text="Oi"),
            ],
            1,
            "old_text",
            "it occurs at offset",
        ),
        (
            [
                Edit(block_id="block_0", old_text="Eu sou a", new_text="Sou a"),
                Edit(block_id="block_0", old_text="a Sofia", new_text="Sofia"),
            ],
            1,
            "old_text",
            "overlaps edit 0",
        ),
    ],
)
async def test_bad_edits_fail_naming_the_edit_and_change_nothing(
    flow_world: FlowWorld, edits: list[Edit], index: int, loc: str, words: str
) -> None:
    await imported(flow_world)
    with pytest.raises(JobFailed) as failed:
        await flow_world.ferry.flows.patch(
            flow_world.profile, flow_world.assistant, edits, requested_by=BY, timeout=20
        )
    detail = failed.value.error.detail
    assert (detail["code"], detail["edit_index"]) == ("invalid_edit", index)
    assert detail["loc"] == f"payload.edits[{index}].{loc}"
    assert words in failed.value.error.message and "nothing changed" in failed.value.error.message
    flow = await head(flow_world)
    assert (flow.version, flow.canonical) == (1, CANONICAL)


async def test_a_base_version_from_the_future_is_refused(flow_world: FlowWorld) -> None:
    await imported(flow_world)
    with pytest.raises(JobFailed, match="base_version 7 does not exist"):
        await flow_world.ferry.flows.patch(
            flow_world.profile,
            flow_world.assistant,
            [Edit(block_id="block_0", old_text="Olá", new_text="Oi")],
            base_version=7,
            requested_by=BY,
        )


async def test_bad_imports_are_refused_and_change_nothing(flow_world: FlowWorld) -> None:
    ops, p, a = flow_world.ferry.flows, flow_world.profile, flow_world.assistant
    # Refused by the producer before anything is queued, naming the field.
    with pytest.raises(ValidationError) as empty:
        await ops.import_prompt(p, a, " \r\n ", requested_by=BY)
    assert [e["loc"] for e in empty.value.errors()] == [("prompt",)]
    assert "the prompt is empty" in str(empty.value)
    with pytest.raises(JobFailed, match="the prompt has no blocks"):
        await ops.import_prompt(p, a, '# IDENTIDADE\nSó globais, "nada" mais.\n', requested_by=BY)
    with pytest.raises(JobFailed, match="no assistant 'ghost'"):
        await ops.import_prompt(p, "ghost", PROMPT, requested_by=BY)
    assert await flow_store.get(flow_world.db, p, a) is None


async def test_reimporting_makes_a_new_version_and_restore_brings_an_old_one_back(
    flow_world: FlowWorld,
) -> None:
    await imported(flow_world)
    ops, p, a = flow_world.ferry.flows, flow_world.profile, flow_world.assistant
    second = await ops.import_prompt(p, a, '# FLUXO\n"Oi"\nENCERRAR\n', requested_by=BY)
    assert (second.version, second.created, len(second.mapping)) == (2, False, 2)
    assert await ops.restore(p, a, 1, requested_by="ops:joao") == 3
    flow = await head(flow_world)
    assert (flow.canonical, flow.globals) == (CANONICAL, GLOBALS)
    kinds = [(v.version, v.kind, v.requested_by) for v in await ops.history(p, a)]
    assert kinds == [(3, "restore", "ops:joao"), (2, "import", BY), (1, "import", BY)]
    assert await ops.diff(p, a, 1, 3) == ""
    assert '+"Oi"\n' in await ops.diff(p, a, 1, 2)


async def test_a_job_run_again_after_its_commit_finds_its_version_and_applies_nothing(
    flow_world: FlowWorld, settings: Settings
) -> None:
    """A worker that died between the commit and the outcome: the next attempt finds its work."""
    await imported(flow_world)
    job = farewell_patch(flow_world)
    first = await (await flow_world.ferry.enqueue(job)).result(timeout=20)
    ctx = JobContext(
        job_id=job.job_id(),
        kind=job.kind,
        attempt=2,
        settings=settings,
        db=flow_world.db,
        redis=flow_world.ferry.redis,
        keys=flow_world.ferry.keys,
        openai=OpenAIClients(settings, flow_world.ferry.redis, flow_world.ferry.keys),
        configs=None,  # type: ignore[arg-type] - a patch never reads configs
        blobs=PostgresBlobStore(flow_world.db),
    )
    again = await run_patch(ctx, job)
    assert again == first and again.version == 2
    flow = await head(flow_world)
    assert flow.version == 2 and flow.canonical.count("Tchau!") == 1
