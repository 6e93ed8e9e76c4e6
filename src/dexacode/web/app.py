"""The web app: the coder's worksheet and the HTTP API in one FastAPI application.

``create_app`` opens what the app needs once (rule book, ICD-10-CM index, history store,
key and audit tables) and wires the routes; ``dexacode serve`` runs it under uvicorn.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from dexacode import __version__
from dexacode.batch import ScrubOptions
from dexacode.coding import configured_payer_dirs, default_library
from dexacode.contract import Encounter
from dexacode.rulebook import load_rulebook
from dexacode.store import HistoryStore
from dexacode.web import api, pages
from dexacode.web.audit import AuditLog
from dexacode.web.context import WebContext
from dexacode.web.errors import CatchAll, install_handlers
from dexacode.web.jobs import JobRunner
from dexacode.web.keys import KeyStore
from dexacode.web.limits import BodyLimit, RateLimiter, SizeLimits
from dexacode.web.origin import SameOrigin
from dexacode.web.sessions import SessionBook
from dexacode.web.tables import open_database

__all__ = ["DEFAULT_RATE_LIMIT", "create_app", "shutdown"]

DEFAULT_RATE_LIMIT = 600  # calls a minute per key: ten a second, a minute's burst
STATIC = Path(__file__).parent / "static"

_DESCRIPTION = """
The dexacode API: code a DXA encounter, scrub a batch of them, read the rule book.

Every call needs an API key: `Authorization: Bearer dxk_...` (an administrator creates one
with `dexacode keys create NAME`). Errors are JSON, `{"status", "error", "field", "reason"}`.
Two kinds of 422: `contract` when an encounter breaks the contract (the field is named:
fix the encounter), `invalid` when a request or an upload cannot be read at all (no file,
a form field where a file belongs, an empty file, a format the file's name does not tell).
A body sent as anything but `application/json` to /v1/code is a 415. Too many calls with
one key is a 429, and a history store locked by another process past its timeout a 503
(nothing was coded or queued): both say in `Retry-After` when to try again. The encounter
and result shapes are those of `docs/contract.md`.
"""


def create_app(
    db_url: str | None = None,
    payer_dirs: Sequence[Path] = (),
    *,
    rate_limit: int = DEFAULT_RATE_LIMIT,
    size_limits: SizeLimits | None = None,
    jobs_dir: Path | None = None,
    job_workers: int | None = None,
    secure_cookies: bool = False,
    busy_timeout: float = 30.0,
) -> FastAPI:
    """The app on the history store at ``db_url`` (default: the SQLite file in the user's
    data folder; PostgreSQL by URL), with the shipped payer profiles, the configured ones
    and ``payer_dirs``. ``rate_limit`` is calls a minute per key (0: no limit); ``busy_timeout``
    is how long a call waits for the store's write lock before it is answered 503. Raises
    ``StoreError`` or ``RuleBookError`` (one sentence) when they cannot be opened."""
    book = load_rulebook([*configured_payer_dirs(), *payer_dirs])
    library = default_library()
    engine, shown = open_database(db_url, busy_timeout=busy_timeout)
    history = HistoryStore(db_url)
    root = jobs_dir or Path(tempfile.mkdtemp(prefix="dexacode-jobs-"))
    root.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(engine)

    def job_finished(job: Any) -> None:
        summary = job.summary or {}
        audit.record(
            key_name=job.owner,
            action="scrub",
            rules_version=book.version,
            input_sha256=job.input_sha256,
            outcome=(
                f"job {job.id} {job.state}: {summary.get('rows_read', 0)} read, "
                f"{summary.get('coded', 0)} coded, {summary.get('not_coded', 0)} not coded"
                if job.state == "done"
                else f"job {job.id} {job.state}"
            ),
        )

    jobs = JobRunner(
        root,
        ScrubOptions(
            db_url=db_url,
            payer_dirs=tuple([*configured_payer_dirs(), *payer_dirs]),
            workers=job_workers,
        ),
        on_finish=job_finished,
    )
    ctx = WebContext(
        base_book=book,
        library=library,
        history=history,
        keys=KeyStore(engine),
        audit=audit,
        limiter=RateLimiter(rate_limit),
        sessions=SessionBook(),
        jobs=jobs,
        db_shown=shown,
        secure_cookies=secure_cookies,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        shutdown(app)

    app = FastAPI(
        title="dexacode",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # /docs is our own page (pages.py): Swagger UI would load from a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.engine = engine
    install_handlers(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SameOrigin)
    app.add_middleware(BodyLimit, limits=size_limits or SizeLimits())
    app.add_middleware(CatchAll)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def shutdown(app: FastAPI) -> None:
    """Stop the job runner and close the databases (safe to call twice)."""
    ctx: WebContext = app.state.ctx
    if getattr(app.state, "closed", False):
        return
    app.state.closed = True
    ctx.jobs.close()
    ctx.history.close()
    app.state.engine.dispose()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the encounter (the /v1/code body is read by the contract's own
    parser, so FastAPI does not see the model)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    encounter = Encounter.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(encounter.pop("$defs", {}))
    components["Encounter"] = encounter
    # FastAPI documents its own validation answer for 422s; ours always sends ErrorBody
    # (errors.py turns every validation failure into one).
    if "ErrorBody" in components:
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                answer = operation.get("responses", {}).get("422")
                if answer and "HTTPValidationError" in json.dumps(answer):
                    answer["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    }
        if not any(
            "HTTPValidationError" in json.dumps(p) for p in schema.get("paths", {}).values()
        ):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
