"""Seed 001's console pages in a browser: import a prompt, edit a block, see the diff, restore."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from sandbox.model import queue_outputs
from schemas.flows import Edit
from store import flows as flow_store
from store.api_tokens import Scope
from tests.api.browser import Browser
from tests.api.conftest import RunningApi, log_in
from tests.worker.flows.conftest import ASSISTANT, CANONICAL, PROFILE, PROMPT, FlowWorld
from worker.flows.semantic import window_of

pytestmark = pytest.mark.browser

EDITOR = f"/console/flows/{PROFILE}/{quote(ASSISTANT, safe='')}"
# What a person pastes (a browser sends a textarea's lines with CRLF; the importer keeps LF).
PASTED = PROMPT.replace("\r\n", "\n")
TEXTS = [
    ("primeira_mensagem", "Olá! Eu sou a Sofia. Como posso ajudar?"),
    ("aguardar", "AGUARDE a resposta do paciente."),
    ("texto", "Qual especialidade: ortodontia ou implante?"),
    ("tool (agendar_consulta)", "CHAME tool agendar_consulta com o horário."),
    ("texto", "Até breve!"),
    ("encerrar", "ENCERRAR"),
]


def expected_rows(canonical: str) -> list[list[str]]:
    """What the blocks table shows: number, type, text, span in the canonical prompt, line."""
    rows = []
    for number, (kind, text) in enumerate(TEXTS, 1):
        start = canonical.index(text)
        line = canonical[:start].count("\n") + 1
        rows.append([str(number), kind, text, f"{start}\N{EN DASH}{start + len(text)}", str(line)])
    return rows


BLOCKS = expected_rows(CANONICAL)


def block(row: int, part: str) -> str:
    return f"#blocks tbody tr:nth-child({row}) {part}"


async def edit_block(browser: Browser, row: int, new_text: str, old_text: str = "") -> None:
    """Open a block's edit form, type the change and send it."""
    await browser.click(block(row, "summary"))
    if old_text:
        await browser.paste(block(row, ".old-text"), old_text)
    await edit_block_sent(browser, row, new_text)


async def edit_block_sent(browser: Browser, row: int, new_text: str) -> None:
    """Type the new text of an open edit form and send it."""
    await browser.paste(block(row, ".new-text"), new_text)
    await browser.follow(block(row, ".patch"))


async def test_a_person_imports_a_prompt_and_sees_its_blocks_in_order(
    browser: Browser, api: RunningApi, flow_world: FlowWorld
) -> None:
    await log_in(browser, api, Scope.read, Scope.jobs_write)
    await browser.follow("#nav-import")
    assert browser.path == "/console/flows/import"
    await browser.choose("#assistant", f"{PROFILE} / {ASSISTANT}")
    await browser.paste("#prompt", PASTED)
    await browser.follow("#import")

    assert await browser.text("#imported-version") == "1"
    assert await browser.text("#globals-sections") == "IDENTIDADE"
    assert (
        await browser.text("#globals")
        == "# IDENTIDADE\nVocê é a Sofia 😊, da Clínica Sorriso Feliz."
    )
    assert [row[:5] for row in await browser.rows("#blocks")] == expected_rows(
        PASTED[PASTED.index("# FLUXO") :]
    )
    view = await flow_world.ferry.flows.show(PROFILE, ASSISTANT)
    assert (view.version, view.globals + view.canonical) == (1, PASTED)

    await browser.follow("#open-editor")
    assert browser.path == EDITOR
    assert [row[:3] for row in await browser.rows("#blocks")] == [row[:3] for row in BLOCKS]


async def test_a_read_only_token_sees_the_flow_but_no_forms(
    browser: Browser, api: RunningApi, flow_world: FlowWorld
) -> None:
    await flow_world.ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="t")
    await log_in(browser, api)
    await browser.open(EDITOR)
    assert [row[:5] for row in await browser.rows("#blocks")] == BLOCKS
    assert await browser.text("#read-only") == (
        "Your token may only read: editing needs scope jobs:write."
    )
    assert await browser.run(browser.driver.find_elements, "css selector", "form.patch-form") == []


