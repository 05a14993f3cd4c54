"""Semantic patches (seed 001, phase 3): an LLM rewrites a window around one block, then is checked.

The window is the whole lines of the block; the model sees a few lines of context on each
side and must hand the context back with only the window rewritten. The rewrite is accepted
only if everything outside the window is byte-identical and every block of the window still
maps (same blocks, same types, the others' text untouched); otherwise the patch fails and
says why. The one model call is `ask_model`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from schemas.flows import BlockSpan, BlockType, Edit
from worker.flows.parser import detect_blocks
from worker.flows.patch import EditError, PatchOutcome, locate_edit, unknown_block

CONTEXT_LINES = 3
INSTRUCTIONS = (
    "You edit prompts. You get a CONTEXT taken from a longer prompt, the WINDOW inside it that "
    "you may change, and an OLD text inside the window to replace by the NEW text. Rewrite "
    "only the window so that it says NEW where it said OLD, adjusting grammar and wording "
    "around it where needed. Keep every other character of the context exactly as it is, "
    "keep quotes, keywords and line breaks, and answer with the complete CONTEXT only, "
    "without explanations or code fences."
)

# (instructions, input) -> the model's answer
Rewriter = Callable[[str, str], Awaitable[str]]


class SemanticRejected(ValueError):
    """The model's rewrite broke a rule; the message says which."""


@dataclass(frozen=True)
class Window:
    """Offsets in the canonical prompt: context [context_start, context_end) holds the window."""

    context_start: int
    start: int
    end: int
    context_end: int


def window_of(canonical: str, span: BlockSpan, context_lines: int = CONTEXT_LINES) -> Window:
    """The whole lines holding `span`, and `context_lines` lines around them."""
    start = canonical.rfind("\n", 0, span.prompt_start) + 1
    newline = canonical.find("\n", span.prompt_end)
    end = len(canonical) if newline < 0 else newline + 1
    context_start = start
    for _ in range(context_lines):
        if context_start == 0:
            break
        context_start = canonical.rfind("\n", 0, context_start - 1) + 1
    context_end = end
    for _ in range(context_lines):
        newline = canonical.find("\n", context_end)
        if newline < 0:
            context_end = len(canonical)
            break
        context_end = newline + 1
    return Window(context_start, start, end, context_end)


def request_text(canonical: str, window: Window, edit: Edit, context: str | None) -> str:
    """What the model is asked."""
    parts = [
        f"CONTEXT:\n{canonical[window.context_start : window.context_end]}",
        f"WINDOW (the only lines you may change):\n{canonical[window.start : window.end]}",
        f"OLD:\n{edit.old_text}",
        f"NEW:\n{edit.new_text}",
    ]
    if context:
        parts.append(f"GUIDANCE:\n{context}")
    return "\n\n".join(parts)


async def apply_semantic(
    canonical: str,
    mapping: Sequence[BlockSpan],
    edit: Edit,
    rewrite: Rewriter,
    *,
    context: str | None = None,
) -> PatchOutcome:
    """Rewrite the window around `edit`'s block with the model, or raise what went wrong."""
    positions = {span.block_id: i for i, span in enumerate(mapping)}
    block = positions.get(edit.block_id)
    if block is None:
        raise EditError(0, "block_id", unknown_block(edit.block_id, mapping))
    locate_edit(canonical, mapping, block, edit, 0)  # the same checks as exact mode
    window = window_of(canonical, mapping[block])
    answer = await rewrite(INSTRUCTIONS, request_text(canonical, window, edit, context))
    new_window = _window_in(_unfenced(answer), canonical, window)
    return _remapped(canonical, mapping, window, new_window, mapping[block].block_id)


def _unfenced(answer: str) -> str:
    """The answer without one wrapping code fence (models add them though told not to)."""
    stripped = answer.strip("\n")
    if stripped.startswith("```") and stripped.endswith("```"):
        inner = stripped[3:-3]
        return inner.split("\n", 1)[1] if "\n" in inner else inner
    return answer


def _window_in(answer: str, canonical: str, window: Window) -> str:
    before = canonical[window.context_start : window.start]
    after = canonical[window.end : window.context_end]
    if not answer.startswith(before):
        raise SemanticRejected(
            "the model changed text before the window (the context's first "
            f"{len(before)} characters must come back byte-identical)"
        )
    if not answer.endswith(after) or len(answer) < len(before) + len(after):
        raise SemanticRejected(
            "the model changed text after the window (the context's last "
            f"{len(after)} characters must come back byte-identical)"
        )
    new_window = answer[len(before) : len(answer) - len(after)]
    if new_window == canonical[window.start : window.end]:
        raise SemanticRejected("the model changed nothing in the window")
    if canonical[window.end - 1 : window.end] == "\n" and not new_window.endswith("\n"):
        raise SemanticRejected("the model joined the window's last line with the next one")
    return new_window


def _remapped(
    canonical: str,
    mapping: Sequence[BlockSpan],
    window: Window,
    new_window: str,
    target: str,
) -> PatchOutcome:
    inside = [s for s in mapping if window.start <= s.prompt_start < window.end]
    first_line = inside[0].line_number - canonical.count("\n", window.start, inside[0].prompt_start)
    found = detect_blocks(new_window, window.start, first_line)
    if len(found) != len(inside):
        raise SemanticRejected(
            f"the window held {len(inside)} block(s) ({_names(inside)}) and the rewrite holds "
            f"{len(found)}: every block must still map"
        )
    delta = len(new_window) - (window.end - window.start)
    lines = new_window.count("\n") - canonical.count("\n", window.start, window.end)
    remapped: list[BlockSpan] = []
    for old, (kind, start, end, line) in zip(inside, found, strict=True):
        if _base(old.type) is not kind:
            raise SemanticRejected(
                f"{old.block_id} was a {old.type.value} block and the rewrite makes it {kind.value}"
            )
        text = canonical[old.prompt_start : old.prompt_end]
        if old.block_id != target and new_window[start - window.start : end - window.start] != text:
            raise SemanticRejected(f"the rewrite changed {old.block_id}, which was not asked for")
        remapped.append(BlockSpan(old.block_id, old.type, start, end, line, old.tool_name))
    new_mapping: list[BlockSpan] = []
    for span in mapping:
        if span.prompt_start < window.start:
            new_mapping.append(span)
        elif span.prompt_start >= window.end:
            new_mapping.append(
                BlockSpan(
                    span.block_id,
                    span.type,
                    span.prompt_start + delta,
                    span.prompt_end + delta,
                    span.line_number + lines,
                    span.tool_name,
                )
            )
        else:
            new_mapping.append(remapped.pop(0))
    text = canonical[: window.start] + new_window + canonical[window.end :]
    changes = [(window.start, window.end, len(new_window))]
    return PatchOutcome(text, new_mapping, changes, changed_blocks=[target])


def _base(kind: BlockType) -> BlockType:
    return BlockType.texto if kind is BlockType.primeira_mensagem else kind


def _names(spans: Sequence[BlockSpan]) -> str:
    return ", ".join(f"{s.block_id} {s.type.value}" for s in spans)


def rewrite_request(
    model: str, instructions: str, text: str
) -> tuple[dict[str, Any], Callable[[AsyncOpenAI], Awaitable[str]]]:
    """The one LLM call of a semantic patch: its Responses parameters, and the call itself.

    The caller runs it through the OpenAI call layer (pacing, error kinds, retries).
    """
    params: dict[str, Any] = {"model": model, "instructions": instructions, "input": text}

    async def ask(client: AsyncOpenAI) -> str:
        response = await client.responses.create(**params)
        return response.output_text

    return params, ask
