"""Assistant specs that several test packages apply, as a user would write them."""

from __future__ import annotations

from typing import Any

# A registry assistant with one function tool and metadata: the registry's CLI and its HTTP
# API are tested against the same spec.
TRADER: dict[str, Any] = {
    "name": "trader",
    "model": "gpt-4o",
    "instructions": "Answer with the latest price.",
    "tools": [
        {
            "type": "function",
            "name": "get_price",
            "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}},
        }
    ],
    "metadata": {"team": "markets"},
}
