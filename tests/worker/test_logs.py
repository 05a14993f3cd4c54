from __future__ import annotations

import io
import json
import logging

import structlog
from pydantic import SecretStr

from worker.logs import configure_logging, mask_id

KEY = "sk-proj-abcDEF1234567890abcDEF1234567890"


def log_lines(fmt: str = "json") -> tuple[io.StringIO, structlog.BoundLogger]:
    stream = io.StringIO()
    configure_logging("debug", fmt, stream)
    return stream, structlog.get_logger("test")


def test_a_key_handed_to_a_log_call_never_reaches_the_output() -> None:
    stream, log = log_lines()
    log.info(
        f"calling with {KEY}",
        api_key=KEY,
        profile={"name": "src", "settings": {"token": "opaque-value", "url": f"x?k={KEY}"}},
        headers=[("Authorization", f"Bearer {KEY}")],
        secret=SecretStr("hunter2-but-long"),
        error=ValueError(f"Incorrect API key provided: {KEY}"),
    )
    try:
        raise RuntimeError(f"boom with {KEY}")
    except RuntimeError:
        log.exception("crashed")
    logging.getLogger("arq.worker").error("arq says %s", KEY)
    out = stream.getvalue()
    assert KEY not in out
    assert "sk-proj-abc" not in out
    assert "opaque-value" not in out and "hunter2" not in out
    first = json.loads(out.splitlines()[0])
    assert first["api_key"] == "[redacted]"
    assert first["profile"]["name"] == "src"
    assert first["profile"]["settings"]["token"] == "[redacted]"
    assert "[redacted]" in first["error"]
    assert "arq says [redacted]" in out


def test_ids_are_masked_where_asked_and_left_alone_elsewhere() -> None:
    stream, log = log_lines()
    log.info(
        "cloned", assistant_id="asst_abc123def456", target_id="asst_xyz", masked=["assistant_id"]
    )
    line = json.loads(stream.getvalue())
    assert line["assistant_id"] == "asst***f456"
    assert line["target_id"] == "asst_xyz"
    assert mask_id("short") == "***"


def test_console_format_is_readable_and_redacted_too() -> None:
    stream, log = log_lines("console")
    log.warning("rate limited", api_key=KEY, wait_s=1.5)
    out = stream.getvalue()
    assert "rate limited" in out and "wait_s=1.5" in out
    assert KEY not in out and not out.lstrip().startswith("{")
