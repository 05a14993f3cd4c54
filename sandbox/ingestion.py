"""Vector-store ingestion: parse a file's bytes to text, chunk it, and time its status.

Ingestion is asynchronous on OpenAI. Here a file attached to a store is `in_progress` until
`ready_at` (attach time + the project's `ingestion_seconds`), then `completed`, or `failed`
with `last_error` for bytes the sandbox cannot parse. The status is computed on read from
timestamps (no background task), so a test that sets `ingestion_seconds` knows exactly when
a file turns.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CHUNKING = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
}
CHARS_PER_TOKEN = 4
TEXT_EXTENSIONS = frozenset(
    [
        ".txt",
        ".md",
        ".markdown",
        ".csv",
        ".tsv",
        ".json",
        ".jsonl",
        ".html",
        ".htm",
        ".xml",
        ".yaml",
        ".yml",
        ".py",
        ".js",
        ".ts",
        ".java",
        ".c",
        ".cpp",
        ".cs",
        ".go",
        ".rb",
        ".php",
        ".sh",
        ".tex",
        ".css",
        ".rst",
        ".log",
    ]
)
UNSUPPORTED_EXTENSIONS = frozenset(
    [".png", ".jpg", ".jpeg", ".gif", ".webp", ".zip", ".gz", ".exe", ".bin", ".mp3", ".mp4"]
)


@dataclass
class Parsed:
    """What parsing produced: text pieces (pages), or the error a failed file carries."""

    pieces: list[str] = field(default_factory=list)
    error: dict[str, str] | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def parse(filename: str, data: bytes) -> Parsed:
    """Text of a file: UTF-8 for text formats, the text streams of a PDF; else an error."""
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in UNSUPPORTED_EXTENSIONS:
        return Parsed(
            error={"code": "unsupported_file", "message": "The file type is not supported."}
        )
    if ext == ".pdf" or data.startswith(b"%PDF-"):
        return _parse_pdf(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _invalid("The file could not be parsed: it is not valid UTF-8 text.")
    if "\x00" in text:
        return _invalid("The file could not be parsed: it contains binary data.")
    if not text.strip():
        return _invalid("The file is empty.")
    return Parsed(pieces=[text])


def _parse_pdf(data: bytes) -> Parsed:
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
    except Exception:  # pypdf raises many kinds for broken files: all mean "unparseable"
        return _invalid("The file could not be parsed as a PDF.")
    pieces = [p for p in pages if p.strip()]
    if not pieces:
        return _invalid("No text could be extracted from the PDF.")
    return Parsed(pieces=pieces)


def _invalid(message: str) -> Parsed:
    return Parsed(error={"code": "invalid_file", "message": message})


def chunk(text: str, strategy: dict[str, Any]) -> list[str]:
    """Split `text` as a static strategy would (tokens estimated at 4 characters)."""
    static = strategy.get("static", DEFAULT_CHUNKING["static"])
    size = static["max_chunk_size_tokens"] * CHARS_PER_TOKEN
    step = max(
        1, (static["max_chunk_size_tokens"] - static["chunk_overlap_tokens"]) * CHARS_PER_TOKEN
    )
    return [text[i : i + size] for i in range(0, max(1, len(text) - size + step), step)] or [text]


@dataclass
class Ingest:
    """One file in one vector store: its public object and the timer behind its status."""

    obj: dict[str, Any]
    ready_at: float
    parsed: Parsed
    chunks: list[str]
    batch_id: str | None = None

    def refresh(self, at: float | None = None) -> dict[str, Any]:
        """The public object with its status as of `at` (default: now)."""
        if self.obj["status"] == "in_progress" and (at or time.time()) >= self.ready_at:
            if self.parsed.error is None:
                self.obj["status"] = "completed"
            else:
                self.obj["status"] = "failed"
                self.obj["last_error"] = dict(self.parsed.error)
        return self.obj

    def cancel(self) -> None:
        if self.refresh()["status"] == "in_progress":
            self.obj["status"] = "cancelled"

    def poll_after_ms(self) -> int:
        """A hint for the SDK's poll loop (`openai-poll-after-ms`): no later than ready."""
        return max(10, min(1000, int((self.ready_at - time.time()) * 1000) + 10))


def start(
    vector_store_id: str,
    file_obj: dict[str, Any],
    data: bytes,
    *,
    strategy: dict[str, Any] | None,
    attributes: dict[str, Any] | None,
    delay: float,
    created_at: int,
    batch_id: str | None = None,
) -> Ingest:
    """Begin ingesting `file_obj` into the store; `delay` seconds until it is done."""
    strategy = strategy or DEFAULT_CHUNKING
    parsed = parse(file_obj["filename"], data)
    chunks = [] if parsed.error else chunk(parsed.text, strategy)
    obj: dict[str, Any] = {
        "id": file_obj["id"],
        "object": "vector_store.file",
        # OpenAI bills the parsed text, not the upload: usage differs from `bytes`
        "usage_bytes": 0 if parsed.error else len(parsed.text.encode()),
        "created_at": created_at,
        "vector_store_id": vector_store_id,
        "status": "in_progress",
        "last_error": None,
        "chunking_strategy": strategy,
        "attributes": attributes or {},
    }
    return Ingest(obj, time.time() + delay, parsed, chunks, batch_id)


def counts(ingests: list[Ingest]) -> dict[str, int]:
    """`file_counts` for a store or batch, statuses refreshed."""
    out = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}
    for ingest in ingests:
        out[ingest.refresh()["status"]] += 1
        out["total"] += 1
    return out
