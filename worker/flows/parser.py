# ruff: noqa: RUF001 - Cyrillic keywords and headings are the point, not look-alikes
"""Seed 001's sequential import parser: globals, blocks in prompt order, exact offsets.

The prompt is read top to bottom, one line at a time. A line ends at `\\n`; a `\\r` before it
belongs to the line end, never to a block (the seed's sketch added 1 per line and drifted on
CRLF prompts). Headed sections whose heading names a global (IDENTIDADE, PERSONALIDADE, their
Spanish, Russian and English names) are globals: they hold no blocks. Elsewhere a line holds:

- `CHAME tool X` (or CHAMAR, LLAME la herramienta, ВЫЗОВИ инструмент, CALL tool) → `tool`;
- `ENCERRAR` (FINALIZAR, ЗАВЕРШИТЬ, …) → `encerrar`;
- `AGUARDE` / `Aguardar` (ESPERE, ЖДИ, …) → `aguardar`;
- otherwise each quoted phrase ("…", “…”, «…», „…“) → `texto`, the first → `primeira_mensagem`.

A keyword line is one block (its text without the indent and bullet); a keyword counts in
capitals anywhere, or in any case at the start of the line. A quoted block is the text
inside the quotes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from schemas.flows import BlockSpan, BlockType

GLOBAL_HEADINGS = frozenset(
    {
        # pt
        "IDENTIDADE", "PERSONALIDADE", "TOM", "TOM DE VOZ", "ESTILO", "REGRAS", "REGRAS GERAIS",
        "CONTEXTO", "OBJETIVO", "PERSONA", "SOBRE", "DIRETRIZES",
        # es
        "IDENTIDAD", "PERSONALIDAD", "TONO", "REGLAS", "REGLAS GENERALES", "DIRECTRICES",
        # ru
        "ИДЕНТИЧНОСТЬ", "ЛИЧНОСТЬ", "РОЛЬ", "ХАРАКТЕР", "ТОН", "СТИЛЬ", "ПРАВИЛА", "КОНТЕКСТ",
        "ЦЕЛЬ",
        # en
        "IDENTITY", "PERSONALITY", "ROLE", "TONE", "STYLE", "RULES", "CONTEXT", "GOAL",
    }
)  # fmt: skip

_BULLET = r"(?:[-*•>]\s+|\d{1,3}[.)]\s+|→\s*)?"
_TOOL = re.compile(
    r"\b(?:CHAME|CHAMAR|CHAMA|LLAME|LLAMAR|LLAMA|USE|USAR|ВЫЗОВИ|ВЫЗВАТЬ|CALL)\s+"
    r"(?:(?:a|o|la|el|the)\s+)?"
    r"(?:tool|ferramenta|herramienta|инструмент|функцию|function)\s*[:\-]?\s*"
    r"[`\"'«“]?([\w.\-]+)",
    re.IGNORECASE,
)
_ENCERRAR_WORDS = r"ENCERRAR|ENCERRE|ENCERRA|FINALIZAR|FINALICE|TERMINAR|ЗАВЕРШИТЬ|ЗАВЕРШИ|END"
_AGUARDAR_WORDS = r"AGUARDE|AGUARDAR|AGUARDA|ESPERE|ESPERAR|ЖДИ|ЖДАТЬ|ДОЖДИСЬ|ОЖИДАЙ|WAIT"


def _keyword(words: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    capitals = re.compile(rf"(?<!\w)(?:{words})(?!\w)")
    leading = re.compile(rf"^\s*{_BULLET}(?:{words})(?!\w)", re.IGNORECASE)
    return capitals, leading


_ENCERRAR = _keyword(_ENCERRAR_WORDS)
_AGUARDAR = _keyword(_AGUARDAR_WORDS)
_QUOTED = re.compile(
    "|".join(
        rf"{o}([^{c}\n]*[^{c}\s][^{c}\n]*){c}"
        for o, c in (('"', '"'), ("“", "”"), ("«", "»"), ("„", "“"))
    )
)
_LEAD = re.compile(rf"^\s*{_BULLET}")
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_MARKED_HEADING = re.compile(r"^\s*(?:\[(.+?)\]|={2,}\s*(.+?)\s*={2,}|\*\*(.+?)\*\*)\s*:?\s*$")
_CAPS_HEADING_MAX = 80


@dataclass(frozen=True, slots=True)
class Section:
    """A headed section: `text[start:end]` is the heading line through the section's last line."""

    title: str
    start: int
    end: int
    is_global: bool


@dataclass(frozen=True)
class ParsedPrompt:
    """What the parser found in `text`."""

    text: str
    sections: list[Section]
    blocks: list[BlockSpan]
    # The leading run of global sections ends here: `text[:globals_end]` are the globals.
    globals_end: int

    @property
    def globals_text(self) -> str:
        return self.text[: self.globals_end]

    @property
    def canonical(self) -> str:
        return self.text[self.globals_end :]

    @property
    def global_titles(self) -> list[str]:
        """The titles of the leading global sections (the ones an import moves into globals)."""
        return [s.title for s in self.sections if s.is_global and s.end <= self.globals_end]

    def canonical_mapping(self) -> list[BlockSpan]:
        """The blocks with offsets and line numbers relative to `canonical`."""
        shift = self.globals_end
        lines = self.text.count("\n", 0, shift)
        return [
            BlockSpan(
                b.block_id,
                b.type,
                b.prompt_start - shift,
                b.prompt_end - shift,
                b.line_number - lines,
                b.tool_name,
            )
            for b in self.blocks
        ]


