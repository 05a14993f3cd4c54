"""The HTTP API's settings: its stores (as every producer's) plus where and how it listens."""

from __future__ import annotations

from producers.settings import ClientSettings


class ApiSettings(ClientSettings):
    """Read from the environment and `.env` (the environment wins)."""

    api_host: str = "127.0.0.1"
    api_port: int = 8700
    # Larger bodies are refused with 413 before they are read.
    api_max_body_bytes: int = 1_048_576
    # Comma-separated origins allowed by CORS; empty (the default) turns CORS off.
    api_cors_origins: str = ""
    # The longest `?wait=` a result long-poll may ask for.
    api_max_wait_s: float = 60.0
    # How long a verified token is trusted in-process (0: every request asks Postgres);
    # a revocation ends it at once whatever this is (see api/token_cache.py).
    api_token_cache_s: float = 10.0

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.api_cors_origins.split(",") if origin.strip()]

    def client_settings(self) -> ClientSettings:
        """The producer client's part of these settings."""
        return ClientSettings(
            _env_file=None,
            **self.model_dump(include=set(ClientSettings.model_fields)),
        )
