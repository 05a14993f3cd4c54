"""What a producer needs to reach Ferry: Redis and Postgres (never an API key)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ClientSettings(BaseSettings):
    """Read from the environment and `.env`: the same variables the worker reads."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_schema: str | None = None
    redis_key_prefix: str = "ferry"
