"""Exact patches: only the spans change, later spans shift, errors name the edit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.flows import BlockSpan, BlockType, Edit
from worker.flows.parser import parse_prompt
from worker.flows.patch import EditError, apply_exact, conflicting_version

PROMPT = (
    "# FLUXO\r\n"
    '"Olá! Eu sou a Sofia 😊. Como posso ajudar?"\r\n'
    "AGUARDE a resposta.\r\n"
    'Para marcar: "Qual especialidade? Ortodontia ou implante?"\r\n'
    "CHAME tool agendar_consulta com o horário.\r\n"
    '"Até breve! Até breve!"\r\n'
    "ENCERRAR\r\n"
)
PARSED = parse_prompt(PROMPT)
MAPPING = PARSED.blocks


def text_of(canonical: str, mapping: list[BlockSpan]) -> dict[str, str]:
    return {s.block_id: canonical[s.prompt_start : s.prompt_end] for s in mapping}


def test_only_the_span_changes_and_later_spans_shift_by_the_length_change() -> None:
    edit = Edit(
        block_id="block_2", old_text="Ortodontia", new_text="Ortodontia 🦷\r\nclínico geral"
    )
    outcome = apply_exact(PROMPT, MAPPING, [edit])
    start = PROMPT.index("Ortodontia")
    assert outcome.canonical == PROMPT[:start] + edit.new_text + PROMPT[start + len("Ortodontia") :]
    delta = len(edit.new_text) - len("Ortodontia")
    before = {s.block_id: s for s in MAPPING}
    for span in outcome.mapping:
        old = before[span.block_id]
        if span.block_id in ("block_0", "block_1"):
            assert span == old  # spans before the edit do not move
        elif span.block_id == "block_2":
            assert (span.prompt_start, span.prompt_end) == (
                old.prompt_start,
                old.prompt_end + delta,
            )
            assert span.line_number == old.line_number
        else:
            assert span.prompt_start == old.prompt_start + delta
            assert span.line_number == old.line_number + 1  # the edit added a line
    assert outcome.changed_blocks == ["block_2"] and outcome.deleted_blocks == []
    assert outcome.changes == [(start, start + len("Ortodontia"), len(edit.new_text))]
    # Every block still reads what it read, except the edited one.
    after = text_of(outcome.canonical, outcome.mapping)
    assert {k: v for k, v in after.items() if k != "block_2"} == {
        k: v for k, v in text_of(PROMPT, MAPPING).items() if k != "block_2"
    }


def test_several_edits_apply_together_in_any_order() -> None:
    edits = [
        Edit(block_id="block_5", old_text="ENCERRAR", new_text="ENCERRAR a conversa"),
        Edit(block_id="block_0", old_text="Sofia 😊", new_text="Sofia"),
    ]
    outcome = apply_exact(PROMPT, MAPPING, edits)
    expected = PROMPT.replace("Sofia 😊", "Sofia").replace("ENCERRAR", "ENCERRAR a conversa")
    assert outcome.canonical == expected
    assert text_of(outcome.canonical, outcome.mapping)["block_5"] == "ENCERRAR a conversa"
    assert sorted(outcome.changed_blocks) == ["block_0", "block_5"]


def test_a_block_deleted_entirely_is_reported_and_leaves_the_mapping() -> None:
    text = PROMPT[MAPPING[1].prompt_start : MAPPING[1].prompt_end]
    outcome = apply_exact(PROMPT, MAPPING, [Edit(block_id="block_1", old_text=text, new_text="")])
    assert outcome.deleted_blocks == ["block_1"]
    assert [s.block_id for s in outcome.mapping] == [
        "block_0",
        "block_2",
        "block_3",
        "block_4",
        "block_5",
    ]


def test_an_occurrence_picks_one_of_several() -> None:
    edit = Edit(block_id="block_4", old_text="Até breve!", new_text="Tchau!", occurrence=2)
    outcome = apply_exact(PROMPT, MAPPING, [edit])
    assert text_of(outcome.canonical, outcome.mapping)["block_4"] == "Até breve! Tchau!"


@pytest.mark.parametrize(
    ("edits", "index", "field", "words"),
    [
        (
            [Edit(block_id="block_99", old_text="x", new_text="y")],
            0,
            "block_id",
            "unknown block 'block_99'",
        ),
        (
            [
                Edit(block_id="block_0", old_text="Olá", new_text="Oi"),
                Edit(block_id="block_1", old_text="Olá", new_text="Oi"),
            ],
            1,
            "old_text",
            "it occurs at offset 10, in block_0",
        ),
        (
            [Edit(block_id="block_0", old_text="nada", new_text="y")],
            0,
            "old_text",
            "not found in block_0",
        ),
        (
            [Edit(block_id="block_4", old_text="Até breve!", new_text="Tchau")],
            0,
            "old_text",
            "occurs 2 times in block_4",
        ),
        (
            [
                Edit(block_id="block_0", old_text="Eu sou", new_text="Sou"),
                Edit(block_id="block_0", old_text="sou a Sofia", new_text="a Sofia"),
            ],
            1,
            "old_text",
            "overlaps edit 0",
        ),
        (
            [Edit(block_id="block_4", old_text="breve", new_text="logo", occurrence=3)],
            0,
            "occurrence",
            "2 time(s), not 3",
        ),
    ],
)
def test_bad_edits_name_their_index_and_change_nothing(
    edits: list[Edit], index: int, field: str, words: str
) -> None:
    with pytest.raises(EditError) as error:
        apply_exact(PROMPT, MAPPING, edits)
    assert (error.value.index, error.value.field) == (index, field)
    assert words in str(error.value) and str(error.value).startswith(f"edits[{index}].{field}: ")


def test_a_text_outside_every_block_is_refused() -> None:
    with pytest.raises(EditError, match="outside every block"):
        apply_exact(PROMPT, MAPPING, [Edit(block_id="block_0", old_text="FLUXO", new_text="F")])


def test_an_edit_that_changes_nothing_is_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match="changes nothing"):
        Edit(block_id="block_0", old_text="a", new_text="a")


def test_the_rebase_check_finds_the_version_that_touched_a_block() -> None:
    spans = [BlockSpan("b", BlockType.texto, 100, 120, 3)]
    # v5 edits before the block (shifts it by +5), v6 edits after it: no conflict.
    assert conflicting_version(spans, [(5, [(10, 20, 15)]), (6, [(200, 210, 0)])]) is None
    # v7 touches the block once shifted (its text sits at 105-125 in v6's offsets).
    assert conflicting_version(spans, [(5, [(10, 20, 15)]), (7, [(124, 130, 0)])]) == 7
    assert conflicting_version(spans, [(5, [(119, 119, 3)])]) == 5  # an insertion inside
    assert conflicting_version(spans, [(5, [(120, 125, 0)])]) is None  # right after it


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(alphabet="ab жё😀\t", min_size=1, max_size=8), min_size=2, max_size=8),
    st.data(),
)
def test_any_exact_edit_keeps_every_other_byte_and_every_other_block(
    phrases: list[str], data: st.DataObject
) -> None:
    phrases = [p if p.strip() else p + "z" for p in phrases]
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    prompt = "FLUXO" + newline + newline.join(f'x "{p}" y' for p in phrases) + newline
    mapping = parse_prompt(prompt).blocks
    target = data.draw(st.sampled_from(mapping))
    body = prompt[target.prompt_start : target.prompt_end]
    start = data.draw(st.integers(0, len(body) - 1))
    end = data.draw(st.integers(start + 1, len(body)))
    old = body[start:end]
    new = data.draw(st.text(alphabet="cd ы🚀\r\n", max_size=6).filter(lambda s: s != old))
    if body.find(old, body.find(old) + 1) >= 0:
        return  # ambiguous: refused, as tested above
    outcome = apply_exact(
        prompt, mapping, [Edit(block_id=target.block_id, old_text=old, new_text=new)]
    )
    at = target.prompt_start + start
    assert outcome.canonical == prompt[:at] + new + prompt[at + len(old) :]
    texts = text_of(outcome.canonical, outcome.mapping)
    for span in mapping:
        if span.block_id != target.block_id:
            assert texts[span.block_id] == prompt[span.prompt_start : span.prompt_end]
    for span in outcome.mapping:
        assert outcome.canonical.count("\n", 0, span.prompt_start) + 1 == span.line_number
