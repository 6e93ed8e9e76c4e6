"""The pages: sign-in, the coder's worksheet and the batch page, rendered on the server.

The worksheet is a form in the order a coder reads the chart; its script sends the form
to ``/v1/code`` with the page's session as the coder types and draws the answer. The
vocabulary the form offers (payers, sites, risk factors, prior-study codes, diagnostic
regions) and the chart's scale come from the rule book, so the page never holds a list of
its own; the only names it adds are the contract's non-diagnostic regions (_OTHER_REGIONS).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dexacode import __version__, contract
from dexacode.formats import report_doc
from dexacode.rulebook import Dated, RuleBook
from dexacode.web import uploads
from dexacode.web.api_docs import link_models, reference
from dexacode.web.auth import context
from dexacode.web.sessions import COOKIE, LIFETIME, Session

__all__ = ["router"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["link_models"] = link_models
router = APIRouter(include_in_schema=False)

# Pages load nothing from elsewhere: the worksheet works offline and nothing leaks out.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

# Words the form shows for the contract's values; the values themselves are the contract's.
_WORDS = {
    "screening": "screening",
    "diagnostic": "diagnostic (signs, symptoms or a condition)",
    "monitoring": "monitoring treatment or a known condition",
    "glucocorticoid_monitoring": "monitoring glucocorticoid therapy",
    "confirm_baseline": "confirming a baseline before treatment",
    "completed": "completed",
    "discontinued": "discontinued (stopped, patient's or doctor's choice)",
    "reduced": "reduced (less than planned was done)",
    "professional": "professional (837P)",
    "institutional": "institutional (837I)",
    "global": "global (scan and reading)",
    "technical": "technical only (TC)",
    "billing_provider": "our practice owns it",
    "other": "someone else owns it",
    "fee_for_time": "fee-for-time substitute (Q6)",
    "reciprocal": "reciprocal arrangement (Q5)",
    "premenopausal": "premenopausal",
    "perimenopausal": "perimenopausal",
    "postmenopausal": "postmenopausal",
}


# Region names the contract lists besides the rule book's diagnostic ones (contract.md,
# results[].region): other vertebral ranges and regions that are kept but never decide.
_OTHER_REGIONS = ("L2-L4", "L1-L3", "trochanter", "radius_ultradistal", "calcaneus")


def _choices(literal: Any) -> list[tuple[str, str]]:
    return [(value, _WORDS.get(value, value)) for value in get_args(literal)]


def _latest(rows: tuple[Dated, ...], key: str) -> dict[str, Any]:
    """The newest row of each name (the form offers a name once)."""
    out: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: r.effective):
        out[getattr(row, key)] = row
    return out


def _region_names(book: RuleBook) -> list[str]:
    """The region names the form suggests: the diagnostic ones of the rule book's
    ``[regions]`` first, then the contract's other names."""
    regions = max(book.regions, key=lambda r: r.effective)
    names = [regions.lumbar_preferred, *regions.hip_regions, *regions.forearm_regions]
    return list(dict.fromkeys([*names, *_OTHER_REGIONS]))


def _form_vocabulary(book: RuleBook) -> dict[str, Any]:
    sites = _latest(book.sites, "name")
    risks = _latest(book.risk_factors, "name")
    procedures = _latest(book.procedures, "cpt")
    return {
        "payers": [(name, book.payers[name].label) for name in book.payer_names()],
        "axial_sites": [(n, s.label) for n, s in sites.items() if s.group == "axial"],
        "peripheral_sites": [(n, s.label) for n, s in sites.items() if s.group != "axial"],
        "site_labels": {n: s.label for n, s in sites.items()},
        "risk_factors": [(n, r.label) for n, r in risks.items()],
        # A prior study counts for frequency when its code is a bone mass measurement.
        "prior_procedures": [(c, p.description) for c, p in procedures.items() if p.bmm],
        "region_names": _region_names(book),
        "order_reasons": _choices(contract.OrderReason),
        "exam_statuses": _choices(contract.ExamStatus),
        "claim_forms": _choices(contract.ClaimForm),
        "components": _choices(contract.Component),
        "equipment_owners": _choices(contract.EquipmentOwner),
        "substitutes": _choices(contract.Substitute),
        "menopausal_statuses": _choices(contract.MenopausalStatus),
    }


