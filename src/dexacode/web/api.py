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
from dexacode.contract import CodingResult, ContractError, parse_encounter
from dexacode.engine import code_encounter
from dexacode.formats.batch_io import BatchInputError, format_of, size_of, sniffed
from dexacode.rulebook import InputError
from dexacode.web.audit import sha256_of
from dexacode.web.auth import Caller, context
from dexacode.web.errors import ApiError, ErrorBody
from dexacode.web.jobs import Job, JobState

__all__ = ["router"]

log = logging.getLogger("dexacode.web")

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API key, or one that is not valid."},
    403: {"model": ErrorBody, "description": "A page session call without its CSRF token."},
    413: {"model": ErrorBody, "description": "The request body is too large."},
    429: {"model": ErrorBody, "description": "Too many calls with this key; see Retry-After."},
}
_ENDINGS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet"}
# What an upload is saved as, so the scrub tells its format as the command would.
_INPUT_ENDINGS = {**_ENDINGS, "x12": ".837", "fhir": ".fhir.json"}
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
        "are merged with the encounter's own. A contract violation is a 422 naming the field."
    ),
    response_model=None,
    responses={
        200: {"model": CodingResult, "description": "The coded claim."},
        422: {"model": ErrorBody, "description": "The encounter breaks the contract."},
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
    body = await request.body()
    try:
        enc = parse_encounter(body)
    except ContractError as exc:
        raise ApiError(422, "contract", exc.message or str(exc), exc.field) from None
    try:
        rules = ctx.book.in_force(enc.date_of_service, enc.payer)
        release, exact = ctx.library.for_date(enc.date_of_service)
        stored = ctx.history.studies_for([enc.patient.id], family=rules.payer.family).get(
            enc.patient.id, []
        )
        result = code_encounter(enc, rules, release, icd_exact=exact, history=stored)
    except InputError as exc:
        raise ApiError(422, "contract", exc.message, exc.field) from None
    errors = sum(f.severity == "error" for f in result.findings)
    warnings = sum(f.severity == "warning" for f in result.findings)
    ctx.audit.record(
        key_name=key.name,
        action="code",
        claim_id=enc.claim_id,
        rules_version=result.rules_version,
        input_sha256=sha256_of(body),
        outcome=(
            f"{' '.join(line.cpt for line in result.lines) or 'no line'}; "
            f"{errors} error(s), {warnings} warning(s)"
        ),
    )
    return Response(result.model_dump_json(), media_type="application/json")


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
        422: {"model": ErrorBody, "description": "The file's format cannot be told."},
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
            "cannot tell the file's format from its name; name it .jsonl, .csv, .parquet, "
            ".837 or .fhir.json, or give format",
            "file",
        ) from None
    job_id, folder = ctx.jobs.new_dir()
    input_path = folder / f"input{_INPUT_ENDINGS[in_fmt]}"
    digest = hashlib.sha256()
    with input_path.open("wb") as fh:
        while chunk := await file.read(1024 * 1024):
            digest.update(chunk)
            fh.write(chunk)
    if format is None and sniffed(input_path, in_fmt) != in_fmt:  # FHIR under .ndjson
        in_fmt = sniffed(input_path, in_fmt)
        input_path = input_path.rename(folder / f"input{_INPUT_ENDINGS[in_fmt]}")
    try:
        total = _progress_total(input_path)
    except ApiError:
        ctx.jobs.discard(job_id)
        raise
    job = Job(
        id=job_id,
        owner=key.name,
        input_path=input_path,
        output_path=folder / f"results{_ENDINGS[out_format]}",
        errors_path=folder / ("errors.csv" if out_format == "csv" else "errors.jsonl"),
        input_format=in_fmt,
        output_format=out_format,
        total=total,
        created_at=dt.datetime.now(dt.UTC),
        input_sha256=digest.hexdigest(),
        upload_name=name,
    )
    ctx.audit.record(
        key_name=key.name,
        action="scrub",
        rules_version=ctx.book.version,
        input_sha256=digest.hexdigest(),
        outcome=f"job {job_id} queued ({in_fmt})",
    )
    ctx.jobs.submit(job)
    return _status(job)


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
