"""`/flows`: a flow's blocks and final prompt, its history, a diff and a restore over HTTP."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from api.auth import COOKIE
from api.console_flows import form_key
from schemas.flows import Edit
from store.api_tokens import Scope
from tests.api.conftest import RunningApi
from tests.worker.flows.conftest import ASSISTANT, CANONICAL, GLOBALS, PROFILE, PROMPT, FlowWorld

FLOW = f"/flows/{PROFILE}/{quote(ASSISTANT)}"


async def _imported_and_patched(world: FlowWorld) -> None:
    await world.ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="test")
    view = await world.ferry.flows.show(PROFILE, ASSISTANT)
    greeting = view.mapping[0].block_id
    await world.ferry.flows.patch(
        PROFILE,
        ASSISTANT,
        [Edit(block_id=greeting, old_text="Como posso ajudar?", new_text="Em que posso ajudar?")],
        requested_by="test",
    )


async def test_a_flow_reads_as_its_blocks_in_order_and_its_final_prompt(
    api: RunningApi, flow_world: FlowWorld
) -> None:
    await flow_world.ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="test")
    async with await api.client(Scope.read) as http:
        response = await http.get(FLOW)
    assert response.status_code == 200
    flow = response.json()
    assert (flow["version"], flow["head_version"], flow["labels"]) == (1, 1, {})
    assert flow["globals"] == GLOBALS
    assert flow["canonical"] == CANONICAL
    assert flow["final_prompt"] == PROMPT
    assert [(b["type"], b["text"]) for b in flow["blocks"]] == [
        ("primeira_mensagem", "Olá! Eu sou a Sofia. Como posso ajudar?"),
        ("aguardar", "AGUARDE a resposta do paciente."),
        ("texto", "Qual especialidade: ortodontia ou implante?"),
        ("tool", "CHAME tool agendar_consulta com o horário."),
        ("texto", "Até breve!"),
        ("encerrar", "ENCERRAR"),
    ]
    for block in flow["blocks"]:
        assert CANONICAL[block["prompt_start"] : block["prompt_end"]] == block["text"]
    assert flow["blocks"][3]["tool_name"] == "agendar_consulta"


async def test_history_diff_and_restore(api: RunningApi, flow_world: FlowWorld) -> None:
    await _imported_and_patched(flow_world)
    async with await api.client(Scope.read, Scope.jobs_write) as http:
        history = (await http.get(f"{FLOW}/versions")).json()["data"]
        assert [(v["version"], v["kind"], v["base_version"]) for v in history] == [
            (2, "patch", 1),
            (1, "import", None),
        ]
        diff = (await http.get(f"{FLOW}/diff", params={"old": 1, "new": 2})).json()
        changed = [line for line in diff["diff"].split("\n") if line.startswith(("+", "-"))]
        assert changed == [
            "--- v1",
            "+++ v2",
            '-"Olá! Eu sou a Sofia. Como posso ajudar?"\r',
            '+"Olá! Eu sou a Sofia. Em que posso ajudar?"\r',
        ]
        old = (await http.get(FLOW, params={"version": 1})).json()
        assert (old["version"], old["head_version"]) == (1, 2)

        stale = await http.post(f"{FLOW}/restore", json={"version": 1, "base_version": 1})
        assert stale.status_code == 409
        assert stale.json()["error"]["message"] == (
            "the flow is at version 2, not 1: read it again"
        )
        restored = await http.post(f"{FLOW}/restore", json={"version": 1, "base_version": 2})
        assert restored.status_code == 201
        assert restored.json() == {"version": 3, "restored": 1}
        head = (await http.get(FLOW)).json()
        assert (head["version"], head["final_prompt"]) == (3, PROMPT)
        history = (await http.get(f"{FLOW}/versions")).json()["data"]
        assert [(v["version"], v["kind"], v["requested_by"]) for v in history] == [
            (3, "restore", "api:test"),
            (2, "patch", "test"),
            (1, "import", "test"),
        ]


async def test_flow_refusals(api: RunningApi, flow_world: FlowWorld) -> None:
    async with await api.client(Scope.read) as reader:
        missing = await reader.get(FLOW)
        assert missing.status_code == 404
        assert "has no flow: import its prompt first" in missing.json()["error"]["message"]
        await flow_world.ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="t")
        no_version = await reader.get(FLOW, params={"version": 7})
        assert no_version.status_code == 404
        assert no_version.json()["error"]["message"] == (
            f"{ASSISTANT!r} has no version 7: its versions are 1-1"
        )
        refused = await reader.post(f"{FLOW}/restore", json={"version": 1})
        assert refused.status_code == 403
    async with await api.client(Scope.jobs_write) as writer:
        bad = await writer.post(f"{FLOW}/restore", json={"version": 0})
        assert bad.status_code == 422
        assert bad.json()["error"]["fields"][0]["loc"] == "version"
    async with await api.client() as anonymous:
        assert (await anonymous.get(FLOW)).status_code == 401


async def test_the_consoles_flow_forms_need_the_form_key_and_jobs_write(
    api: RunningApi, flow_world: FlowWorld
) -> None:
    """A form posted from elsewhere (no key) changes nothing, nor does a read-only token."""
    await flow_world.ferry.flows.import_prompt(PROFILE, ASSISTANT, PROMPT, requested_by="t")
    form = {"version": "1", "base_version": "1"}
    restore = f"/console/flows/{PROFILE}/{quote(ASSISTANT, safe='')}/restore"
    writer, reader = await api.token(Scope.read, Scope.jobs_write), await api.token(Scope.read)
    async with httpx.AsyncClient(base_url=api.base_url, cookies={COOKIE: writer}) as http:
        forged = await http.post(restore, data={**form, "key": "0" * 64})
        assert forged.status_code == 403
        assert forged.json()["error"]["message"] == (
            "the form is not from this console: reload the page"
        )
    async with httpx.AsyncClient(base_url=api.base_url, cookies={COOKIE: reader}) as http:
        refused = await http.post(restore, data={**form, "key": form_key(reader)})
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == (
            "changing a flow needs a token with scope 'jobs:write'"
        )
    assert (await flow_world.ferry.flows.show(PROFILE, ASSISTANT)).version == 1
