"""What went wrong with an OpenAI call, as exactly one kind; the kind decides what happens next.

Every SDK and transport error maps to one class of this tree (`classify`). Each is a
`JobFailure`, so a kind that escapes the call layer fails the job with OpenAI's own message
and the request that got it; the call layer retries the retryable ones first.

    OpenAICallError (JobFailure)   an OpenAI call that did not succeed
     ├── Retryable                 waiting and calling again can succeed
     │    ├── RateLimited          429 rate_limit_exceeded / slow_down: wait as the headers say
     │    ├── Transient            408, 409, 5xx; a timeout or lost connection where nothing was
     │    │                        created (a GET, or a request that never left)
     │    └── Busy                 400 conversation_locked, "… while a run … is active": contention
     ├── QuotaExhausted            429 insufficient_quota (billing_hard_limit_reached, …): final,
     │                             and the profile cools down for every worker
     ├── Ambiguous                 a POST that timed out or lost its connection: the server may
     │                             have acted; the caller reconciles before calling again
     └── Final                     any other 4xx: bad request, not found, model_not_found, …
          └── ProfileMisconfigured  the profile's settings are wrong: no key, a refused key,
                                    a base URL that is no OpenAI server; names the variable
"""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any, ClassVar

import openai

from schemas.profiles import env_prefix
from worker.kinds import JobFailure
from worker.logs import redact

# 429s that no wait cures: the account is out of money, not out of rate.
QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "credit_balance_exhausted",
        "project_spend_limit_exceeded",
        "organization_spend_limit_exceeded",
        "billing_not_active",
    }
)
# Methods whose timeout or lost answer never leaves a half-made object behind.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_RUN_ACTIVE = re.compile(r"while a run \S+ is active", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class OpenAICallError(JobFailure):
    """An OpenAI call that did not succeed; `kind` names what happens next."""

    kind: ClassVar[str] = "final"

    def __init__(
        self,
        message: str,
        *,
        profile: str,
        request: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.profile, self.request, self.status, self.code = profile, request, status, code
        self.request_id, self.retry_after_s = request_id, retry_after_s
        detail: dict[str, Any] = {"openai_error": self.kind, "profile": profile, "request": request}
        detail |= {k: v for k, v in (("status", status), ("code", code)) if v is not None}
        if request_id:
            detail["request_id"] = request_id
        super().__init__(message, detail=detail)


class Retryable(OpenAICallError):
    """Waiting and calling again can succeed."""


class RateLimited(Retryable):
    kind = "rate_limited"


class Transient(Retryable):
    kind = "transient"


class Busy(Retryable):
    kind = "busy"


class QuotaExhausted(OpenAICallError):
    kind = "quota"


class Ambiguous(OpenAICallError):
    kind = "ambiguous"


class Final(OpenAICallError):
    kind = "final"


class ProfileMisconfigured(Final):
    """The profile's own settings are wrong; the message names the variable to fix."""


def classify(
    error: openai.OpenAIError, *, profile: str, idempotent: bool | None = None, reached: bool = True
) -> OpenAICallError:
    """The one kind `error` is. `reached`: this profile's server has answered before."""
    request = _request_name(error)
    prefix = env_prefix(profile)
    where = f"profile {profile!r}: {request}"
    if isinstance(error, openai.APIStatusError):
        return _from_status(error, profile=profile, request=request, prefix=prefix)
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__
        never_sent = type(cause).__name__ in ("ConnectError", "ConnectTimeout", "PoolTimeout")
        if type(cause).__name__ == "ConnectError" and not reached:
            # A server this worker has never reached refuses the connection or has no such
            # name: a wrong URL, which no retry cures.
            return ProfileMisconfigured(
                f"{where}: cannot connect to {_server(error)} ({cause}); check {prefix}BASE_URL",
                profile=profile,
                request=request,
            )
        method = error.request.method.upper()
        safe = idempotent if idempotent is not None else method in _IDEMPOTENT_METHODS
        what = "timed out" if isinstance(error, openai.APITimeoutError) else "lost its connection"
        if never_sent or safe:
            return Transient(f"{where} {what}", profile=profile, request=request)
        return Ambiguous(
            f"{where} {what} before an answer: the server may have acted on it; reconcile "
            "(find the object by its tag) before sending it again",
            profile=profile,
            request=request,
        )
    return Final(f"{where}: {type(error).__name__}: {error}", profile=profile, request=request)


def _from_status(
    error: openai.APIStatusError, *, profile: str, request: str, prefix: str
) -> OpenAICallError:
    status, body = error.status_code, error.body
    is_openai = isinstance(body, dict) and "message" in body
    # Quoted into results and the ledger: a server that echoes a key must not leak it there.
    said = redact(str(body["message"]) if is_openai else _short(body))
    code = error.code or (body.get("type") if isinstance(body, dict) else None)
    label = f"{status} {code}" if code else str(status)
    message = f"profile {profile!r}: {request} answered {label}: {said}"
    if error.request_id:
        message += f" (request id {error.request_id})"
    args: dict[str, Any] = {
        "profile": profile,
        "request": request,
        "status": status,
        "code": code,
        "request_id": error.request_id,
    }
    if status == 429:
        if error.type == "insufficient_quota" or code in QUOTA_CODES:
            return QuotaExhausted(message, **args)
        if said.startswith("Request too large"):
            return Final(message, **args)  # bigger than the whole budget: no wait admits it
        return RateLimited(message, retry_after_s=retry_after(error.response.headers), **args)
    if status in (408, 409) or status >= 500:
        return Transient(message, **args)
    if status == 400 and (code == "conversation_locked" or _RUN_ACTIVE.search(said)):
        return Busy(message, **args)
    if status == 401:
        setting = {"mismatched_organization": "ORG_ID", "mismatched_project": "PROJECT_ID"}
        return ProfileMisconfigured(
            f"{message}; check {prefix}{setting.get(code or '', 'API_KEY')}", **args
        )
    if status == 403:
        return ProfileMisconfigured(f"{message}; check {prefix}ORG_ID and PROJECT_ID", **args)
    # OpenAI answers a route it does not have "Invalid URL (GET /files)"; other servers
    # answer 404 with no OpenAI error at all. Either way the base URL is wrong, not an id.
    if status == 404 and (not is_openai or said.startswith("Invalid URL")):
        return ProfileMisconfigured(
            f"{message}; the server has no such route: check {prefix}BASE_URL "
            "(it ends in /v1 for OpenAI and most compatible servers)",
            **args,
        )
    return Final(message, **args)


def retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, `retry-after`, then the resets."""
    if ms := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if value := headers.get("retry-after"):
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, when.timestamp() - time.time())
    resets = [
        parse_duration(headers.get(name))
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
    ]
    known = [r for r in resets if r is not None]
    return min(known) if known else None


def parse_duration(text: str | None) -> float | None:
    """OpenAI's reset durations (`20ms`, `1s`, `6m0s`, `1h2m3.5s`) in seconds."""
    if not text:
        return None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _request_name(error: openai.OpenAIError) -> str:
    request = getattr(error, "request", None)
    if request is None:
        return "(no request)"
    return f"{request.method} {request.url.path}"


def _server(error: openai.APIConnectionError) -> str:
    url = error.request.url
    return f"{url.scheme}://{url.netloc.decode()}"


def _short(body: object) -> str:
    text = " ".join(str(body).split()) if body is not None else "(no body)"
    return text if len(text) <= 200 else text[:200] + "…"
