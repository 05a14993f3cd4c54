"""Chat-run jobs: one user's turn with one assistant, and what the turn answers.

A gateway's own message id is the job id, so a gateway that sends the same message twice
(a retry, a webhook delivered again) gets one answer. The worker finds or makes the user's
thread (assistants style) or conversation (responses style), runs the tool loop, and returns
a `ChatReply`; with `stream=True` the text also arrives as deltas on a Redis stream per job.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.jobs import Job
from schemas.keys import Queue

# Seed 003's limit on what a user may attach (OpenAI's own per-file limit is far larger).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# Extensions a model can look at as an image part; anything else rides as a file.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp")


class ChatAttachment(BaseModel):
    """A file id, an image URL, or bytes the producer kept in the blob store: exactly one.

    A blob (`ferry run -f FILE`) is uploaded by the worker when the turn runs, as `filename`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    file_id: str | None = Field(default=None, min_length=1)
    image_url: str | None = Field(default=None, min_length=1)
    blob_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # The file's name, when known: its extension says whether it is an image.
    filename: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ChatAttachment:
        given = [x for x in (self.file_id, self.image_url, self.blob_sha256) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of file_id, image_url and blob_sha256")
        if self.blob_sha256 is not None and not self.filename:
            raise ValueError("a blob attachment needs its filename")
        if self.image_url is not None and not self.image_url.startswith(
            ("https://", "http://", "data:image/")
        ):
            raise ValueError("image_url must be an http(s) URL or a data:image/… URL")
        return self

    @property
    def is_image(self) -> bool:
        if self.image_url is not None:
            return True
        return (self.filename or "").lower().endswith(IMAGE_EXTENSIONS)


class ToolCallRecord(BaseModel):
    """One function call the model made and what Ferry answered it."""

    call_id: str
    name: str
    arguments: str
    output: str
    # False: the executor failed (unknown tool, exception, timeout); `output` says how.
    ok: bool
    duration_ms: float


class ChatUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def add(self, usage: Any) -> None:
        """Add an SDK usage object (responses or runs) to these totals."""
        if usage is None:
            return
        self.input_tokens += getattr(usage, "input_tokens", None) or getattr(
            usage, "prompt_tokens", 0
        )
        self.output_tokens += getattr(usage, "output_tokens", None) or getattr(
            usage, "completion_tokens", 0
        )
        self.total_tokens += getattr(usage, "total_tokens", 0) or 0


class ChatTimings(BaseModel):
    """Milliseconds: the whole turn in the worker, waiting on OpenAI, running tools.

    `pacing_ms` is the time spent booking the profile's rate budget before each call
    (a Redis round trip, plus any wait the budget asked for); `openai_ms` leaves it out.
    """

    total_ms: float = 0.0
    openai_ms: float = 0.0
    pacing_ms: float = 0.0
    tools_ms: float = 0.0
    lock_wait_ms: float = 0.0
    # When the turn ended (Unix seconds): the producer measures the push from it.
    finished_at: float = 0.0


class ChatReply(BaseModel):
    """What a turn answers: the text, the remote ids, the tool calls, usage and timings."""

    message_id: str
    user_id: str
    assistant: str
    api_style: Literal["responses", "assistants"]
    text: str
    # The thread (assistants style) or conversation (responses style) the turn went to.
    thread_id: str
    # True when this turn started the user's thread; `replaced_thread_id` is set when the
    # old one was gone remotely (404) and a new one was started in its place.
    new_thread: bool = False
    replaced_thread_id: str | None = None
    response_ids: list[str] = Field(default_factory=list)
    run_id: str | None = None
    reply_message_id: str | None = None
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: ChatUsage = Field(default_factory=ChatUsage)
    timings: ChatTimings = Field(default_factory=ChatTimings)
    # True when a retried job picked up the turn its dead predecessor had started.
    resumed: bool = False


class ChatRun(Job[ChatReply]):
    """One turn: `text` (and attachments) from `user_id` to the registry assistant `assistant`."""

    kind: ClassVar[str] = "chat.run"
    queue: ClassVar[Queue] = Queue.chat
    # The turn's own `timeout` (at most 240 s) ends it first, cancelling it remotely.
    timeout_s: ClassVar[int] = 300
    max_tries: ClassVar[int] = 3
    result_model: ClassVar[type[BaseModel]] = ChatReply

    message_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")
    user_id: str = Field(min_length=1, max_length=200)
    assistant: str = Field(min_length=1, max_length=256)
    profile: str = Field(default="default", min_length=1)
    text: str = Field(max_length=256_000)
    attachments: list[ChatAttachment] = Field(default_factory=list, max_length=20)
    stream: bool = False
    timeout: float = Field(default=60.0, gt=0, le=240)

    @field_validator("text")
    @classmethod
    def _not_empty(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is empty: a turn needs something to say")
        return text

    def job_id(self) -> str:
        """The gateway's message id: the same message sent twice is one turn."""
        return self.message_id


class HistoryMessage(BaseModel):
    role: str
    text: str


def safety_identifier(user_id: str) -> str:
    """What OpenAI is told of a user: a hash, never the raw id (seed 003's privacy rule)."""
    return "ferry-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def prompt_cache_key(profile: str, assistant: str) -> str:
    """One cache key per assistant, so turns of every user share the prompt prefix."""
    digest = hashlib.sha256(f"{profile}\x00{assistant}".encode()).hexdigest()[:24]
    return f"ferry-{digest}"


def thread_key(profile: str, assistant: str, user_id: str) -> str:
    """Names one user's thread with one assistant in Redis keys (the user id hashed)."""
    user = hashlib.sha256(user_id.encode()).hexdigest()[:24]
    assistant_part = hashlib.sha256(assistant.encode()).hexdigest()[:12]
    return f"{profile}:{assistant_part}:{user}"


def arrival_score(unix_us: int) -> float:
    """A turn's place in its thread's line: microseconds since the epoch."""
    return float(unix_us)


def attachment_problems(spec: Any, attachments: list[ChatAttachment]) -> list[tuple[str, str]]:
    """(field, message) for each attachment `spec` (an AssistantSpec) cannot use.

    An image rides as an image part, which any vision model reads. Another file needs
    file_search or code_interpreter on the assistant, unless it is a PDF (a file part).
    """
    kinds = {tool.type for tool in spec.tools}
    problems = []
    for index, attachment in enumerate(attachments):
        if attachment.is_image or (attachment.filename or "").lower().endswith(".pdf"):
            continue
        if kinds & {"file_search", "code_interpreter"}:
            continue
        shown = attachment.filename or attachment.file_id
        problems.append(
            (
                f"attachments[{index}]",
                f"{shown!r} is neither an image nor a PDF, and assistant {spec.name!r} has no "
                "file_search or code_interpreter tool to read it: send an image or a PDF, or "
                "give the assistant one of those tools",
            )
        )
    return problems


class ChatHistory(Job["HistoryResult"]):
    """The last `limit` messages of a user's thread with an assistant (seed 003)."""

    kind: ClassVar[str] = "chat.history"
    queue: ClassVar[Queue] = Queue.chat
    timeout_s: ClassVar[int] = 60

    user_id: str = Field(min_length=1, max_length=200)
    assistant: str = Field(min_length=1, max_length=256)
    profile: str = Field(default="default", min_length=1)
    limit: int = Field(default=50, ge=1, le=100)
    # Two reads of history are two jobs (the thread changes between them).
    request_id: str = Field(min_length=1)


class HistoryResult(BaseModel):
    thread_id: str | None
    messages: list[HistoryMessage]


ChatHistory.result_model = HistoryResult
