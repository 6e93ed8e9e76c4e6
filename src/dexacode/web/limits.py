"""Request limits: body size per route and calls per minute per API key.

The size limit is ASGI middleware so an oversized upload is refused from its
``Content-Length`` before it is read, and a body without one (chunked) is cut off as soon
as it passes the limit. The rate limit is a token bucket per key: a key may burst up to a
minute's allowance, then gets one call back every ``60 / per_minute`` seconds.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dexacode.web.errors import StartWatch

__all__ = ["BodyLimit", "RateLimiter", "SizeLimits"]


@dataclass(frozen=True)
class SizeLimits:
    """Largest request body, in bytes: a coding call, a batch upload, anything else."""

    code: int = 256 * 1024
    upload: int = 50 * 1024 * 1024
    other: int = 64 * 1024

    def for_path(self, path: str) -> int:
        if path == "/v1/scrub":
            return self.upload
        if path == "/v1/code":
            return self.code
        return self.other


_UPLOAD_HINT = (
    "; split the file into smaller ones, or scrub it on the command line with "
    "`dexacode scrub`, which has no size limit"
)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over the route's limit with 413 and a JSON error."""

    def __init__(self, app: ASGIApp, limits: SizeLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        hint = _UPLOAD_HINT if scope["path"] == "/v1/scrub" else ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _refuse(send, limit, hint)
                    return
        seen = 0
        over = False  # the body passed the limit
        refused = False  # our 413 went out

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge
            return message

        async def answer(message: Message) -> None:
            # A form parser catches the error raised in receive() and answers 400 on its
            # own; once the body is over the limit, whatever the app answers becomes 413.
            nonlocal refused
            if not over:
                await send(message)
            elif not refused and message["type"] == "http.response.start":
                refused = True
                await _refuse(send, limit, hint)

        watch = StartWatch(answer)
        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            if not refused and not watch.started:
                refused = True
                await _refuse(send, limit, hint)


async def _refuse(send: Send, limit: int, hint: str = "") -> None:
    body = json.dumps(
        {
            "status": 413,
            "error": "too_large",
            "field": "",
            "reason": f"the request body is larger than this route accepts ({_size(limit)})" + hint,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MiB"
    return f"{n / 1024:g} KiB"


class RateLimiter:
    """A token bucket per API key; ``take(name)`` returns 0 when the call may go ahead, or
    the seconds to wait before the next one will."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, name: str) -> int:
        if self.per_minute <= 0:  # 0 switches the limit off
            return 0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(name, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * self._rate)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0
            self._buckets[name] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))
