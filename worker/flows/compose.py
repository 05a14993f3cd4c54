"""Seed 001's phase 6: the final prompt is the globals followed by the canonical prompt.

Never recomposed from the blocks: the blocks are a view, the canonical text is the truth. An
import cuts a prompt into globals and canonical at a line boundary, so composing them gives
back the imported prompt byte for byte.
"""

from __future__ import annotations

from schemas.flows import final_prompt

__all__ = ["final_prompt", "unchanged_prefix"]


def unchanged_prefix(before: str, after: str) -> int:
    """How many leading characters two prompts share: what OpenAI's prompt cache can reuse."""
    # A binary search over slice comparisons runs in C; a character loop would not.
    low, high = 0, min(len(before), len(after))
    while low < high:
        middle = (low + high + 1) // 2
        if before[:middle] == after[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
