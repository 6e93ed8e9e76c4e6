"""The HTTP API, version 1: code an encounter, scrub a batch, read the rule book.

Routes translate and nothing more: the body is read with the contract's own parser (the
same errors as ``dexacode code``), coding is ``dexacode.engine``, batches are
``dexacode.batch.scrub``. Every route needs an API key (``auth.caller``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from dexacode import __version__
from dexacode.contract import CodingResult, ContractError, Encounter, parse_encounter
from dexacode.engine import code_encounter
from dexacode.formats.batch_io import BatchInputError, format_of, size_of, sniffed
from dexacode.rulebook import InputError
from dexacode.store import StoreError
from dexacode.web import offload, uploads
from dexacode.web.audit import sha256_of
from dexacode.web.auth import Caller, context, session_token
from dexacode.web.bodies import utf8_json
from dexacode.web.context import WebContext
from dexacode.web.errors import ApiError, ErrorBody, StoreBusy
from dexacode.web.jobs import Job, JobState

__all__ = ["router"]

log = logging.getLogger("dexacode.web")

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or one that is not valid."},
    403: {"model": ErrorBody, "description": "A page session call without its CSRF token."},
    413: {"model": ErrorBody, "description": "The request body is too large."},
    429: {"model": ErrorBody, "description": "Too many calls with this key; see Retry-After."},
}
_BUSY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorBody,
        "description": "The claim-history store stayed locked by another process (a long "
        "`dexacode history import`); nothing was coded or queued: try again after "
        "Retry-After.",
    },
}
# What an upload is saved as (each format's first ending), so the scrub tells its format
# as the command would; results are written under the same endings.
_INPUT_ENDINGS = {fmt: endings[0] for fmt, endings in uploads.ENDINGS.items()}
_ENDINGS = {fmt: _INPUT_ENDINGS[fmt] for fmt in ("jsonl", "csv", "parquet")}
_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/octet-stream"}

router = APIRouter(prefix="/v1", responses=_REFUSALS)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


# --- coding --------------------------------------------------------------------------------


@router.post(
    "/code",
    summary="Code one encounter",
    description=(
        "The encounter in the contract's shape (docs/contract.md) in, the Result out: claim "
        "lines with modifiers and why, ICD-10-CM diagnoses with descriptions, the reading, "
        "coverage and every finding with its sources. Prior studies in the history store "
        "are merged with the encounter's own. The body is JSON in UTF-8 (a byte-order mark "
        "is allowed), sent as `application/json`; any other media type is a 415. An "
        "encounter that breaks the contract (or a body that is not JSON) is a 422 "
        "`contract` naming the field."
    ),
    response_model=None,
    responses={
        200: {"model": CodingResult, "description": "The coded claim."},
        415: {"model": ErrorBody, "description": "The body was not sent as application/json."},
        422: {
            "model": ErrorBody,
            "description": "`contract`: the encounter breaks the contract (or is not JSON "
            "in UTF-8); `field` names where.",
        },
        **_BUSY,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Encounter"}}},
        }
    },
)
async def code_route(request: Request, key: Caller) -> Response:
    ctx = context(request)
    _check_json(request.headers.get("content-type"))
    body = await request.body()
    try:
        enc = parse_encounter(utf8_json(body))
    except ContractError as exc:
        raise ApiError(422, "contract", exc.message or str(exc), exc.field) from None
    # Reading the prior studies and writing the audit row wait on the database: in a
    # thread (one hop for both), so a locked store never freezes the event loop.
    answer = await offload.db_write(
        _code_and_record, ctx, key.name, enc, body, session_token(request)
    )
    return Response(answer, media_type="application/json")


def _code_and_record(
    ctx: WebContext, key_name: str, enc: Encounter, body: bytes, session: str | None
) -> str:
    """The result as JSON, once its audit row is written. Recorded before the answer, so a
    claim the client sees coded is on record; a store locked past its timeout raises an
    OperationalError, answered 503 (errors.py) to try again.

    The worksheet codes as the coder types, so its session sends the same encounter again
    and again (a change event, a retry after 429, a box ticked and unticked). Each
    distinct coding a session sees is recorded once, the first time: the same encounter
    with the same answer. The answer is part of it because the CMS data loaded while the
    server runs can change it (an MUE table imported mid-session): that recoding is
    recorded. Every distinct encounter is still recorded, drafts included, because the
    coder saw each answer and may have used it: recording only on "copy" or "print" would
    leave codings off the record. Calls with an API key are all recorded."""
    result = _code(ctx, enc)
    answer = result.model_dump_json()
    # The encounter as read, not its bytes: the same encounter written otherwise is one.
    digest = sha256_of(f"{enc.model_dump_json()}\n{answer}".encode()) if session else ""
    if session is None or not ctx.sessions.recorded(session, digest):
        _record_coding(ctx, key_name, enc, result, body)
        if session is not None:
            ctx.sessions.note_recorded(session, digest)
    return answer


def _record_coding(
    ctx: WebContext, key_name: str, enc: Encounter, result: CodingResult, body: bytes
) -> None:
    """The coding's audit row: the claim id and the input's hash, never the patient."""
    errors = sum(f.severity == "error" for f in result.findings)
    warnings = sum(f.severity == "warning" for f in result.findings)
    ctx.audit.record(
        key_name=key_name,
        action="code",
        claim_id=enc.claim_id,
        rules_version=result.rules_version,
        input_sha256=sha256_of(body),
        outcome=(
            f"{' '.join(line.cpt for line in result.lines) or 'no line'}; "
            f"{errors} error(s), {warnings} warning(s)"
        ),
    )


def _check_json(content_type: str | None) -> None:
    """Refuse a body sent as anything but JSON (no Content-Type is read as JSON, as
    FastAPI does)."""
    if content_type is None:
        return
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the encounter as JSON with 'Content-Type: application/json' (this body was "
            f"sent as {content_type.split(';', 1)[0].strip()[:100] or 'nothing'})",
            "content-type",
        )


def _code(ctx: WebContext, enc: Encounter) -> CodingResult:
    """The encounter coded with the store's prior studies of its patient."""
    try:
        rules = ctx.book.in_force(enc.date_of_service, enc.payer)
        release, exact = ctx.library.for_date(enc.date_of_service)
        try:
            stored, same_date = ctx.history.for_claim(
                enc.patient.id, enc.date_of_service, rules.payer.family, enc.claim_id
            )
        except StoreError:
            raise StoreBusy() from None
        return code_encounter(
            enc, rules, release, icd_exact=exact, history=stored, same_date_claims=same_date
        )
    except InputError as exc:
        raise ApiError(422, "contract", exc.message, exc.field) from None


