"""Rate limits as OpenAI applies them: requests and tokens per minute, per project and,
where configured, per model family (checked on top; see sandbox/models.py for families).

Each limit is a token bucket that refills continuously (capacity = the per-minute limit,
refilled in one minute), which is how OpenAI describes its limits: `remaining` is what the
bucket holds, `reset` is how long until it is full again. Checking is O(1): two floats per
bucket, no background task.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from sandbox.errors import APIError

# POST routes that spend model tokens: estimated from the body size, ~4 bytes a token
_TOKEN_ROUTES_EXACT = frozenset({"/v1/responses", "/v1/threads/runs"})
BYTES_PER_TOKEN = 4
RATE_LIMIT_DOCS = "Visit https://platform.openai.com/account/rate-limits to learn more."
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)


# (limit, remaining, reset) header names for requests, then tokens: built once, sent always
_HEADER_NAMES = tuple(
    tuple(f"x-ratelimit-{what}-{kind}".encode() for what in ("limit", "remaining", "reset"))
    for kind in ("requests", "tokens")
)


@dataclass(frozen=True)
class Limits:
    """Per-minute limits; the defaults are far above what any test or benchmark sends."""

    requests_per_minute: int = 1_000_000
    tokens_per_minute: int = 1_000_000_000


@dataclass
class Bucket:
    capacity: float
    level: float
    stamp: float = field(default_factory=time.monotonic)

    @property
    def per_second(self) -> float:
        return self.capacity / 60.0

    def refresh(self, at: float) -> None:
        self.level = min(self.capacity, self.level + (at - self.stamp) * self.per_second)
        self.stamp = at

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 when it is now)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / self.per_second

    def until_full(self) -> float:
        return (self.capacity - self.level) / self.per_second


def is_token_route(method: str, path: str) -> bool:
    """Whether the request spends tokens: `POST /v1/responses` and run creation."""
    if method != "POST":
        return False
    if path in _TOKEN_ROUTES_EXACT:
        return True
    # /v1/threads/{thread_id}/runs
    return path.startswith("/v1/threads/") and path.endswith("/runs") and path.count("/") == 4


def estimate_tokens(content_length: int) -> int:
    """Tokens a request body of `content_length` bytes is charged (at least 1)."""
    return max(1, math.ceil(content_length / BYTES_PER_TOKEN))


# the body fields that reserve output (or prompt) tokens, which OpenAI counts up front
_RESERVING_FIELDS = ("max_output_tokens", "max_completion_tokens", "max_prompt_tokens")


def request_tokens(characters: int, body: dict | None) -> int:
    """A request's token charge: the larger of its characters / 4 and the tokens it reserves
    (`max_output_tokens`; for runs `max_completion_tokens` / `max_prompt_tokens`)."""
    charge = max(1, math.ceil(characters / BYTES_PER_TOKEN))
    for name in _RESERVING_FIELDS:
        value = (body or {}).get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            charge = max(charge, value)
    return charge


def format_duration(seconds: float) -> str:
    """Format like OpenAI's reset headers (Go durations): `20ms`, `1s`, `6m0s`, `1h2m3.5s`."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    out = f"{secs_text}s"
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{out}"
    if minutes >= 1:
        return f"{int(minutes)}m{out}"
    return out


