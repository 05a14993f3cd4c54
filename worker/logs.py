"""structlog set-up: JSON lines off a terminal, readable on one, and no secret ever printed."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

# Anything shaped like an OpenAI key or a bearer token, wherever it appears in a string.
_SECRET_VALUE = re.compile(r"(?:\bsk-[A-Za-z0-9_-]{8,})|(?:\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,})")
# Keys whose values are secret whatever they look like.
_SECRET_KEY = re.compile(r"(api[_-]?key|authorization|password|secret|token|dsn)", re.I)
REDACTED = "[redacted]"
_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40}


def mask_id(value: str) -> str:
    """Show only the ends of an id, as seed 000's `maskId` does: `asst***c123`."""
    if len(value) <= 8:
        return "***"
    return f"{value[:4]}***{value[-4:]}"


def redact(value: Any) -> Any:
    """`value` with every secret replaced, through nested mappings and sequences."""
    if isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY.search(key) and item
            else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return (
            type(value)(redact(item) for item in value)
            if not isinstance(value, set)
            else [redact(item) for item in value]
        )
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    if hasattr(value, "get_secret_value"):
        return REDACTED
    return value


def redact_processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: redact every key and value, and mask ids under `masked`."""
    masked = event_dict.pop("masked", None)
    cleaned = redact(event_dict)
    if masked:
        for key in masked:
            if isinstance(cleaned.get(key), str):
                cleaned[key] = mask_id(cleaned[key])
    return cleaned


def _redact_rendered(_: Any, __: str, rendered: Any) -> Any:
    # Last line of defence: tracebacks are rendered after the event dict was cleaned.
    return redact(rendered) if isinstance(rendered, str) else rendered


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog (and stdlib logging, which arq uses) for this process."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer, _redact_rendered],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                _redact_rendered,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
