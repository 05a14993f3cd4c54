"""Routes under /v1 (being built)."""

from __future__ import annotations

routes: list = []