# --- batches -------------------------------------------------------------------------------


class JobStatus(BaseModel):
    """A batch job: where it stands and, once done, what it found."""

    id: str
    state: JobState
    progress: float
    created_at: dt.datetime
    finished_at: dt.datetime | None
    input_format: str
    output_format: str
    summary: dict[str, Any] | None
    error: str | None
    results_url: str | None
    errors_url: str | None


def _status(job: Job) -> JobStatus:
    done = job.state == "done"
    has_errors = bool(done and job.summary and job.summary.get("errors_file"))
    return JobStatus(
        id=job.id,
        state=job.state,
        progress=round(job.progress, 4),
        created_at=job.created_at,
        finished_at=job.finished_at,
        input_format=job.input_format,
        output_format=job.output_format,
        summary=job.summary,
        error=job.error,
        results_url=f"/v1/jobs/{job.id}/results" if done else None,
        errors_url=f"/v1/jobs/{job.id}/errors" if has_errors else None,
    )


@router.post(
    "/scrub",
    summary="Scrub a batch file",
    description=(
        "Upload a batch file (JSON Lines, CSV or Parquet in the layout of docs/batch.md, an "
        "X12 837P file, or FHIR Bundles; the format comes from the file's ending unless "
        "`format` is given). The answer is a job to follow at /v1/jobs/{id}; its results "
        "download in `out_format`, and the rows that could not be coded as CSV when "
        "`out_format` is csv, else JSON Lines."
    ),
    status_code=202,
    responses={
        202: {"description": "The job, queued."},
        422: {
            "model": ErrorBody,
            "description": "`invalid`: the upload cannot be read (no file, a form field "
            "instead of a file, an empty file, a format that cannot be told from its name).",
        },
        **_BUSY,
    },
)
async def scrub_route(
    request: Request,
    key: Caller,
    file: Annotated[UploadFile, File(description="The batch file.")],
    format: Annotated[
        Literal["jsonl", "csv", "parquet", "x12", "fhir"] | None,
        Form(description="The input format when the file's ending does not say."),
    ] = None,
    out_format: Annotated[
        Literal["jsonl", "csv", "parquet"],
        Form(
            description="Results: jsonl (one result per encounter) or csv / parquet (a row "
            "per claim line)."
        ),
    ] = "jsonl",
) -> JobStatus:
    ctx = context(request)
    name = Path(file.filename or "").name
    try:
        # The name only: it is the client's, not a path on this server.
        in_fmt = format_of(Path(name or "upload"), format, look=False)
    except BatchInputError:
        raise ApiError(
            422,
            "invalid",
            "cannot tell the file's format from its name; name it "
            f"{uploads.endings_in_words()}, or give format",
            "file",
        ) from None
    job_id, folder = await offload.thread(ctx.jobs.new_dir)
    try:
        job = await offload.thread(
            _saved_job, file, folder, in_fmt, format is None, out_format, job_id, key.name, name
        )
        # Recorded before the job is queued; a store locked past its timeout is a 503.
        await offload.db_write(
            ctx.audit.record,
            key_name=key.name,
            action="scrub",
            rules_version=ctx.book.version,
            input_sha256=job.input_sha256,
            outcome=f"job {job_id} queued ({job.input_format})",
        )
    except BaseException:
        await offload.thread(ctx.jobs.discard, job_id)
        raise
    ctx.jobs.submit(job)
    return _status(job)


