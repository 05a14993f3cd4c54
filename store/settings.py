"""Where Ferry's stores are: the settings producers and workers share."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Read from the environment and `.env` (the environment wins)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # A Postgres schema of Ferry's own (the connection's search_path, usually public, if unset).
    database_schema: str | None = None
    # Prefix of every Redis key, queue and channel: two deployments can share one Redis.
    redis_key_prefix: str = "ferry"
