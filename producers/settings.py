"""What a producer needs to reach Ferry: Redis and Postgres (never an API key)."""

from __future__ import annotations

from store.settings import StoreSettings


class ClientSettings(StoreSettings):
    """The same variables the worker reads for its stores."""
