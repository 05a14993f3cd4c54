"""Semantic patches against the sandbox's scripted model: accepted only when the rules hold."""

from __future__ import annotations

import pytest

from producers.errors import JobFailed
from sandbox.model import queue_outputs
from schemas.flows import Edit, PatchMode
from store import flows as flow_store
from tests.worker.flows.conftest import CANONICAL, PROMPT, FlowWorld
from tests.worker.openai.conftest import Answers, inject
from worker.flows.semantic import window_of

BY = "ops:maria"
EDIT = Edit(block_id="block_2", old_text="ortodontia ou implante", new_text="clínico geral")


async def prepared(world: FlowWorld) -> str:
    """Import the prompt; return the context the model will be shown for EDIT."""
    await world.ferry.flows.import_prompt(world.profile, world.assistant, PROMPT, requested_by=BY)
    flow = await flow_store.require(world.db, world.profile, world.assistant)
    window = window_of(CANONICAL, flow.mapping[2])
    return CANONICAL[window.context_start : window.context_end]


async def semantic_patch(world: FlowWorld, answer: str) -> object:
    queue_outputs(world.sandbox.project, [answer])
    return await world.ferry.flows.patch(
        world.profile,
        world.assistant,
        [EDIT],
        mode=PatchMode.semantic,
        requested_by=BY,
        timeout=20,
    )


async def test_a_rewrite_inside_the_window_is_accepted_and_remapped(flow_world: FlowWorld) -> None:
    context = await prepared(flow_world)
    old_line = 'Para marcar: "Qual especialidade: ortodontia ou implante?"\r\n'
    new_line = 'Para agendar: "Qual é a especialidade? Temos clínico geral."\r\n'
    result = await semantic_patch(flow_world, context.replace(old_line, new_line))
    flow = await flow_store.require(flow_world.db, flow_world.profile, flow_world.assistant)
    assert flow.canonical == CANONICAL.replace(old_line, new_line)
    texts = [flow.canonical[s.prompt_start : s.prompt_end] for s in flow.mapping]
    assert texts == [
        "Olá! Eu sou a Sofia. Como posso ajudar?",
        "AGUARDE a resposta do paciente.",
        "Qual é a especialidade? Temos clínico geral.",
        "CHAME tool agendar_consulta com o horário.",
        "Até breve!",
        "ENCERRAR",
    ]
    assert result.version == 2 and result.mode is PatchMode.semantic
    assert result.changed_blocks == ["block_2"]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (
            lambda c: c.replace("AGUARDE a resposta do paciente.", "AGUARDE o paciente."),
            "the model changed text before the window",
        ),
        (
            lambda c: c.replace('"Até breve!"', '"Até logo!"'),
            "the model changed text after the window",
        ),
        (
            lambda c: c.replace('"Qual especialidade: ortodontia ou implante?"', "qual?"),
            "the window held 1 block(s) (block_2 texto) and the rewrite holds 0",
        ),
        (lambda c: c, "the model changed nothing in the window"),
    ],
)
async def test_a_rewrite_that_breaks_a_rule_is_refused_and_changes_nothing(
    flow_world: FlowWorld, spoil: object, reason: str
) -> None:
    context = await prepared(flow_world)
    with pytest.raises(JobFailed) as failed:
        await semantic_patch(flow_world, spoil(context))  # type: ignore[operator]
    assert failed.value.error.detail["code"] == "semantic_rejected"
    assert reason in failed.value.error.message
    flow = await flow_store.require(flow_world.db, flow_world.profile, flow_world.assistant)
    assert (flow.version, flow.canonical) == (1, CANONICAL)


async def test_semantic_mode_checks_the_edit_like_exact_mode(flow_world: FlowWorld) -> None:
    await prepared(flow_world)
    with pytest.raises(JobFailed) as failed:
        await flow_world.ferry.flows.patch(
            flow_world.profile,
            flow_world.assistant,
            [Edit(block_id="block_2", old_text="nada disso", new_text="x")],
            mode=PatchMode.semantic,
            requested_by=BY,
        )
    assert failed.value.error.detail["loc"] == "payload.edits[0].old_text"


async def test_the_model_call_goes_through_the_call_layer_and_outlives_a_5xx(
    flow_world: FlowWorld,
) -> None:
    """A server error on the rewrite is retried by the call layer, not a failed patch."""
    context = await prepared(flow_world)
    old_line = 'Para marcar: "Qual especialidade: ortodontia ou implante?"\r\n'
    new_line = 'Para marcar: "Qual especialidade: clínico geral?"\r\n'
    inject(flow_world.sandbox, kind="error", status=503, path="/v1/responses", count=1)
    answers = Answers(flow_world.sandbox, "POST", "/v1/responses")
    result = await semantic_patch(flow_world, context.replace(old_line, new_line))
    assert result.version == 2
    assert answers.since() == {503: 1, 200: 1}