def _saved_job(
    upload: UploadFile,
    folder: Path,
    in_fmt: str,
    sniff: bool,
    out_format: str,
    job_id: str,
    owner: str,
    name: str,
) -> Job:
    """The upload saved in the job's folder (as ``input.<ending>``, so the scrub tells its
    format as the command would) and the job that will scrub it. Blocking: run in a
    thread."""
    input_path = folder / f"input{_INPUT_ENDINGS[in_fmt]}"
    digest = hashlib.sha256()
    upload.file.seek(0)
    with input_path.open("wb") as fh:
        while chunk := upload.file.read(1024 * 1024):
            digest.update(chunk)
            fh.write(chunk)
    if sniff and sniffed(input_path, in_fmt) != in_fmt:  # FHIR under .ndjson
        in_fmt = sniffed(input_path, in_fmt)
        input_path = input_path.rename(folder / f"input{_INPUT_ENDINGS[in_fmt]}")
    return Job(
        id=job_id,
        owner=owner,
        input_path=input_path,
        output_path=folder / f"results{_ENDINGS[out_format]}",
        errors_path=folder / ("errors.csv" if out_format == "csv" else "errors.jsonl"),
        input_format=in_fmt,
        output_format=out_format,
        total=_progress_total(input_path),
        created_at=dt.datetime.now(dt.UTC),
        input_sha256=digest.hexdigest(),
        upload_name=name,
    )


def _progress_total(path: Path) -> int:
    if path.stat().st_size == 0:
        raise ApiError(422, "invalid", "the file is empty: no encounters to scrub", "file")
    try:
        return size_of(path)
    except Exception:  # pyarrow raises its own error types for a damaged file
        raise ApiError(422, "invalid", "the Parquet file cannot be read", "file") from None


def _job(request: Request, key: Caller, job_id: str) -> Job:
    job = context(request).jobs.get(job_id, key.name)
    if job is None:
        raise ApiError(404, "not_found", "no such job for this key", "job_id")
    return job


@router.get(
    "/jobs/{job_id}",
    summary="A batch job's progress and summary",
    responses={404: {"model": ErrorBody, "description": "No such job for this key."}},
)
async def job_route(request: Request, key: Caller, job_id: str) -> JobStatus:
    return _status(_job(request, key, job_id))


@router.get(
    "/jobs/{job_id}/results",
    summary="Download a finished job's results",
    response_class=FileResponse,
    responses={
        200: {"description": "The results file."},
        404: {"model": ErrorBody, "description": "No such job, or it is not finished."},
    },
)
async def job_results_route(request: Request, key: Caller, job_id: str) -> FileResponse:
    job = _job(request, key, job_id)
    if job.state == "failed":
        raise ApiError(404, "not_found", f"the job failed: {job.error}", "job_id")
    if job.state != "done" or not job.output_path.exists():
        raise ApiError(
            404, "not_found", f"the job has no results yet (it is {job.state})", "job_id"
        )
    return FileResponse(
        job.output_path,
        media_type=_MEDIA[job.output_format],
        filename=f"results-{job.id[:8]}{_ENDINGS[job.output_format]}",
    )