def _page_config(book: RuleBook) -> str:
    """What the page's script needs from the rule book, as JSON."""
    regions = max(book.regions, key=lambda r: r.effective)
    sites = _latest(book.sites, "name")
    config = {
        "sources": {k: {"title": s.title, "url": s.url} for k, s in book.sources.items()},
        "siteLabels": {n: s.label for n, s in sites.items()},
        "chart": {
            "top": report_doc.CHART_TOP,
            "bottom": report_doc.CHART_BOTTOM,
            "normalFrom": report_doc.NORMAL_FROM,
            "osteoporosisAt": report_doc.OSTEOPOROSIS_AT,
            "colors": [report_doc.GREEN, report_doc.YELLOW, report_doc.RED],
        },
        "regions": {
            "lumbarSite": regions.lumbar_site,
            "hipRegions": list(regions.hip_regions),
            "hipSites": list(regions.hip_sites),
            "forearmRegions": list(regions.forearm_regions),
            "forearmSites": list(regions.forearm_sites),
        },
    }
    # "</" never appears inside the script element, so no text can close it early.
    return json.dumps(config).replace("</", "<\\/")


# The routes that look up a key or a session are plain functions: FastAPI runs them in a
# thread, so a slow or locked database never holds up the event loop.


def _session(request: Request) -> Session | None:
    ctx = context(request)
    session = ctx.sessions.get(request.cookies.get(COOKIE))
    if session is not None and not ctx.keys.is_live(session.key.key_id):
        ctx.sessions.close(request.cookies.get(COOKIE))
        return None
    return session


def _render(request: Request, name: str, **values: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"version": __version__, "rules_version": context(request).book.version, **values},
    )
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Nothing goes to other sites; the page's own requests carry its origin (origin.py).
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
def worksheet_page(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    book = context(request).book
    return _render(
        request,
        "worksheet.html",
        session=session,
        page="worksheet",
        today=dt.date.today().isoformat(),
        vocab=_form_vocabulary(book),
        config=_page_config(book),
    )


@router.get("/batch", response_class=HTMLResponse)
def batch_page(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    return _render(
        request,
        "batch.html",
        session=session,
        page="batch",
        kinds=uploads.KINDS,
        accept=uploads.ACCEPT,
    )


@router.get("/docs", response_class=HTMLResponse)
def api_page(request: Request) -> Response:
    """The API reference: open without signing in, like /openapi.json."""
    return _render(
        request,
        "api.html",
        session=_session(request),
        page="api",
        ref=reference(request.app.openapi()),
    )


_KEY_MAX = 200  # far longer than any key dexacode makes


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    if _session(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _render(request, "login.html", session=None, page="login", problem=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, api_key: Annotated[str, Form()] = "") -> Response:
    ctx = context(request)
    api_key = api_key.strip()  # a key pasted with its line's end
    too_long = len(api_key) > _KEY_MAX
    key = ctx.keys.check(api_key) if api_key and not too_long else None
    if key is None:
        if not api_key:
            problem = "Enter your API key."
        elif too_long:
            problem = (
                "That is longer than an API key: paste the key alone, without the words "
                "`dexacode keys create` printed after it."
            )
        else:
            problem = "That API key is not valid: it is unknown, mistyped or revoked."
        refused = _render(request, "login.html", session=None, page="login", problem=problem)
        refused.status_code = 401
        return refused
    token, _ = ctx.sessions.open(key)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME),
        httponly=True,
        samesite="strict",
        secure=ctx.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    context(request).sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/favicon.ico")
async def favicon() -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)
