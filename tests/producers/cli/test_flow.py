"""`ferry flow`, run as a real subprocess, with a patch-queue worker running in the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import yaml
from arq.connections import ArqRedis

from schemas.assistants import parse_spec
from schemas.keys import Queue, RedisKeys
from store import flows as flow_store
from store import registry, registry_writes
from tests.conftest import SandboxProject
from tests.pipeline import running_worker
from tests.producers.cli.conftest import FerryCLI
from worker.flows.jobs import FLOW_HANDLERS
from worker.settings import Settings

# Each command is a fresh Python process (1-5 s on a loaded 2-core machine), and these tests
# run a dozen: the default 120 s per test is too tight for them.
pytestmark = pytest.mark.timeout(300)

PROMPT = """# IDENTIDADE
Você é a Sofia, da Clínica Sorriso Feliz.

# FLUXO
"Olá! Como posso ajudar?"
AGUARDE a resposta.
"Qual especialidade: ortodontia ou implante?"
CHAME tool agendar_consulta com o horário.
"Até breve!"
ENCERRAR
"""


@pytest.fixture
async def cli(
    ferry_cli: FerryCLI,
    db: asyncpg.Pool,
    redis: ArqRedis,
    key_prefix: str,
    settings: Settings,
    sandbox_project: SandboxProject,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[FerryCLI]:
    monkeypatch.setenv("OPENAI_DST_API_KEY", sandbox_project.api_key)
    monkeypatch.setenv("OPENAI_DST_BASE_URL", sandbox_project.base_url)
    spec = parse_spec({"name": "sofia", "model": "gpt-4o", "instructions": "old"})
    await registry_writes.write(db, redis, RedisKeys(key_prefix), "dst", spec)
    ferry_cli.env.update(FERRY_PROFILE="dst", FERRY_USER="ops:maria")
    async with running_worker(settings, Queue.patch, FLOW_HANDLERS):
        yield ferry_cli


async def test_import_show_patch_publish_history_diff_restore(
    cli: FerryCLI, db: asyncpg.Pool, tmp_path: Path
) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT, "utf-8")
    imported = await cli("flow", "import", "sofia", "-f", str(prompt_file))
    assert imported.code == 0, imported.out
    assert "flow created, version 1: 6 block(s), globals IDENTIDADE" in imported.out

    shown = await cli("flow", "show", "sofia")
    assert shown.code == 0, shown.out
    assert "canonical: |\n  # FLUXO\n" in shown.out  # a block scalar, editable by hand
    document = yaml.safe_load(shown.out)
    assert document["canonical"] == PROMPT[PROMPT.index("# FLUXO") :]
    assert document["blocks"][2] == {
        "id": "block_2",
        "type": "texto",
        "span": [55, 98],
        "line": 4,
        "text": "Qual especialidade: ortodontia ou implante?",
    }
    assert document["blocks"][3]["tool"] == "agendar_consulta"

    patched = await cli(
        "flow", "patch", "sofia", "block_4", "--old", "Até breve!", "--new", "Tchau!"
    )
    assert patched.code == 0, patched.out
    assert (
        "v1 → v2" in patched.out and '-"Até breve!"' in patched.out and '+"Tchau!"' in patched.out
    )
    assert "prompt cache: the first" in patched.out

    edits = tmp_path / "edits.yaml"
    edits.write_text(
        yaml.safe_dump(
            {
                "publish": "production",
                "edits": [
                    {"block_id": "block_0", "old_text": "Olá!", "new_text": "Oi!"},
                    {"block_id": "block_5", "old_text": "ENCERRAR", "new_text": "ENCERRAR já"},
                ],
            },
            allow_unicode=True,
        ),
        "utf-8",
    )
    from_file = await cli("flow", "patch", "sofia", "-f", str(edits))
    assert from_file.code == 0, from_file.out
    assert "v2 → v3" in from_file.out and "label production → v3" in from_file.out
    live = (await registry.get(db, "dst", "sofia")).spec.instructions
    assert live == PROMPT.replace("Até breve!", "Tchau!").replace("Olá!", "Oi!").replace(
        "ENCERRAR", "ENCERRAR já"
    )

    history = await cli("flow", "history", "sofia")
    assert history.code == 0 and "ops:maria" in history.out and "production" in history.out

    diff = await cli("flow", "diff", "sofia", "1", "3")
    assert (
        diff.code == 0
        and '+"Oi! Como posso ajudar?"' in diff.out
        and '-"Olá! Como posso ajudar?"' in diff.out
    )

    restored = await cli("flow", "restore", "sofia", "1")
    assert restored.code == 0 and "v4 restores v1" in restored.out
    published = await cli("flow", "publish", "sofia", "4")
    assert published.code == 0 and "label production → v4 (was v3)" in published.out
    assert (await registry.get(db, "dst", "sofia")).spec.instructions == PROMPT


BAD_PATCHES = [
    (["block_9", "--old", "x", "--new", "y"], "edits[0].block_id: unknown block 'block_9'"),
    (["block_0", "--old", "AGUARDE", "--new", "y"], "it occurs at offset 34, in block_1"),
    (["block_0", "--old", "x", "--new", "x"], "new_text equals old_text"),
    (["block_0", "--old", "Olá", "--new", "Oi", "--base", "9"], "base_version 9 does not exist"),
    (["block_0"], "say what to change"),
]


async def test_bad_patches_say_why_and_change_nothing(
    cli: FerryCLI, db: asyncpg.Pool, tmp_path: Path
) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT, "utf-8")
    assert (await cli("flow", "import", "sofia", "-f", str(prompt_file))).code == 0
    for args, words in BAD_PATCHES:
        refused = await cli("flow", "patch", "sofia", *args)
        assert refused.code == 1 and words in refused.out, (args, refused.out)
        assert "nothing was changed" in refused.out
    assert (await flow_store.require(db, "dst", "sofia")).version == 1


async def test_unknown_flows_and_empty_prompts_are_refused(cli: FerryCLI, tmp_path: Path) -> None:
    shown = await cli("flow", "show", "sofia")
    assert shown.code == 1 and "has no flow: import its prompt first" in shown.out
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", "utf-8")
    refused = await cli("flow", "import", "sofia", "-f", str(empty))
    assert refused.code == 1 and "prompt: Value error, the prompt is empty" in refused.out
