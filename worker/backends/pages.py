"""One page of a cursor-paginated OpenAI list (`limit`, `after`), and walking every page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

# `limit` of the vector-store lists (and Ferry's page size everywhere).
MAX_PAGE_SIZE = 100


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_HasId)


@dataclass(frozen=True)
class Page(Generic[Item]):
    """Items of one page; `after` is the cursor of the next page, None on the last."""

    items: list[Item]
    after: str | None

    @property
    def has_more(self) -> bool:
        return self.after is not None


def page_of(items: list[Item], has_more: bool) -> Page[Item]:
    """A page from a list answer: the next cursor is the last item's id while more remain."""
    return Page(items, items[-1].id if has_more and items else None)


def page_size(limit: int, maximum: int = MAX_PAGE_SIZE) -> int:
    """`limit` checked against the API's bounds (a bad limit is a programming error)."""
    if not 1 <= limit <= maximum:
        raise ValueError(f"limit must be between 1 and {maximum}, not {limit}")
    return limit


async def every_page(fetch: Callable[[str | None], Awaitable[Page[Item]]]) -> list[Item]:
    """Every item, following `after` cursors from the first page to the last."""
    found: list[Item] = []
    after: str | None = None
    while True:
        page = await fetch(after)
        found.extend(page.items)
        if page.after is None:
            return found
        after = page.after