class RateLimiter:
    """One project's request and token buckets."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.refill()

    def refill(self) -> None:
        """Both buckets full (a fresh minute)."""
        rpm, tpm = self.limits.requests_per_minute, self.limits.tokens_per_minute
        self.requests = Bucket(capacity=float(rpm), level=float(rpm))
        self.tokens = Bucket(capacity=float(tpm), level=float(tpm))

    def configure(
        self, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None
    ) -> None:
        self.limits = Limits(
            requests_per_minute=requests_per_minute or self.limits.requests_per_minute,
            tokens_per_minute=tokens_per_minute or self.limits.tokens_per_minute,
        )
        self.refill()

    def admit(
        self, org_id: str, tokens: int = 0, *, at: float | None = None, model: str | None = None
    ) -> tuple[list[tuple[bytes, bytes]], APIError | None]:
        """Charge one request (and `tokens`); the rate-limit headers, and a 429 if refused."""
        at = time.monotonic() if at is None else at
        requests, bucket = self.requests, self.tokens
        requests.refresh(at)
        bucket.refresh(at)
        # the common case first, inline: this runs on every /v1 request
        if requests.level >= 1 and tokens <= bucket.level:
            requests.level -= 1
            bucket.level -= tokens
            return self.headers(), None
        return self.headers(), self._refusal(org_id, tokens, model)

    def check(
        self, org_id: str, tokens: int = 0, *, at: float | None = None, model: str | None = None
    ) -> APIError | None:
        """The 429 one more request (and `tokens`) would get now, charging nothing."""
        self._refresh(at)
        return self._refusal(org_id, tokens, model)

    def _refresh(self, at: float | None) -> None:
        at = time.monotonic() if at is None else at
        self.requests.refresh(at)
        self.tokens.refresh(at)

    def _refusal(self, org_id: str, tokens: int, model: str | None) -> APIError | None:
        if self.requests.level < 1:
            return self._too_many(org_id, "requests", self.requests, 1, model)
        if tokens > self.tokens.capacity:
            return self._too_large(org_id, tokens, model)
        if tokens and self.tokens.level < tokens:
            return self._too_many(org_id, "tokens", self.tokens, tokens, model)
        return None

    def charge(self, tokens: int = 0) -> None:
        """Take one request and `tokens` (after `check` admitted them)."""
        self.requests.level -= 1
        self.tokens.level -= tokens

    def headers(self) -> list[tuple[bytes, bytes]]:
        """OpenAI's six `x-ratelimit-*` headers for the buckets as they are now."""
        out = []
        for (limit, remaining, reset), bucket in zip(
            _HEADER_NAMES, (self.requests, self.tokens), strict=True
        ):
            out += [
                (limit, b"%d" % bucket.capacity),
                # %d floors the level (never negative: only what is there is taken)
                (remaining, b"%d" % bucket.level),
                (reset, format_duration(bucket.until_full()).encode()),
            ]
        return out

    def _too_large(self, org_id: str, requested: int, model: str | None) -> APIError:
        """A request no wait can admit: OpenAI says so, without a retry-after."""
        message = (
            f"Request too large{_for(model)} in organization {org_id} on tokens per min (TPM): "
            f"Limit {int(self.tokens.capacity)}, Requested {requested}. The input or output tokens "
            f"must be reduced in order to run successfully. {RATE_LIMIT_DOCS}"
        )
        return APIError(429, message, type="tokens", code="rate_limit_exceeded")

    def _too_many(
        self, org_id: str, kind: str, bucket: Bucket, requested: int, model: str | None
    ) -> APIError:
        wait = bucket.wait_for(requested)
        unit = "RPM" if kind == "requests" else "TPM"
        # Used + the remaining header = Limit, as a client reading both expects
        used = int(bucket.capacity) - _remaining(bucket)
        message = (
            f"Rate limit reached{_for(model)} in organization {org_id} on {kind} per min ({unit}): "
            f"Limit {int(bucket.capacity)}, Used {used}, Requested {requested}. "
            f"Please try again in {format_duration(wait)}. {RATE_LIMIT_DOCS}"
        )
        headers = {
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            "retry-after": str(max(1, math.ceil(wait))),
        }
        return APIError(429, message, type=kind, code="rate_limit_exceeded", headers=headers)


def _remaining(bucket: Bucket) -> int:
    """What the bucket holds, in whole units, as the `x-ratelimit-remaining-*` headers say."""
    return int(bucket.level)


def _for(model: str | None) -> str:
    return f" for {model}" if model else ""


def quota_error(code: str = "insufficient_quota") -> APIError:
    """OpenAI's quota 429: final, no retry-after, type `insufficient_quota`."""
    return APIError(429, QUOTA_MESSAGE, type="insufficient_quota", code=code)