@router.get(
    "/jobs/{job_id}/errors",
    summary="Download the rows a finished job could not code",
    response_class=FileResponse,
    responses={
        200: {"description": "Row, claim id, field and reason of each row not coded."},
        404: {"model": ErrorBody, "description": "No such job, or every row was coded."},
    },
)
async def job_errors_route(request: Request, key: Caller, job_id: str) -> FileResponse:
    job = _job(request, key, job_id)
    if job.state != "done" or not job.errors_path.exists():
        raise ApiError(404, "not_found", "the job has no rows that could not be coded", "job_id")
    fmt = "csv" if job.errors_path.suffix == ".csv" else "jsonl"
    return FileResponse(
        job.errors_path,
        media_type=_MEDIA[fmt],
        filename=f"not-coded-{job.id[:8]}{_ENDINGS[fmt]}",
    )


# --- the rule book -------------------------------------------------------------------------


class SourceRef(BaseModel):
    key: str
    title: str
    url: str


class RuleSummary(BaseModel):
    id: str
    severity: str
    title: str
    expected_denial: bool
    severity_by_payer: dict[str, str]
    sources: list[SourceRef]


class RuleDetail(RuleSummary):
    why: str
    message: str
    action: str
    effective: dt.date
    ends: dt.date | None
    placeholders: list[str] = Field(
        description="The {names} in why, message and action: filled in from the claim "
        "(its dates, codes, the months of its payer) when the finding is raised."
    )


class RuleBookSummary(BaseModel):
    version: str
    payers: list[str]
    rules: list[RuleSummary]


def _sources(request: Request, keys: tuple[str, ...]) -> list[SourceRef]:
    book = context(request).book
    return [
        SourceRef(key=k, title=book.sources[k].title, url=book.sources[k].url)
        if k in book.sources
        else SourceRef(key=k, title="", url="")
        for k in keys
    ]


def _summary(request: Request, rule_id: str) -> dict[str, Any]:
    book = context(request).book
    rule = book.finding(rule_id)
    return {
        "id": rule.id,
        "severity": rule.severity,
        "title": rule.title,
        "expected_denial": rule.expected_denial,
        "severity_by_payer": {
            name: p.severity[rule_id]
            for name, p in sorted(book.payers.items())
            if rule_id in p.severity
        },
        "sources": _sources(request, rule.source),
    }


@router.get("/rules", summary="Every rule (finding) of the rule book with its sources")
async def rules_route(request: Request, _key: Caller) -> RuleBookSummary:
    book = context(request).book
    return RuleBookSummary(
        version=book.version,
        payers=book.payer_names(),
        rules=[RuleSummary(**_summary(request, fid)) for fid in book.finding_ids()],
    )


@router.get(
    "/rules/{rule_id}",
    summary="One rule: why, what to do, when in force, sources",
    responses={404: {"model": ErrorBody, "description": "No rule with that id."}},
)
async def rule_route(request: Request, _key: Caller, rule_id: str) -> RuleDetail:
    book = context(request).book
    wanted = rule_id.strip().upper()
    if wanted not in book.finding_ids():
        raise ApiError(404, "not_found", "no rule with that id; see /v1/rules", "rule_id")
    rule = book.finding(wanted)
    return RuleDetail(
        **_summary(request, wanted),
        why=rule.why,
        message=rule.message,
        action=rule.action,
        effective=rule.effective,
        ends=rule.ends,
        placeholders=sorted(set(_PLACEHOLDER.findall(rule.why + rule.message + rule.action))),
    )


# --- health --------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    rules_version: str
    icd10cm_releases: list[str]
    database: Literal["sqlite", "postgresql"]


@router.get("/health", summary="Is the server up, and with which rule book")
async def health_route(request: Request, _key: Caller) -> Health:
    ctx = context(request)
    return Health(
        status="ok",
        version=__version__,
        rules_version=ctx.book.version,
        icd10cm_releases=[ctx.library.release(y).label for y in ctx.library.years()],
        database="sqlite" if ctx.db_shown.startswith("sqlite") else "postgresql",
    )
