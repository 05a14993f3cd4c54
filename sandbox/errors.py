"""OpenAI's error shape: every failure the sandbox answers goes through `APIError`."""

from __future__ import annotations

from starlette.responses import JSONResponse


class APIError(Exception):
    """An error answered as OpenAI does: `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_found(kind: str, object_id: str, *, param: str | None = None) -> APIError:
    """404 for an id that does not exist in the caller's project."""
    return APIError(404, f"No {kind} found with id '{object_id}'.", param=param)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def missing_parameter(param: str) -> APIError:
    """OpenAI's 400 for a required parameter that was not sent."""
    return APIError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )
