"""Who is calling: an API key in ``Authorization: Bearer``, or the page's session cookie.

Every ``/v1`` route depends on ``caller``. It also applies the per-key rate limit, so a
refused key costs nothing and an accepted one is counted once per call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dexacode.web.context import WebContext
from dexacode.web.errors import ApiError
from dexacode.web.keys import ApiKey
from dexacode.web.sessions import COOKIE, CSRF_HEADER

__all__ = ["Caller", "caller", "context", "session_token"]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `dexacode keys create NAME`: `Authorization: Bearer dxk_...`.",
)
_NO_KEY = (
    "an API key is needed: send 'Authorization: Bearer <key>' (an administrator creates "
    "one with `dexacode keys create NAME`)"
)


def context(request: Request) -> WebContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, WebContext)
    return ctx


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The key behind the request (a plain function: FastAPI runs it in a thread, so the
    key's database lookup never holds up the event loop)."""
    ctx = context(request)
    if request.headers.get("authorization"):
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "unauthorized", _NO_KEY, "authorization", _challenge())
        key = ctx.keys.check(credentials.credentials)
        if key is None:
            raise ApiError(
                401,
                "unauthorized",
                "the API key is not valid: unknown, mistyped or revoked",
                "authorization",
                _challenge(),
            )
    else:
        session = ctx.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise ApiError(401, "unauthorized", _NO_KEY, "authorization", _challenge())
        # Reading (a download link) needs only the cookie, which SameSite=Strict keeps to
        # this site; anything that changes or costs needs the page's token as well.
        if (
            request.method not in ("GET", "HEAD")
            and request.headers.get(CSRF_HEADER) != session.csrf
        ):
            raise ApiError(
                403,
                "forbidden",
                "a call with the page's session must carry its X-CSRF-Token header",
                CSRF_HEADER,
            )
        if not ctx.keys.is_live(session.key.key_id):
            ctx.sessions.close(request.cookies.get(COOKIE))
            raise ApiError(
                401,
                "unauthorized",
                "the key this session signed in with has been revoked; sign in again",
                "authorization",
            )
        key = session.key
    wait = ctx.limiter.take(key.name)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many calls with this key (limit {ctx.limiter.per_minute} a minute); "
            f"try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return key


def session_token(request: Request) -> str | None:
    """The page session's token when the call is made with it (no API key header)."""
    if request.headers.get("authorization"):
        return None
    return request.cookies.get(COOKIE) or None


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="dexacode"'}


Caller = Annotated[ApiKey, Depends(caller)]
