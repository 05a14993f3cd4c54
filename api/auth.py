"""Bearer tokens: every route but `/health` names the scope it needs.

A missing or unknown token (or one of another deployment, or revoked) is 401; a token without
the route's scope is 403. The web console's pages send the token as an HttpOnly, SameSite
cookie instead; the cookie is honoured for reads only, so no other site can make a browser
write through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.state import ApiState, api_state
from store.api_tokens import ApiToken, Scope

COOKIE = "ferry_token"
_SAFE_METHODS = {"GET", "HEAD"}
_bearer = HTTPBearer(auto_error=False, description="A token from `ferry api token create`.")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(request: Request, state: ApiState, presented: str | None) -> ApiToken:
    """The live token `presented` is, or a 401."""
    if not presented:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    token = await state.tokens.find(presented)
    if token is None:
        raise _unauthorized("the token is not valid here (unknown, revoked or another deployment)")
    return token


def need(scope: Scope) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency: the request's token, which must carry `scope`."""

    async def check(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        state: ApiState = Depends(api_state),
    ) -> ApiToken:
        presented = credentials.credentials if credentials else None
        if presented is None and request.method in _SAFE_METHODS:
            presented = request.cookies.get(COOKIE)
        token = await authenticate(request, state, presented)
        if scope not in token.scopes:
            held = ", ".join(sorted(token.scopes)) or "none"
            raise ApiError(
                403, "forbidden", f"this needs scope {scope.value!r}; the token has {held}"
            )
        return token

    return check
