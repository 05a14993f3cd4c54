"""The sequential import parser: blocks in prompt order, exact offsets, CRLF-safe."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.flows import final_prompt
from worker.flows.parser import parse_prompt

PT = """# IDENTIDADE
Você é a Sofia, recepcionista da Clínica Sorriso Feliz.

# PERSONALIDADE
Calorosa e objetiva. Use "você", nunca "senhor".

# FLUXO
"Olá! Eu sou a Sofia. Como posso ajudar?"
AGUARDE a resposta do paciente.
Se quiser marcar: "Perfeito! Para qual especialidade?"
Aguardar a especialidade.
CHAME tool consultar_horarios com a especialidade.
"Obrigada e até breve!"
ENCERRAR
"""

ES = """IDENTIDAD:
Eres Lucas, asesor de la Academia Tendencia.

PASO 1
- «¡Hola! Soy Lucas, ¿en qué te ayudo?»
- ESPERE la respuesta del alumno.
- LLAME la herramienta buscar_curso con el tema pedido.
- "Aquí tienes el curso: {curso}"
- FINALIZAR la conversación.
"""

RU = "\r\n".join(
    [
        "ЛИЧНОСТЬ",
        "Вежливый аналитик продаж.",
        "",
        "СЦЕНАРИЙ",
        "«Здравствуйте! Чем помочь? 📊»",
        "ЖДИ ответа клиента.",
        "ВЫЗОВИ инструмент get_sales за нужный квартал.",
        "ЗАВЕРШИТЬ разговор.",
        "",
    ]
)


def blocks(text: str) -> list[tuple[str, str]]:
    parsed = parse_prompt(text)
    return [(b.type.value, text[b.prompt_start : b.prompt_end]) for b in parsed.blocks]


def test_a_portuguese_prompt_gives_globals_and_blocks_in_prompt_order() -> None:
    parsed = parse_prompt(PT)
    assert parsed.global_titles == ["IDENTIDADE", "PERSONALIDADE"]
    # Quoted words inside a global section are not blocks.
    assert blocks(PT) == [
        ("primeira_mensagem", "Olá! Eu sou a Sofia. Como posso ajudar?"),
        ("aguardar", "AGUARDE a resposta do paciente."),
        ("texto", "Perfeito! Para qual especialidade?"),
        ("aguardar", "Aguardar a especialidade."),
        ("tool", "CHAME tool consultar_horarios com a especialidade."),
        ("texto", "Obrigada e até breve!"),
        ("encerrar", "ENCERRAR"),
    ]
    assert [b.block_id for b in parsed.blocks] == [f"block_{i}" for i in range(7)]
    assert [b.line_number for b in parsed.blocks] == [8, 9, 10, 11, 12, 13, 14]
    assert parsed.blocks[4].tool_name == "consultar_horarios"
    assert parsed.globals_text.startswith("# IDENTIDADE") and parsed.canonical.startswith("# FLUXO")


def test_a_spanish_prompt_with_bullets_and_guillemets() -> None:
    assert blocks(ES) == [
        ("primeira_mensagem", "¡Hola! Soy Lucas, ¿en qué te ayudo?"),
        ("aguardar", "ESPERE la respuesta del alumno."),
        ("tool", "LLAME la herramienta buscar_curso con el tema pedido."),
        ("texto", "Aquí tienes el curso: {curso}"),
        ("encerrar", "FINALIZAR la conversación."),
    ]
    assert parse_prompt(ES).global_titles == ["IDENTIDAD"]


def test_a_russian_crlf_prompt_keeps_exact_offsets() -> None:
    parsed = parse_prompt(RU)
    assert parsed.global_titles == ["ЛИЧНОСТЬ"]
    assert blocks(RU) == [
        ("primeira_mensagem", "Здравствуйте! Чем помочь? 📊"),
        ("aguardar", "ЖДИ ответа клиента."),
        ("tool", "ВЫЗОВИ инструмент get_sales за нужный квартал."),
        ("encerrar", "ЗАВЕРШИТЬ разговор."),
    ]
    assert [b.line_number for b in parsed.blocks] == [5, 6, 7, 8]
    # No block swallows the \r of its line end.
    assert all("\r" not in RU[b.prompt_start : b.prompt_end] for b in parsed.blocks)


def test_the_seeds_offset_drift_on_crlf_does_not_happen() -> None:
    lf = "TOM\nbreve\n\nFLUXO\n" + "\n".join(f'"frase {i}"' for i in range(50)) + "\n"
    crlf = lf.replace("\n", "\r\n")
    for text in (lf, crlf):
        assert [t for _, t in blocks(text)] == [f"frase {i}" for i in range(50)]
    # The last block sits 49 CRs later in the CRLF text, and nowhere else.
    last_lf, last_crlf = parse_prompt(lf).blocks[-1], parse_prompt(crlf).blocks[-1]
    assert last_crlf.prompt_start - last_lf.prompt_start == crlf.count(
        "\r", 0, last_crlf.prompt_start
    )


def test_import_split_composes_back_to_the_prompt_byte_for_byte() -> None:
    for text in (PT, ES, RU):
        parsed = parse_prompt(text)
        assert final_prompt(parsed.globals_text, parsed.canonical) == text
        canonical = parsed.canonical
        for span in parsed.canonical_mapping():
            assert (
                canonical[span.prompt_start : span.prompt_end]
                == text[
                    span.prompt_start + parsed.globals_end : span.prompt_end + parsed.globals_end
                ]
            )


def test_a_prompt_that_opens_with_flow_text_has_no_globals() -> None:
    text = '"Oi!"\nIDENTIDADE\nsou eu\n'
    parsed = parse_prompt(text)
    assert parsed.globals_end == 0 and blocks(text) == [("primeira_mensagem", "Oi!")]


# --- property tests: generated prompts with CRLF, tabs, emoji, Cyrillic ---

# Plain text that can be neither a keyword, a quote nor a heading (no capitals, no quotes).
PLAIN = st.text(alphabet="xyzqk жщфыё ãçé\t😀🚀🧩0123.,;", min_size=0, max_size=30)
PHRASE = st.text(alphabet="xyzqk жщфыё ãçé\t😀🚀🧩0123.,;!?", min_size=1, max_size=25).filter(
    lambda s: s.strip() != ""
)
QUOTES = [('"', '"'), ("“", "”"), ("«", "»"), ("„", "“")]


@dataclass
class Expected:
    kind: str
    text: str


@st.composite
def prompts(draw: st.DrawFn) -> tuple[str, list[Expected], str]:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []
    expected: list[Expected] = []
    if draw(st.booleans()):
        lines += [draw(st.sampled_from(["# IDENTIDADE", "PERSONALIDADE:", "## Личность"]))]
        lines += [f'{draw(PLAIN)} "{draw(PHRASE)}"', ""]
    lines.append(draw(st.sampled_from(["# FLUXO", "ETAPA 1", "СЦЕНАРИЙ", "[Paso 1]"])))
    for _ in range(draw(st.integers(1, 12))):
        choice = draw(st.sampled_from(["plain", "quote", "quotes", "wait", "end", "tool"]))
        lead = draw(st.sampled_from(["", "  ", "\t", "- "]))
        if choice == "plain":
            lines.append(draw(PLAIN))
        elif choice in ("quote", "quotes"):
            parts = []
            for _ in range(1 if choice == "quote" else 2):
                opening, closing = draw(st.sampled_from(QUOTES))
                phrase = draw(PHRASE.filter(lambda s, c=closing: c not in s))
                parts.append(f"{draw(PLAIN)}{opening}{phrase}{closing}")
                expected.append(Expected("texto", phrase))
            lines.append(lead + "".join(parts) + draw(PLAIN))
        else:
            word = {"wait": "AGUARDE", "end": "ENCERRAR", "tool": "CHAME tool agenda_2"}[choice]
            body = f"{word} {draw(PLAIN)}".rstrip()
            lines.append(lead + body)
            expected.append(
                Expected({"wait": "aguardar", "end": "encerrar"}.get(choice, "tool"), body)
            )
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return text, expected, newline


@settings(max_examples=300, deadline=None)
@given(prompts())
def test_generated_prompts_map_every_block_exactly(case: tuple[str, list[Expected], str]) -> None:
    text, expected, _ = case
    parsed = parse_prompt(text)
    found = [(b.type.value, text[b.prompt_start : b.prompt_end]) for b in parsed.blocks]
    # In prompt order, each with its exact text; the first quoted phrase is the greeting.
    kinds = [e.kind for e in expected]
    if "texto" in kinds:
        kinds[kinds.index("texto")] = "primeira_mensagem"
    assert found == [(k, e.text) for k, e in zip(kinds, expected, strict=True)]
    previous_end = 0
    for span in parsed.blocks:
        assert previous_end <= span.prompt_start < span.prompt_end <= len(text)
        assert text.count("\n", 0, span.prompt_start) + 1 == span.line_number
        previous_end = span.prompt_end


@settings(max_examples=200, deadline=None)
@given(prompts())
def test_parse_serialise_parse_is_stable(case: tuple[str, list[Expected], str]) -> None:
    text = case[0]
    first = parse_prompt(text)
    serialised = final_prompt(first.globals_text, first.canonical)
    assert serialised == text
    again = parse_prompt(first.canonical)
    assert again.blocks == first.canonical_mapping()
    assert parse_prompt(serialised) == first
