"""Every refusal as one JSON shape: `{"error": {"code", "message", "fields": [{loc, message}]}}`.

Field paths are the producer client's (`payload.text`, `tools[2].parameters`). Unexpected
exceptions are logged with a request id and answered 500 with that id only: no stack trace
and nothing of the request reaches the client.
"""

from __future__ import annotations

import secrets
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.assistant_parts import TOOL_KINDS
from schemas.assistants import field_path
from schemas.results import FieldError

log = structlog.get_logger("ferry.api")


class ErrorDetail(BaseModel):
    code: str = Field(description="unauthorized, forbidden, not_found, validation, conflict, …")
    message: str
    fields: list[FieldError] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every non-2xx answer."""

    error: ErrorDetail


class ApiError(Exception):
    """A refusal with its status, code and (for bad input) the fields to fix."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or []
        self.headers = headers


def invalid(fields: list[FieldError], message: str = "the request is invalid") -> ApiError:
    return ApiError(422, "validation", message, fields)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what}")


def error_response(error: ApiError) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=error.code, message=error.message, fields=error.fields))
    return JSONResponse(body.model_dump(mode="json"), error.status, headers=error.headers)


def _request_problems(errors: list[Any]) -> list[FieldError]:
    fields = []
    for item in errors:
        if item.get("type") == "json_invalid":
            reason = (item.get("ctx") or {}).get("error", "")
            fields.append(FieldError(loc="body", message=f"not valid JSON: {reason}"))
            continue
        loc = tuple(item.get("loc", ()))
        where = loc[0] if loc else "body"
        loc = loc[1:]
        if len(loc) > 1 and loc[0] in TOOL_KINDS:
            loc = loc[1:]  # a body that is a tool: the union's tag
        if len(loc) > 1 and loc[0] == "response_format":
            loc = (loc[0], *loc[2:])  # the union branch's tag
        path = field_path(loc)
        subpath = (item.get("ctx") or {}).get("subpath")
        if subpath:
            path += subpath if subpath.startswith("[") else f".{subpath}"
        if where != "body":
            path = f"{where}.{path}" if path else str(where)
        fields.append(FieldError(loc=path or "body", message=item.get("msg", "invalid")))
    return fields


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
}


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = _request_problems(list(error.errors()))
        return error_response(invalid(fields))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else code
        return error_response(ApiError(error.status_code, code, message, headers=error.headers))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = secrets.token_hex(6)
        log.exception("request failed", request_id=request_id, path=request.url.path)
        return error_response(
            ApiError(500, "internal", f"internal error (request {request_id}); see the API's log")
        )
