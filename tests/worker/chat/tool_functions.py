"""Python tools the chat tests configure by dotted path (CHAT_PYTHON_TOOLS)."""

from __future__ import annotations

import asyncio
from typing import Any


def lookup_order(order_id: str) -> dict[str, Any]:
    return {"order_id": order_id, "status": "shipped"}


async def explode(**_: Any) -> str:
    raise RuntimeError("the warehouse is on fire")


async def dawdle(**_: Any) -> str:
    await asyncio.sleep(30)
    return "too late"


def huge(**_: Any) -> str:
    return "x" * 5000


def not_json(**_: Any) -> object:
    return {1, 2}
