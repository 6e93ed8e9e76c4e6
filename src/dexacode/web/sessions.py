"""Page sessions: signing in with an API key gives the browser a local session cookie.

Sessions live in the server's memory only (a restart signs everyone out) and last a
working day. The cookie is HttpOnly and SameSite=Strict; calls the page makes to the API
also carry the session's CSRF token in a header, so another site cannot make them, and
any form another site's page posts here (a sign-in with its own key) is refused by its
origin (origin.py).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from dexacode.web.keys import ApiKey

__all__ = ["COOKIE", "CSRF_HEADER", "Session", "SessionBook"]

COOKIE = "dexacode_session"
CSRF_HEADER = "x-csrf-token"
LIFETIME = 12 * 3600.0
_CODED_KEPT = 2000  # encounters a session remembers having recorded (its most recent)


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
        # Per session: digests of the encounters whose coding is in the audit trail.
        self._coded: dict[str, OrderedDict[str, None]] = {}
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
                self._coded.pop(old, None)
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
                self._coded.pop(token, None)
                return None
            return session

    def close(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._sessions.pop(token, None)
                self._coded.pop(token, None)

    def recorded(self, token: str, digest: str) -> bool:
        """Whether this session's coding of the encounter ``digest`` is on record."""
        with self._lock:
            return digest in self._coded.get(token, ())

    def note_recorded(self, token: str, digest: str) -> None:
        with self._lock:
            if token not in self._sessions:
                return
            seen = self._coded.setdefault(token, OrderedDict())
            seen[digest] = None
            seen.move_to_end(digest)
            while len(seen) > _CODED_KEPT:
                seen.popitem(last=False)
