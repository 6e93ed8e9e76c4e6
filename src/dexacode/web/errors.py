"""Errors as the API shows them: JSON naming the field and the reason, never a traceback.

Every refusal has the same shape, ``{"status", "error", "field", "reason"}``; ``field`` is
a dotted path into the request (``patient.sex``, ``results[1].t_score``) or empty when the
request as a whole is refused. A database that stays locked or out of reach past its
timeout is a 503 with Retry-After (``StoreBusy``). Unexpected failures are logged by
exception type only (their text may quote patient data) and answered with a 500 that
says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dexacode.rulebook import RuleBookError

__all__ = ["ApiError", "CatchAll", "ErrorBody", "StoreBusy", "install_handlers"]

log = logging.getLogger("dexacode.web")


class ErrorBody(BaseModel):
    """Why a request was refused."""

    status: int
    error: str
    field: str
    reason: str


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        reason: str,
        field: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.field = field
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body = ErrorBody(status=self.status, error=self.error, field=self.field, reason=self.reason)
        return JSONResponse(body.model_dump(), status_code=self.status, headers=self.headers)


RETRY_AFTER = 5  # seconds: a lock held past the busy timeout is a long one


class StoreBusy(ApiError):
    """The store's database stayed locked by another process (or out of reach) past its
    timeout: nothing was done that the client would not see, so it may simply try again."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "busy",
            "the claim-history store is busy; try again",
            headers={"Retry-After": str(RETRY_AFTER)},
        )


_STATUS_WORDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "the request could not be read"}
    reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    field = _field(tuple(first.get("loc", ())))
    if first.get("type") == "missing":
        reason = "required field is missing"
    elif "Expected UploadFile" in reason:  # a plain form field (curl -F file=text)
        reason = (
            f"the {field or 'file'} field must be a file upload "
            f"(curl -F {field or 'file'}=@claims.jsonl), not text"
        )
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(422, "invalid", reason, field).response()


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = {
        404: "no such page or API route",
        405: "this route does not accept that method",
    }.get(exc.status_code, str(exc.detail))
    return ApiError(
        exc.status_code,
        _STATUS_WORDS.get(exc.status_code, "error"),
        reason,
        headers=exc.headers,
    ).response()


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """SQLAlchemy's OperationalError: locked past the busy timeout, or out of reach. Its
    text may quote the statement, so the log names the type and the route only."""
    log.warning(
        "the database could not be used (%s) on %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
    )
    return StoreBusy().response()


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """The CMS data loaded in the data folder cannot be read (e.g. stored by a newer
    dexacode): the administrator's to fix with `dexacode data`, which the reason names.
    The reason names files and commands, never a claim's values."""
    log.error("the loaded CMS data cannot be read on %s %s", request.method, request.url.path)
    return ApiError(503, "data_unreadable", str(exc)).response()


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RuleBookError, _data_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class StartWatch:
    """A ``send`` that notes whether the response has started: after that, middleware
    can no longer answer with a JSON error of its own."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class CatchAll:
    """Turn any exception the app lets through into a JSON 500; log its type only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = StartWatch(send)
        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error(
                "internal error (%s) on %s %s", type(exc).__name__, scope["method"], scope["path"]
            )
            if watch.started:
                raise
            body = json.dumps(
                {
                    "status": 500,
                    "error": "internal",
                    "field": "",
                    "reason": f"internal error ({type(exc).__name__}); please report it",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
