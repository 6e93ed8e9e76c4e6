"""Cross-site requests refused: another site's page must not act through a coder's browser.

A hostile page can post a form to this server: to ``/login`` with its own key (the coder
then works, unaware, as someone else: login CSRF), or to a route the session cookie opens.
Browsers say where such a request comes from in ``Origin`` (``Referer`` when there is no
``Origin``), so every request that may change something (not GET, HEAD or OPTIONS) and
does not carry an API key in ``Authorization`` (a header no other site's page can set) is
refused when either names another host, or an opaque origin (``null``). A request that
names none (curl, scripts) is let through: it is not a browser acting for another site.

The pages are served with ``Referrer-Policy: same-origin``, so the browser sends their
own origin with their forms and calls (``no-referrer`` would make it ``null``). Behind a
reverse proxy, pass the browser's ``Host`` through (nginx: ``proxy_set_header Host
$host;``): this server's own host is the one the browser asked for.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["SameOrigin", "foreign_origin"]

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def foreign_origin(headers: Headers) -> str | None:
    """The other site a request says it comes from, or None when it names this server
    (the ``Host`` it was sent to) or names nothing."""
    said = headers.get("origin")
    if said is None:
        referer = headers.get("referer")
        if not referer:
            return None
        parts = urlsplit(referer)
        said = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "null"
    said = said.strip()
    if said.lower() == "null":
        return "null"
    # Origin and Host both leave out the scheme's default port, so they compare as text.
    if urlsplit(said).netloc.lower() == headers.get("host", "").strip().lower():
        return None
    return said


class SameOrigin:
    """Refuse with 403 a state-changing request without an API key that another site's
    page sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        other = None if headers.get("authorization") else foreign_origin(headers)
        if other is None:
            await self.app(scope, receive, send)
            return
        where = "a page that does not say where it is" if other == "null" else other[:200]
        body = json.dumps(
            {
                "status": 403,
                "error": "forbidden",
                "field": "origin",
                "reason": f"refused: this request was sent by another site ({where}), not by "
                "dexacode's own pages; open dexacode at its own address and work from there "
                "(programs call the API with an API key in the Authorization header)",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
