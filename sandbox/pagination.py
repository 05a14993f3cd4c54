"""Cursor pagination as OpenAI lists do it: `limit`, `order`, `after`, `before`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sandbox.errors import bad_request

MAX_LIMIT = 100


def page(
    items: Iterable[dict[str, Any]],
    query: Mapping[str, str],
    *,
    default_limit: int = 20,
    default_order: str = "desc",
    max_limit: int = MAX_LIMIT,
    key: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """Return one page of `items` as an OpenAI list object.

    Items are sorted by `key` (default: creation time, then the order they were stored in,
    so objects made within one second still list in creation order);
    `after`/`before` are ids of items on a previous page.
    """
    try:
        limit = int(query.get("limit", default_limit))
    except ValueError:
        raise bad_request("Invalid 'limit': expected an integer.", param="limit") from None
    if not 1 <= limit <= max_limit:
        raise bad_request(
            f"Invalid 'limit': integer below minimum value or above maximum value "
            f"(expected 1 to {max_limit}, got {limit}).",
            param="limit",
        )
    order = query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid value for 'order': expected 'asc' or 'desc', got '{order}'.", param="order"
        )
    items = list(items)
    if key is None:
        rank = {o["id"]: i for i, o in enumerate(items)}
        key = lambda o: (o.get("created_at", 0), rank[o["id"]])  # noqa: E731
    ordered = sorted(items, key=key, reverse=order == "desc")
    ids = [o["id"] for o in ordered]
    start, end = 0, len(ordered)
    if after := query.get("after"):
        if after not in ids:
            raise bad_request(f"Invalid 'after': no object with id '{after}'.", param="after")
        start = ids.index(after) + 1
    if before := query.get("before"):
        if before not in ids:
            raise bad_request(f"Invalid 'before': no object with id '{before}'.", param="before")
        end = ids.index(before)
        # `before` pages walk backwards: the page ends right before the cursor.
        start = max(start, end - limit)
    data = ordered[start:end][:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + len(data) < end,
    }
