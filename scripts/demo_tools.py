"""The demo's chat tool, named in CHAT_PYTHON_TOOLS as `scripts.demo_tools.lookup_order`."""

from __future__ import annotations


def lookup_order(order_id: str = "", **_: object) -> dict[str, str]:
    """A stand-in for a shop's order API."""
    return {"order_id": order_id, "status": "shipped", "carrier": "DHL", "eta": "2 days"}