async def test_a_person_edits_a_block_sees_the_diff_and_restores(
    browser: Browser, api: RunningApi, flow_world: FlowWorld
) -> None:
    ferry = flow_world.ferry
    await ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="script")
    await log_in(browser, api, Scope.read, Scope.jobs_write)
    await browser.open(EDITOR)
    assert await browser.text("#version") == "1"
    assert [row[:5] for row in await browser.rows("#blocks")] == BLOCKS
    assert await browser.text("#final-prompt") == PASTED.strip()

    await edit_block(browser, 1, "Olá! Eu sou a Sofia. Em que posso ajudar hoje?")
    assert await browser.text("#notice") == "Your edit made version 2."
    assert await browser.text("#version") == "2"
    diff = (await browser.text("#diff")).splitlines()
    assert [line for line in diff if line.startswith(("-", "+"))] == [
        "--- v1",
        "+++ v2",
        '-"Olá! Eu sou a Sofia. Como posso ajudar?"',
        '+"Olá! Eu sou a Sofia. Em que posso ajudar hoje?"',
    ]
    rows = await browser.rows("#blocks")
    assert rows[0][2] == "Olá! Eu sou a Sofia. Em que posso ajudar hoje?"
    assert rows[0][3] == "10\N{EN DASH}56"  # seven characters longer
    assert [row[:3] for row in rows[1:]] == [row[:3] for row in BLOCKS[1:]]
    final = await browser.text("#final-prompt")
    assert final == PASTED.strip().replace("Como posso ajudar?", "Em que posso ajudar hoje?")

    # old_text that is not in the block: nothing changes and the page says why
    await edit_block(browser, 2, "ESPERE.", old_text="AGUARDE o médico")
    assert await browser.text("#problem-title") == "The edit does not fit the block"
    assert await browser.text("#problem-message") == (
        "nothing changed: edits[0].old_text: not found in block_1, which reads "
        "'AGUARDE a resposta do paciente.'"
    )
    assert await browser.text("#version") == "2"

    # someone else edits the greeting while the page shows version 2: a conflict
    await browser.open(EDITOR)
    greeting = (await ferry.flows.show(PROFILE, ASSISTANT)).mapping[0].block_id
    await ferry.flows.patch(
        PROFILE,
        ASSISTANT,
        [Edit(block_id=greeting, old_text="hoje", new_text="agora")],
        requested_by="someone",
    )
    await edit_block(browser, 1, "Bom dia!", old_text="Olá!")
    assert await browser.text("#problem-title") == "This flow changed since you opened it"
    assert await browser.text("#problem-message") == (
        f"conflict: version 3 changed {greeting} after base version 2; the flow is at "
        "version 3: read it again and patch against version 3"
    )

    # history: restore version 1, which comes back as version 4
    await browser.open(EDITOR)
    history = await browser.rows("#history")
    assert [row[:4] for row in history] == [
        ["3", "patch", "2", "someone"],
        ["2", "patch", "1", "console:test"],
        ["1", "import", "—", "script"],
    ]
    await browser.follow("#history tr[data-version='1'] .restore")
    assert await browser.text("#notice") == "Restored: version 4 holds version 1's text."
    assert await browser.text("#version") == "4"
    assert await browser.text("#final-prompt") == PASTED.strip()
    assert [row[:5] for row in await browser.rows("#blocks")] == BLOCKS
    diff = (await browser.text("#diff")).splitlines()
    assert [line for line in diff if line.startswith(("-", "+"))] == [
        "--- v3",
        "+++ v4",
        '-"Olá! Eu sou a Sofia. Em que posso ajudar agora?"',
        '+"Olá! Eu sou a Sofia. Como posso ajudar?"',
    ]

    # a diff between any two versions, chosen on the page
    await browser.choose("#diff-old", "v2")
    await browser.choose("#diff-new", "v3")
    await browser.follow("#show-diff")
    diff = (await browser.text("#diff")).splitlines()
    assert [line for line in diff if line.startswith(("-", "+"))][2:] == [
        '-"Olá! Eu sou a Sofia. Em que posso ajudar hoje?"',
        '+"Olá! Eu sou a Sofia. Em que posso ajudar agora?"',
    ]

    # publish the head to production
    await browser.open(EDITOR)
    await browser.follow("#history tr[data-version='4'] .publish")
    assert await browser.text("#notice") == "Published version 4."
    assert await browser.text("#labels") == "production → v4"
    assert (await ferry.flows.show(PROFILE, ASSISTANT)).labels == {"production": 4}


async def test_a_semantic_edit_from_the_editor(
    browser: Browser, api: RunningApi, flow_world: FlowWorld
) -> None:
    await flow_world.ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="t")
    flow = await flow_store.require(flow_world.db, PROFILE, ASSISTANT)
    window = window_of(CANONICAL, flow.mapping[2])
    shown = CANONICAL[window.context_start : window.context_end]
    old_line = 'Para marcar: "Qual especialidade: ortodontia ou implante?"'
    new_line = 'Para agendar: "Qual é a especialidade? Temos clínico geral."'
    queue_outputs(flow_world.sandbox.project, [shown.replace(old_line, new_line)])

    await log_in(browser, api, Scope.read, Scope.jobs_write)
    await browser.open(EDITOR)
    await browser.click(block(3, "summary"))
    await browser.paste(block(3, ".old-text"), "ortodontia ou implante")
    await browser.choose(block(3, ".mode"), "semantic (a model rewrites around the block)")
    await browser.type(block(3, ".context"), "keep it short")
    await edit_block_sent(browser, 3, "clínico geral")
    assert await browser.text("#notice") == "Your edit made version 2."
    diff = (await browser.text("#diff")).splitlines()
    assert [line for line in diff if line.startswith(("-", "+"))][2:] == [
        f"-{old_line}",
        f"+{new_line}",
    ]
    assert (await browser.rows("#blocks"))[2][2] == "Qual é a especialidade? Temos clínico geral."
    history = await browser.rows("#history")
    assert history[0][:2] == ["2", "patch"]
