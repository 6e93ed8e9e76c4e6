"""Page sessions: signing in with an API key gives the browser a local session cookie.

Sessions live in the server's memory only (a restart signs everyone out) and last a
working day. The cookie is HttpOnly and SameSite=Strict; calls the page makes to the API
also carry the session's CSRF token in a header, so another site cannot make them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dexacode.web.keys import ApiKey

__all__ = ["COOKIE", "CSRF_HEADER", "Session", "SessionBook"]

COOKIE = "dexacode_session"
CSRF_HEADER = "x-csrf-token"
LIFETIME = 12 * 3600.0


@dataclass(frozen=True)
class Session:
    key: ApiKey
    csrf: str
    expires: float


class SessionBook:
    def __init__(
        self, lifetime: float = LIFETIME, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, key: ApiKey) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(
            key=key, csrf=secrets.token_urlsafe(24), expires=self._clock() + self.lifetime
        )
        with self._lock:
            now = self._clock()
            for old in [t for t, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[old]
            self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires <= self._clock():
                del self._sessions[token]
                return None
            return session

    def close(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(token, None)