def parse_prompt(text: str) -> ParsedPrompt:
    """Read `text` top to bottom: its sections, and its blocks in prompt order."""
    sections: list[Section] = []
    found: list[tuple[BlockType, int, int, int, str | None]] = []
    heading: tuple[str, int, bool] | None = None  # the open section: title, start, global
    pos, line_number, size = 0, 0, len(text)
    while pos < size:
        newline = text.find("\n", pos)
        end = size if newline < 0 else newline + 1
        content_end = size if newline < 0 else newline
        if newline >= 0 and content_end > pos and text[content_end - 1] == "\r":
            content_end -= 1
        line_number += 1
        line = text[pos:content_end]
        title = _marked_heading(line)
        blocks = [] if title is not None else line_blocks(line)
        if title is None and not blocks:
            title = _caps_heading(line)
        if title is not None:
            if heading is not None:
                sections.append(Section(heading[0], heading[1], pos, heading[2]))
            heading = (title, pos, _is_global(title))
        elif heading is None or not heading[2]:
            found.extend((kind, pos + s, pos + e, line_number, tool) for kind, s, e, tool in blocks)
        pos = end
    if heading is not None:
        sections.append(Section(heading[0], heading[1], size, heading[2]))
    return ParsedPrompt(text, sections, _numbered(found), _globals_end(text, sections))


def line_blocks(line: str) -> list[tuple[BlockType, int, int, str | None]]:
    """The blocks of one line (no line end): (type, start, end, tool name), left to right."""
    if tool := _TOOL.search(line):
        return [(BlockType.tool, *_trimmed(line), tool.group(1))]
    for kind, (capitals, leading) in (
        (BlockType.encerrar, _ENCERRAR),
        (BlockType.aguardar, _AGUARDAR),
    ):
        if capitals.search(line) or leading.match(line):
            return [(kind, *_trimmed(line), None)]
    blocks: list[tuple[BlockType, int, int, str | None]] = []
    for match in _QUOTED.finditer(line):
        group = next(g for g in range(1, 5) if match.group(g) is not None)
        blocks.append((BlockType.texto, match.start(group), match.end(group), None))
    return blocks


def detect_blocks(text: str, offset: int, first_line: int) -> list[tuple[BlockType, int, int, int]]:
    """The blocks of a stretch of flow text (no headings), as (type, start, end, line), with
    offsets from `offset` and lines from `first_line`: how a rewritten window is re-mapped."""
    found = []
    pos, line_number = 0, first_line
    while pos < len(text):
        newline = text.find("\n", pos)
        content_end = len(text) if newline < 0 else newline
        if newline >= 0 and content_end > pos and text[content_end - 1] == "\r":
            content_end -= 1
        for kind, start, end, _ in line_blocks(text[pos:content_end]):
            found.append((kind, offset + pos + start, offset + pos + end, line_number))
        if newline < 0:
            break
        pos, line_number = newline + 1, line_number + 1
    return found


def _trimmed(line: str) -> tuple[int, int]:
    start = _LEAD.match(line)
    begin = start.end() if start else 0
    return begin, len(line.rstrip())


def _numbered(found: list[tuple[BlockType, int, int, int, str | None]]) -> list[BlockSpan]:
    spans: list[BlockSpan] = []
    greeted = False
    for index, (kind, start, end, line_number, tool) in enumerate(found):
        if kind is BlockType.texto and not greeted:
            kind, greeted = BlockType.primeira_mensagem, True
        spans.append(BlockSpan(f"block_{index}", kind, start, end, line_number, tool))
    return spans


def _globals_end(text: str, sections: list[Section]) -> int:
    """Where the leading run of global sections ends (0: the prompt does not open with one)."""
    end = 0
    if sections and text[: sections[0].start].strip():
        return 0
    for section in sections:
        if not section.is_global:
            break
        end = section.end
    return end


def _marked_heading(line: str) -> str | None:
    match = _MD_HEADING.match(line) or _MARKED_HEADING.match(line)
    if match is None:
        return None
    title = next((g for g in match.groups() if g), "").strip()
    return title or None


def _caps_heading(line: str) -> str | None:
    """An all-capitals line (at least three letters, none lower-case) is a heading."""
    stripped = line.strip().rstrip(":").strip()
    if not stripped or len(stripped) > _CAPS_HEADING_MAX or any(q in stripped for q in '"“«„'):
        return None
    letters = [c for c in stripped if c.isalpha()]
    if len(letters) < 3 or any(not c.isupper() for c in letters if c.lower() != c.upper()):
        return None
    return stripped


def _is_global(title: str) -> bool:
    name = _folded(title)
    words = re.findall(r"\w+", name)
    return name in GLOBAL_HEADINGS or (
        bool(words) and (words[0] in GLOBAL_HEADINGS or " ".join(words[:2]) in GLOBAL_HEADINGS)
    )


def _folded(title: str) -> str:
    """Upper case, accents dropped: `Saudação:` and `SAUDACAO` name one section."""
    decomposed = unicodedata.normalize("NFD", title.upper())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept).strip(" :#*=[]").strip()
