"""Scrubbing a batch file: every encounter coded and checked, every row accounted for.

The run has three steps, the first two in a pool of worker processes:
1. Every row is coded on its own (with the history store's prior studies), in bounded
   chunks so memory stays flat; each chunk's results go to a part file of its own.
2. Patients with more than one encounter in the file are coded again in date order, each
   encounter seeing the earlier ones as prior studies, whatever the file order.
3. The parts are joined in input order with step 2's results in place of the first ones
   (JSON Lines and Parquet in one pass; a CSV output is joined, then rewritten).

Rows that cannot be coded go to the errors file with their row number, claim id, field
and reason; ``rows read = results + bad rows`` always holds, and so does ``lines of data =
lines coded + lines not coded + blank lines`` (a CSV row may take several lines: a quote
left open).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import shutil
import uuid
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexacode.contract import CodingResult, ContractError, PriorStudy
from dexacode.data import with_loaded_data
from dexacode.engine import SameDateClaim, code_encounter
from dexacode.engine.same_date import billed_as
from dexacode.formats.batch_io import (
    BatchInputError,
    BatchOutputError,
    ErrorWriter,
    LineCount,
    ParquetSlice,
    RawRow,
    ResultWriter,
    Span,
    check_input_shape,
    claim_id_of,
    encounter_of,
    format_of,
    is_special_file,
    join_csv_parts,
    jsonl_spans,
    output_problem,
    parquet_slices,
    read_parquet_slice,
    read_rows,
    read_span,
    read_wanted_rows,
    result_rows,
    write_failure,
)
from dexacode.formats.flat import FlatRowError
from dexacode.formats.naming import format_by_ending
from dexacode.icd10 import Icd10Library, open_library
from dexacode.rulebook import InputError, RuleBook, RuleSet, load_rulebook

__all__ = ["BatchInputError", "BatchOutputError", "ScrubOptions", "ScrubSummary", "scrub"]


@dataclass(frozen=True)
class ScrubOptions:
    input_format: str | None = None
    output_format: str | None = None
    db_url: str | None = None  # None: the default store in the user's data folder
    use_store: bool = True
    record: bool = False
    payer_dirs: tuple[Path, ...] = ()
    workers: int | None = None  # None: one per core
    chunk_size: int = 1000
    fhir: bool = False  # JSON Lines output as FHIR Bundles (Claim, DiagnosticReport, findings)


@dataclass
class ScrubSummary:
    rows_read: int = 0  # rows holding something: blank lines are not rows
    results: int = 0
    bad_rows: int = 0
    blank_lines: int = 0  # empty lines or rows, skipped
    # Lines of data (CSV: after the header), counted by the reader apart from its rows,
    # and the lines of the rows not coded: a CSV row over several lines (a quote left
    # open) is one row not coded, and these show the lines it took.
    lines_read: int = 0
    bad_lines: int = 0
    clean: int = 0
    with_errors: int = 0
    with_warnings: int = 0  # warnings but no error
    finding_counts: Counter[str] = field(default_factory=Counter)  # by finding id
    # By finding id and the severity it had (a payer profile may make it stricter).
    severity_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    recoded: int = 0
    recording: bool = False  # --record was asked for
    recorded: int = 0  # studies added to the store
    record_updated: int = 0  # stored studies whose coverage changed (a claim's new version)
    record_replaced: int = 0  # stored studies of earlier versions of these claims, removed
    record_duplicates: int = 0  # studies the store held already
    record_problem: str | None = None  # why --record recorded nothing (results written)
    interrupted: bool = False  # Ctrl-C while recording
    record_unknown: bool = False  # interrupted, and the store could not say if it recorded
    output: Path | None = None
    errors_path: Path | None = None
    titles: dict[str, str] = field(default_factory=dict)
    severities: dict[str, str] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        """Every row, and every line of data, is in the results, the errors file or the
        blank lines: nothing was lost."""
        return (
            self.rows_read == self.results + self.bad_rows
            and self.lines_read == self.results + self.bad_lines + self.blank_lines
        )

    @property
    def exit_code(self) -> int:
        return 1 if (self.with_errors or self.bad_rows) else 0

    def top_problems(self, n: int = 5) -> list[str]:
        """The most frequent problems, errors first: a finding counted apart for each
        severity it had (a payer profile may make it an error for some claims only)."""
        order = {"error": 0, "warning": 1}
        ranked = sorted(
            (pair for pair, count in self.severity_counts.items() if count and pair[1] in order),
            key=lambda pair: (order[pair[1]], -self.severity_counts[pair], pair[0]),
        )
        return [
            f"{self.severity_counts[(fid, sev)]:,} x {self.titles.get(fid, fid)} ({fid}, {sev})"
            for fid, sev in ranked[:n]
        ]


# --- the work of one row -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bad:
    row: int
    claim_id: str | None
    field: str
    reason: str
    lines: int = 1  # the lines of the file it took


@dataclass(frozen=True, slots=True)
class _Good:
    row: int
    patient_id: str
    date_of_service: dt.date
    family: str
    output: Any  # JSON text (jsonl) or flat rows (csv/parquet)
    has_error: bool
    has_warning: bool
    findings: tuple[tuple[str, str], ...]  # (finding id, severity)
    lines: tuple[tuple[str, bool], ...]  # (cpt, covered: no expected denial on it)
    claim_id: str
    billed: str | None  # what the claim bills of the study (rule book [parts_billed])


# A stored study, the payer family it was recorded under, the claim it was billed on and
# what that claim billed of it (None: not known).
Stored = tuple[PriorStudy, str | None, str | None, str | None]


def _no_studies(stored: list[Stored], family: str, claim_id: str | None) -> list[PriorStudy]:
    return []


def _no_claims(
    stored: list[Stored], day: dt.date, family: str, claim_id: str | None
) -> list[SameDateClaim]:
    return []


class _Coder:
    """What a worker needs, loaded once per process."""

    def __init__(self, options: ScrubOptions, out_fmt: str) -> None:
        self.book: RuleBook = with_loaded_data(load_rulebook(list(options.payer_dirs)))
        self.library: Icd10Library = open_library()
        self.out_fmt = "fhir" if options.fhir else out_fmt
        # FHIR Bundles are JSON text, one per line, like the contract's results.
        self.part_fmt = "jsonl" if self.out_fmt == "fhir" else out_fmt
        self.shared: dict[Any, Any] = {}  # values interned across this worker's visits
        self.record = options.record  # visits keep their claim id, to be recorded by it
        self.store: Any = None
        self.seen_by: Callable[[list[Stored], str, str | None], list[PriorStudy]] = _no_studies
        self.of_date: Callable[[list[Stored], dt.date, str, str | None], list[SameDateClaim]] = (
            _no_claims
        )
        if options.use_store:
            from dexacode.store import HistoryStore, as_seen_by, claims_of_date

            self.store = HistoryStore(options.db_url)
            self.seen_by = as_seen_by
            self.of_date = claims_of_date

    def code_rows(
        self,
        rows: Sequence[RawRow],
        run_history: dict[int, list[PriorStudy]] | None = None,
        stored: dict[str, list[Stored]] | None = None,
        same_date: dict[int, list[SameDateClaim]] | None = None,
    ) -> list[_Good | _Bad]:
        """Code rows; ``stored`` is the store's studies when the caller fetched them,
        ``run_history`` and ``same_date`` a row's earlier visits and other claims of its
        date in this run."""
        parsed: list[tuple[RawRow, Any] | _Bad] = []
        for raw in rows:
            parsed.append(self._parse(raw))
        if stored is None:
            stored = self.stored_for({p[1].patient.id for p in parsed if not isinstance(p, _Bad)})
        out: list[_Good | _Bad] = []
        for item in parsed:
            if isinstance(item, _Bad):
                out.append(item)
                continue
            raw, enc = item
            run = run_history.get(raw.row, []) if run_history else []
            same = same_date.get(raw.row, []) if same_date else []
            out.append(self._code(raw, enc, stored.get(enc.patient.id, []), run, same))
        return out

    def close(self) -> None:
        """Let go of the history store (a worker process just ends instead)."""
        if self.store is not None:
            self.store.close()
            self.store = None

    def stored_for(self, patients: set[str]) -> dict[str, list[Stored]]:
        """The history store's studies of these patients with the payer family each was
        recorded under, in one look-up."""
        if self.store is None or not patients:
            return {}
        result: dict[str, list[Stored]] = self.store.studies_with_family(patients)
        return result

    def _parse(self, raw: RawRow) -> tuple[RawRow, Any] | _Bad:
        if raw.problem is not None:
            return _Bad(raw.row, raw.claim_id, "", raw.problem, raw.lines)
        try:
            enc = encounter_of(raw)
        except FlatRowError as exc:
            return _Bad(raw.row, claim_id_of(raw), exc.column, exc.message)
        except ContractError as exc:
            return _Bad(raw.row, claim_id_of(raw), exc.field, exc.message)
        return raw, enc

    def _code(
        self,
        raw: RawRow,
        enc: Any,
        stored: list[Stored],
        run: list[PriorStudy],
        same: list[SameDateClaim],
    ) -> _Good | _Bad:
        """Code one encounter; ``stored`` are the store's studies of its patient, ``run``
        the earlier visits of this run (already of its payer family). A stored study of
        the encounter's own claim id is this claim's earlier version, never its prior."""
        try:
            rules = self.book.in_force(enc.date_of_service, enc.payer)
            release, exact = self.library.for_date(enc.date_of_service)
            family = rules.payer.family
            history = [*self.seen_by(stored, family, enc.claim_id), *run] if stored else run
            if stored:
                # Claims of this date recorded by earlier runs; one also in this file is
                # taken as the file has it.
                recorded = self.of_date(stored, enc.date_of_service, family, enc.claim_id)
                if recorded:
                    in_file = {claim.claim_id for claim in same}
                    same = [*same, *(c for c in recorded if c.claim_id not in in_file)]
            result = code_encounter(
                enc, rules, release, icd_exact=exact, history=history, same_date_claims=same
            )
        except InputError as exc:
            return _Bad(raw.row, enc.claim_id, exc.field, exc.message)
        except Exception as exc:  # one row's failure never stops the run
            return _Bad(
                raw.row, enc.claim_id, "", f"internal error ({type(exc).__name__}); please report"
            )
        return _summarize(raw.row, enc, rules, result, self.out_fmt)


def _summarize(row: int, enc: Any, rules: RuleSet, result: CodingResult, fmt: str) -> _Good:
    denied = {f.line for f in result.findings if f.line and rules.findings[f.id].expected_denial}
    output: Any
    if fmt == "jsonl":
        output = result.model_dump_json()
    elif fmt == "fhir":
        from dexacode.formats.fhir import result_to_fhir

        output = json.dumps(result_to_fhir(result, enc))
    else:
        output = result_rows(row, result)
    return _Good(
        row=row,
        patient_id=enc.patient.id,
        date_of_service=enc.date_of_service,
        family=rules.payer.family,
        output=output,
        has_error=any(f.severity == "error" for f in result.findings),
        has_warning=any(f.severity == "warning" for f in result.findings),
        findings=tuple((f.id, f.severity) for f in result.findings),
        lines=tuple((line.cpt, line.cpt not in denied) for line in result.lines),
        claim_id=enc.claim_id,
        billed=billed_as(enc, rules),
    )


@dataclass(slots=True)
class _Visit:
    """What step 2 needs of a coded row: who, when, which family, its lines and tallies."""

    row: int
    patient_id: str
    date_of_service: dt.date
    family: str
    lines: tuple[tuple[str, bool], ...]
    has_error: bool
    has_warning: bool
    findings: tuple[tuple[str, str], ...]
    claim_id: str | None  # kept only when the run is recorded
    billed: str | None  # what the claim bills of the study: recorded with it

    @classmethod
    def of(cls, good: _Good, shared: dict[Any, Any] | None = None, record: bool = False) -> _Visit:
        """The visit of a coded row; with ``shared``, its dates, lines and finding lists
        are the same objects as those of earlier visits with equal values, so a chunk's
        visits cross to the main process as one copy of each (pickle keeps the sharing)."""
        keep = shared.setdefault if shared is not None else _same
        return cls(
            good.row,
            good.patient_id,
            keep(good.date_of_service, good.date_of_service),
            keep(good.family, good.family),
            keep(good.lines, good.lines),
            good.has_error,
            good.has_warning,
            keep(good.findings, good.findings),
            good.claim_id if record else None,
            keep(good.billed, good.billed),
        )


def _same(key: Any, value: Any) -> Any:
    return value


@dataclass(slots=True)
class _Tally:
    """Results by outcome and findings by id, for a chunk or for the whole run."""

    clean: int = 0
    with_errors: int = 0
    with_warnings: int = 0  # warnings but no error
    severity_counts: Counter[tuple[str, str]] = field(default_factory=Counter)


def _count(tally: _Tally | ScrubSummary, item: _Good | _Visit, sign: int) -> None:
    if item.has_error:
        tally.with_errors += sign
    elif item.has_warning:
        tally.with_warnings += sign
    else:
        tally.clean += sign
    counts = tally.severity_counts
    for pair in item.findings:
        counts[pair] += sign


@dataclass(frozen=True, slots=True)
class _Chunk:
    """What a worker sends back for a chunk: the visits to remember (the results
    themselves are in its part file), the bad rows, and the chunk's tally."""

    visits: list[_Visit]
    bad: list[_Bad]
    tally: _Tally
    blank: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    """A chunk of the input: a span of a JSON Lines file the worker reads itself, or rows
    the main process read (CSV, Parquet, X12, FHIR). ``steps`` is its progress."""

    index: int
    span: Span | ParquetSlice | None
    rows: list[RawRow] | None
    steps: int


def _run_job(coder: _Coder, job: _Job, input_path: Path, parts: Path) -> _Chunk:
    """Code a chunk and write its results to its own part file; the main process gets
    back only what it counts and remembers, never the results themselves."""
    if isinstance(job.span, Span):
        rows = read_span(input_path, job.span)
    elif isinstance(job.span, ParquetSlice):
        rows = read_parquet_slice(input_path, job.span)
    else:
        rows = job.rows or []
    blank = sum(raw.blank for raw in rows)
    if blank:
        rows = [raw for raw in rows if not raw.blank]
    outcomes = coder.code_rows(rows)
    writer = ResultWriter(_part(parts, job.index), coder.part_fmt, header=False)
    try:
        goods = [o for o in outcomes if isinstance(o, _Good)]
        if coder.part_fmt == "jsonl":
            writer.write_json(g.output for g in goods)
        elif goods:
            writer.write_rows([row for g in goods for row in g.output])
    finally:
        writer.close()
    tally = _Tally()
    for good in goods:
        _count(tally, good, +1)
    return _Chunk(
        [_Visit.of(g, coder.shared, coder.record) for g in goods],
        [o for o in outcomes if isinstance(o, _Bad)],
        tally,
        blank,
    )


def _part(parts: Path, index: int) -> Path:
    return parts / f"{index:09d}.part"


_WORKER: tuple[_Coder, Path, Path] | None = None


def _init_worker(options: ScrubOptions, out_fmt: str, input_path: Path, parts: Path) -> None:
    global _WORKER
    _WORKER = (_Coder(options, out_fmt), input_path, parts)
    _quiet_gc()


# Coding allocates many short-lived objects and creates next to no reference cycles, while
# the rule book, the ICD cache and the memo tables are large and live for the whole run:
# Python's default collector kept rescanning them, a third of a scrub's time.
_GC_THRESHOLDS = (100_000, 50, 100)


def _quiet_gc() -> tuple[int, int, int]:
    """Freeze what is loaded so far and collect rarely; returns the old thresholds."""
    old = gc.get_threshold()
    gc.freeze()  # no collect first: on a large heap it costs more than it saves
    gc.set_threshold(*_GC_THRESHOLDS)
    return old


@contextlib.contextmanager
def _lean_gc() -> Iterator[None]:
    """The quiet collector for a run in this process, put back as it was afterwards."""
    old = _quiet_gc()
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _work(job: _Job) -> _Chunk:
    assert _WORKER is not None
    coder, input_path, parts = _WORKER
    return _run_job(coder, job, input_path, parts)


def _work_recode(work: _Recode) -> list[_Good]:
    assert _WORKER is not None
    return _recode(_WORKER[0], work)


# --- the run -------------------------------------------------------------------------------


def _jobs(
    input_path: Path,
    in_fmt: str,
    size: int,
    progress: Callable[[int], None] | None,
    counted: LineCount | None = None,
) -> Iterator[_Job]:
    """The input cut into chunks; the first is cut before any output is written, so an
    empty or unreadable file is refused cleanly. A CSV reader counts its lines in
    ``counted``."""
    if in_fmt == "jsonl":
        for span in jsonl_spans(input_path, size):
            if progress is not None:
                progress(span.end - span.start)
            yield _Job(span.index, span, None, span.end - span.start)
        return
    if in_fmt == "parquet":
        for piece in parquet_slices(input_path, size):
            if progress is not None:
                progress(piece.stop - piece.start)
            yield _Job(piece.index, piece, None, piece.stop - piece.start)
        return
    chunk: list[RawRow] = []
    steps = 0
    index = 0
    for raw, step in read_rows(input_path, in_fmt, counted):
        chunk.append(raw)
        steps += step
        if len(chunk) >= size:
            if progress is not None:
                progress(steps)
            yield _Job(index, None, chunk, steps)
            index += 1
            chunk, steps = [], 0
    if chunk:
        if progress is not None:
            progress(steps)
        yield _Job(index, None, chunk, steps)
        index += 1
    if index == 0:
        raise BatchInputError(f"{input_path.name}: no encounters to scrub")


class _Run:
    """State of one scrub run in the main process."""

    def __init__(self, summary: ScrubSummary, errors: ErrorWriter) -> None:
        self.summary = summary
        self.errors = errors
        self.good_rows = array("q")  # the input row of each result, in output order
        self.part_sizes: list[int] = []  # results in each chunk's part file, in order
        self.first_visit: dict[str, _Visit] = {}  # patient -> their first coded row
        self.multi: dict[str, list[_Visit]] = {}  # patients seen twice or more
        # (patient, date, cpt, covered, payer family, claim id) of every coded line, for
        # --record
        self.recorded: list[tuple[str, dt.date, str, bool, str, str | None, str | None]] = []
        self._shared: dict[Any, Any] = {}

    def take(self, chunk: _Chunk, record: bool) -> None:
        s = self.summary
        s.rows_read += len(chunk.visits) + len(chunk.bad)
        s.results += len(chunk.visits)
        s.bad_rows += len(chunk.bad)
        s.blank_lines += chunk.blank
        for bad in chunk.bad:
            s.bad_lines += bad.lines
            self.errors.write(bad.row, bad.claim_id, bad.field, bad.reason)
        tally = chunk.tally
        s.clean += tally.clean
        s.with_errors += tally.with_errors
        s.with_warnings += tally.with_warnings
        s.severity_counts.update(tally.severity_counts)
        self.good_rows.extend(v.row for v in chunk.visits)
        self.part_sizes.append(len(chunk.visits))
        first_visit = self.first_visit
        keep = self._shared.setdefault
        for visit in chunk.visits:
            # A run remembers a visit per patient: its values are shared across chunks
            # (the worker shares them within one), which halves what that costs.
            visit.date_of_service = keep(visit.date_of_service, visit.date_of_service)
            visit.lines = keep(visit.lines, visit.lines)
            visit.findings = keep(visit.findings, visit.findings)
            visit.billed = keep(visit.billed, visit.billed)
            first = first_visit.setdefault(visit.patient_id, visit)
            if first is not visit:
                self.multi.setdefault(visit.patient_id, [first]).append(visit)
        if record:
            self.recorded += [
                (v.patient_id, v.date_of_service, cpt, covered, v.family, v.claim_id, v.billed)
                for v in chunk.visits
                for cpt, covered in v.lines
            ]


def scrub(
    input_path: Path,
    output_path: Path,
    errors_path: Path | None = None,
    options: ScrubOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScrubSummary:
    """Scrub a batch file into ``output_path``; bad rows go to ``errors_path``
    (default: beside the output, ``<name>.errors.jsonl``).

    ``input_path`` may be ``-`` (standard input) or a pipe (``/dev/stdin``, a shell's
    process substitution) with ``options.input_format`` given: it is copied beside the
    output first, as a run reads its input more than once."""
    options = options or ScrubOptions()
    if options.record and not options.use_store:
        raise BatchInputError(
            "--record adds the run's studies to the history store, and --no-store leaves "
            "the store out: give one or the other"
        )
    if str(input_path) == "-" or is_special_file(input_path):
        with _spooled_input(input_path, output_path, options.input_format) as copy:
            return _scrub(copy, output_path, errors_path, options, progress)
    return _scrub(input_path, output_path, errors_path, options, progress)


@contextlib.contextmanager
def _spooled_input(source: Path, output_path: Path, fmt: str | None) -> Iterator[Path]:
    """Standard input or a pipe, copied to a file beside the output (removed afterwards),
    named ``stdin.<format>`` so messages about it read well."""
    shown = "standard input" if str(source) == "-" else str(source)
    if fmt is None:
        raise BatchInputError(
            f"reading {shown} needs --format (jsonl, csv, parquet, x12 or fhir): a stream "
            "has no file name to tell the format by"
        )
    fmt = format_of(source, fmt, look=False)
    problem = output_problem(output_path, "output")
    if problem is not None:
        raise BatchOutputError(problem)
    ending = {"x12": ".837", "fhir": ".fhir.json"}.get(fmt, "." + fmt)
    folder = output_path.with_name(f".{output_path.name}.{uuid.uuid4().hex[:8]}.input")
    copy = folder / f"stdin{ending}"
    try:
        try:
            folder.mkdir()
            with copy.open("wb") as out:
                if str(source) == "-":
                    import sys

                    shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
                else:
                    with source.open("rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 20)
        except OSError as exc:
            if exc.filename is not None and str(exc.filename) == str(source):
                raise BatchInputError(
                    f"{shown}: cannot be read: {exc.strerror or type(exc).__name__}"
                ) from None
            raise write_failure(folder, f"a copy of {shown}", exc) from None
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _scrub(
    input_path: Path,
    output_path: Path,
    errors_path: Path | None,
    options: ScrubOptions,
    progress: Callable[[int], None] | None,
) -> ScrubSummary:
    in_fmt = format_of(input_path, options.input_format)
    check_input_shape(input_path, in_fmt)
    out_fmt = format_of(output_path, options.output_format, output=True)
    if options.fhir and out_fmt != "jsonl":
        raise BatchInputError("FHIR output is written as JSON Lines: give OUT a .jsonl name")
    errors_path = errors_path or output_path.with_name(output_path.stem + ".errors.jsonl")
    # A link to a file of the user's: the file is replaced (beside it), the link kept.
    if output_path.is_symlink() and not is_special_file(output_path):
        output_path = output_path.resolve()
    if errors_path.is_symlink() and not is_special_file(errors_path):
        errors_path = errors_path.resolve()
    _check_paths(input_path, output_path, errors_path)
    if options.use_store:
        _check_store(options.db_url)
    counted = LineCount()
    jobs = _jobs(input_path, in_fmt, options.chunk_size, progress, counted)
    first = next(jobs)  # an unreadable or empty file is refused before any output

    def all_jobs() -> Iterator[_Job]:
        yield first
        yield from jobs

    summary = ScrubSummary(output=output_path, errors_path=errors_path)
    summary.recording = options.record
    # With the loaded CMS data: data that cannot be read is refused here, in one sentence,
    # before a worker meets it.
    book = with_loaded_data(load_rulebook(list(options.payer_dirs)))
    for fid in book.finding_ids():
        rule = book.finding(fid)
        summary.titles[fid] = rule.title
        summary.severities[fid] = rule.severity
    # Payer profiles may raise a finding's severity; ``severities`` holds the strictest
    # (the counts are kept by the severity each finding had: ``severity_counts``).
    for profile in book.payers.values():
        for fid, severity in profile.severity.items():
            if severity == "error":
                summary.severities[fid] = "error"

    tag = uuid.uuid4().hex[:8]
    spool = output_path.with_name(f".{output_path.name}.{tag}.part")
    parts = output_path.with_name(f".{output_path.name}.{tag}.parts")
    errors = ErrorWriter(errors_path, errors_path.with_name(f".{errors_path.name}.{tag}.part"))
    run = _Run(summary, errors)
    done = False
    try:
        parts.mkdir()
        _run_steps(run, all_jobs(), options, out_fmt, in_fmt, input_path, parts, spool)
        os.replace(spool, output_path)
        errors.commit()
        done = True
    except OSError as exc:
        raise _os_failure(exc, input_path, output_path) from None
    finally:
        if not done:
            errors.discard()
        if spool.exists():
            spool.unlink()
        shutil.rmtree(parts, ignore_errors=True)
    summary.lines_read = (
        counted.lines if counted.lines is not None else summary.rows_read + summary.blank_lines
    )
    if options.record and options.use_store:
        # The results are in place by now: a failure here loses only the recording (one
        # transaction: nothing or all), and the summary says so instead of an error that
        # would suggest the run itself failed.
        from dexacode.store import StoreError

        run_id = (
            f"scrub:{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
        )
        try:
            _record(run, options, run_id)
        except StoreError as exc:
            summary.record_problem = str(exc)
        except KeyboardInterrupt:
            summary.interrupted = True
            _after_interrupted_record(summary, options, run_id)
    return summary


def _run_steps(
    run: _Run,
    jobs: Iterator[_Job],
    options: ScrubOptions,
    out_fmt: str,
    in_fmt: str,
    input_path: Path,
    parts: Path,
    spool: Path,
) -> None:
    """Steps 1 and 2 in this process or a pool, then the parts joined into ``spool``."""
    summary = run.summary
    workers = options.workers or os.cpu_count() or 1
    part_fmt = "jsonl" if options.fhir else out_fmt
    # JSON Lines and Parquet parts are joined once, after step 2, with its results put
    # in place; CSV parts are joined while the workers do step 2, rewritten afterwards.
    join_now = None if part_fmt != "csv" else (lambda: _join_csv_parts(parts, spool))
    if workers <= 1:
        replaced = _scrub_here(run, jobs, options, out_fmt, in_fmt, input_path, parts)
    else:
        replaced = _scrub_in_pool(
            run, jobs, workers, options, out_fmt, in_fmt, input_path, parts, join=join_now
        )
    if summary.rows_read == 0:  # every line was blank
        raise BatchInputError(f"{input_path.name}: only blank lines: no encounters to scrub")
    _apply_recoded(run, replaced, options.record)
    summary.recoded = len(replaced)
    summary.severity_counts += Counter()  # drop pairs whose count fell to zero
    summary.finding_counts = Counter()
    for (fid, _severity), count in summary.severity_counts.items():
        summary.finding_counts[fid] += count
    if part_fmt == "jsonl":
        _join_json_parts(parts, spool, run, replaced)
    elif part_fmt == "parquet":
        _join_parquet_parts(parts, spool, run, replaced)
    else:
        if not spool.exists():
            _join_csv_parts(parts, spool)
        if replaced:
            _rewrite_csv(spool, replaced)


def _os_failure(error: OSError, input_path: Path, output_path: Path) -> BatchInputError:
    """An OSError met during a run, as one clear sentence naming the path: reading the
    input, or (a full disk, a place that became read-only) writing the results. The
    errors file's own failures are told by its writer."""
    name = str(error.filename) if error.filename is not None else None
    reason = error.strerror or type(error).__name__
    if name is not None and Path(name) == input_path:
        return BatchInputError(f"{input_path}: cannot be read: {reason}")
    return write_failure(output_path, "the results", error)


def _after_interrupted_record(summary: ScrubSummary, options: ScrubOptions, run_id: str) -> None:
    """A Ctrl-C may land after the store committed the run: ask the store, so the summary
    never says "nothing was recorded" of a run that was."""
    from dexacode.store import HistoryStore, StoreError

    try:
        with HistoryStore(options.db_url) as store:
            added = store.added_by(run_id)
    except (StoreError, KeyboardInterrupt):
        summary.record_problem = "interrupted"
        summary.record_unknown = True
        return
    if added is None:
        summary.record_problem = "interrupted"
    else:
        summary.recorded = added


def _check_paths(input_path: Path, output_path: Path, errors_path: Path) -> None:
    """Refuse, before anything is written, an output that would overwrite the input or
    the other output, or that cannot be written where it is asked for."""
    if input_path.resolve() == output_path.resolve():
        raise BatchInputError("the output file must not be the input file")
    if errors_path.resolve() == input_path.resolve():
        raise BatchInputError("the errors file must not be the input file")
    if errors_path.resolve() == output_path.resolve():
        raise BatchInputError(
            "the errors file must not be the output file: give --errors another name"
        )
    if is_special_file(output_path):
        # Results are written beside OUT and moved into place, which would replace a device.
        raise BatchOutputError(f"{output_path}: the output must be a file; give a file name")
    if format_by_ending(errors_path, ("parquet",)) is not None:
        raise BatchOutputError(
            f"{errors_path}: the errors file is written as CSV (.csv) or JSON Lines (.jsonl), "
            "not Parquet: give --errors a .csv or .jsonl name"
        )
    places = [("output", output_path)]
    if not is_special_file(errors_path):  # /dev/null and the like are written through
        places.append(("errors file", errors_path))
    for label, path in places:
        problem = output_problem(path, label)
        if problem is not None:
            raise BatchOutputError(problem)


def _check_store(db_url: str | None) -> None:
    """Open the history store once here, so a wrong URL or an unreachable server is one
    clear StoreError before any work (and the schema is created or migrated once, not by
    every worker at the same time)."""
    from dexacode.store import HistoryStore

    HistoryStore(db_url).close()


def _join_json_parts(parts: Path, spool: Path, run: _Run, replaced: dict[int, _Good]) -> None:
    """The JSON Lines parts, in order, into one file, with step 2's results in place of
    the first ones; a part is split into lines only when one of its rows was replaced."""
    with spool.open("wb") as out:
        first = 0
        for index, size in enumerate(run.part_sizes):
            rows = run.good_rows[first : first + size]
            first += size
            data = _part(parts, index).read_bytes()
            hits = [(i, replaced[r]) for i, r in enumerate(rows) if r in replaced]
            if hits:
                lines = data.split(b"\n")  # JSON text never holds a raw newline
                for i, good in hits:
                    lines[i] = good.output.encode()
                data = b"\n".join(lines)
            out.write(data)
    shutil.rmtree(parts)


def _join_parquet_parts(parts: Path, spool: Path, run: _Run, replaced: dict[int, _Good]) -> None:
    """The Parquet parts, in order, into one file, with step 2's results in place of the
    first ones; a part is only decoded to rows where one of its rows was replaced."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    writer: Any = None
    try:
        first = 0
        for index, size in enumerate(run.part_sizes):
            rows = run.good_rows[first : first + size]
            first += size
            table = pq.read_table(_part(parts, index))
            hits = [r for r in rows if r in replaced]
            if hits:
                stale = pc.is_in(table["row"], value_set=pa.array(hits, pa.int64()))
                fresh = pa.Table.from_pylist(
                    [record for r in hits for record in replaced[r].output], schema=table.schema
                )
                table = pa.concat_tables([table.filter(pc.invert(stale)), fresh]).sort_by(
                    [("row", "ascending"), ("line", "ascending")]
                )
            if table.num_rows:
                if writer is None:
                    writer = pq.ParquetWriter(spool, table.schema)
                writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no results at all: still a valid, empty file
        ResultWriter(spool, "parquet").close()
    shutil.rmtree(parts)


def _join_csv_parts(parts: Path, spool: Path) -> None:
    """The CSV parts, in order, into one file under one header; then the parts are gone."""
    join_csv_parts(sorted(parts.glob("*.part")), spool)
    shutil.rmtree(parts)


# Step 2 hands each worker a few hundred visits at a time: enough to make the store's
# look-up one query, few enough to keep both cores busy to the end.
_RECODE_JOB_VISITS = 400


def _scrub_here(
    run: _Run,
    jobs: Iterator[_Job],
    options: ScrubOptions,
    out_fmt: str,
    in_fmt: str,
    input_path: Path,
    parts: Path,
) -> dict[int, _Good]:
    """Both steps in this process (one worker); returns step 2's new results by row."""
    coder = _Coder(options, out_fmt)
    replaced: dict[int, _Good] = {}
    try:
        with _lean_gc():
            for job in jobs:
                run.take(_run_job(coder, job, input_path, parts), options.record)
            for work in _recode_work(run, input_path, in_fmt, _RECODE_JOB_VISITS):
                replaced.update((g.row, g) for g in _recode(coder, work))
    finally:
        coder.close()
    return replaced


def _scrub_in_pool(
    run: _Run,
    jobs: Iterator[_Job],
    workers: int,
    options: ScrubOptions,
    out_fmt: str,
    in_fmt: str,
    input_path: Path,
    parts: Path,
    join: Callable[[], None] | None,
) -> dict[int, _Good]:
    """Both steps through one process pool; returns step 2's new results by row.
    ``join``, if given, puts the first step's parts together while the workers do the
    second."""
    # At most a few chunks in flight per worker: reading never runs ahead of coding,
    # so memory stays flat however large the file.
    window = workers * 3
    replaced: dict[int, _Good] = {}
    with ProcessPoolExecutor(
        max_workers=workers,
        initializer=_init_worker,
        initargs=(options, out_fmt, input_path, parts),
    ) as pool:
        pending: deque[Future[_Chunk]] = deque()
        for job in jobs:
            pending.append(pool.submit(_work, job))
            if len(pending) >= window:
                run.take(pending.popleft().result(), options.record)
        while pending:
            run.take(pending.popleft().result(), options.record)
        with _lean_gc():
            recodes = [
                pool.submit(_work_recode, work)
                for work in _recode_work(run, input_path, in_fmt, _RECODE_JOB_VISITS)
            ]
            if join is not None:
                join()  # while the workers code step 2
            for future in recodes:
                replaced.update((g.row, g) for g in future.result())
    return replaced


@dataclass(frozen=True, slots=True)
class _Recode:
    """Step 2's work for some patients: each patient's visits in date order, and the raw
    rows of the visits an earlier visit may change."""

    groups: list[list[_Visit]]
    rows: dict[int, RawRow]


def _recode_work(run: _Run, input_path: Path, in_fmt: str, per_job: int) -> list[_Recode]:
    """Step 2 cut into jobs of about ``per_job`` visits to code again, whole patients each."""
    if not run.multi:
        return []
    groups: list[list[_Visit]] = []
    wanted: set[int] = set()
    for visits in run.multi.values():
        ordered = sorted(visits, key=lambda x: (x.date_of_service, x.row))
        # Any earlier visit may change a visit: one of another payer family is an earlier
        # study not covered for it (a confirmatory baseline looks at every earlier study).
        # So may another claim of its own date (a duplicate, a pair split over two claims).
        first = ordered[0].date_of_service
        shared = _shared_dates(ordered)
        if ordered[-1].date_of_service > first or shared:
            groups.append(ordered)
            wanted.update(
                v.row for v in ordered if v.date_of_service > first or v.date_of_service in shared
            )
    if not wanted:
        return []
    rows = read_wanted_rows(input_path, in_fmt, wanted)
    jobs: list[_Recode] = []
    batch: list[list[_Visit]] = []
    size = 0
    for visits in groups:
        batch.append(visits)
        size += len(visits)
        if size >= per_job:
            jobs.append(_recode_job(batch, rows))
            batch, size = [], 0
    if batch:
        jobs.append(_recode_job(batch, rows))
    return jobs


def _shared_dates(ordered: list[_Visit]) -> set[dt.date]:
    """The dates with more than one visit, of a patient's visits in date order."""
    return {
        later.date_of_service
        for earlier, later in itertools.pairwise(ordered)
        if later.date_of_service == earlier.date_of_service
    }


def _recode_job(groups: list[list[_Visit]], rows: dict[int, RawRow]) -> _Recode:
    return _Recode(groups, {v.row: rows[v.row] for vs in groups for v in vs if v.row in rows})


def _recode(coder: _Coder, work: _Recode) -> list[_Good]:
    """Code again, in date order, each patient's visits that have an earlier visit in the
    run; return the new results."""
    from dexacode.store import as_seen_by

    stored = coder.stored_for({visits[0].patient_id for visits in work.groups})
    changed: list[_Good] = []
    for visits in work.groups:
        # The earlier visits' studies with the payer family each was billed to, built up
        # visit by visit; a visit sees only studies of earlier dates (one date is one
        # study, never its own prior). It sees them as the history store would give the
        # same studies once recorded: those of another payer family not covered for its
        # own (``as_seen_by``), in the store's order (date, then code: the engine names
        # the first of the latest date), so a second run of the file, with the first one
        # recorded, gives the same results.
        earlier: list[tuple[PriorStudy, str]] = []
        pending: deque[_Visit] = deque()
        claims = _same_date_claims(coder, visits, work.rows)
        for visit in visits:
            known = len(earlier)
            while pending and pending[0].date_of_service < visit.date_of_service:
                done = pending.popleft()
                earlier += [
                    (
                        PriorStudy.model_construct(
                            date_of_service=done.date_of_service, cpt=cpt, covered=covered
                        ),
                        done.family,
                    )
                    for cpt, covered in done.lines
                ]
            if len(earlier) > known:
                earlier.sort(key=_date_and_code)  # stable: rows of one study keep file order
            current = visit
            raw = work.rows.get(visit.row)
            same = claims.get(visit.row, [])
            if (earlier or same) and raw is not None:
                history = as_seen_by(earlier, visit.family)
                redone = coder.code_rows([raw], {visit.row: history}, stored, {visit.row: same})[0]
                if isinstance(redone, _Good):
                    changed.append(redone)
                    current = _Visit.of(redone)
            pending.append(current)
    return changed


def _same_date_claims(
    coder: _Coder, visits: list[_Visit], rows: dict[int, RawRow]
) -> dict[int, list[SameDateClaim]]:
    """For each visit that shares its date with others of the patient, those other claims
    to the same payer family (what each bills, its codes as first coded): a claim to
    another family is a secondary payer's, not a duplicate. Two rows of one claim id are
    versions of one claim, not two claims; other claims meet its last version only."""
    dates = _shared_dates(visits)
    if not dates:
        return {}
    claims: dict[int, tuple[_Visit, SameDateClaim]] = {}
    for visit in visits:
        raw = rows.get(visit.row)
        if visit.date_of_service not in dates or visit.billed is None or raw is None:
            continue
        parsed = coder._parse(raw)  # for its claim id, which a visit keeps only to record
        if isinstance(parsed, _Bad):
            continue
        codes = tuple(cpt for cpt, _ in visit.lines)
        claims[visit.row] = (visit, SameDateClaim(parsed[1].claim_id, visit.billed, codes))
    # A claim id's last row in the file is its latest version: the one others meet.
    latest = {claim.claim_id: row for row, (_, claim) in sorted(claims.items())}
    return {
        row: [
            other
            for other_row, (peer, other) in claims.items()
            if latest[other.claim_id] == other_row
            and other.claim_id != claim.claim_id
            and peer.date_of_service == visit.date_of_service
            and peer.family == visit.family
        ]
        for row, (visit, claim) in claims.items()
    }


def _date_and_code(entry: tuple[PriorStudy, str]) -> tuple[dt.date, str]:
    return entry[0].date_of_service, entry[0].cpt


def _apply_recoded(run: _Run, replaced: dict[int, _Good], record: bool) -> None:
    """Count the new results in place of the first ones (and record them instead)."""
    if not replaced:
        return
    first = {v.row: v for visits in run.multi.values() for v in visits}
    for row, good in replaced.items():
        _count(run.summary, first[row], -1)
        _count(run.summary, good, +1)
    if record:
        updated = {(g.patient_id, g.date_of_service, g.claim_id) for g in replaced.values()}
        run.recorded = [rec for rec in run.recorded if (rec[0], rec[1], rec[5]) not in updated] + [
            (g.patient_id, g.date_of_service, cpt, covered, g.family, g.claim_id, g.billed)
            for g in replaced.values()
            for cpt, covered in g.lines
        ]


def _rewrite_csv(spool: Path, replaced: dict[int, _Good]) -> None:
    """Put the re-coded results in place of the first ones in a CSV output, keeping the
    order."""
    fresh = spool.with_name(spool.name + ".2")
    writer = ResultWriter(fresh, "csv")
    try:
        for rows in _csv_rows(spool):
            out: list[dict[str, Any]] = []
            for record in rows:
                item = replaced.get(int(record["row"]))
                if item is None:
                    out.append(record)
                elif int(record["line"]) <= 1:  # the first line of that row carries all
                    out += item.output
            writer.write_rows(out)
        writer.close()
        os.replace(fresh, spool)
    finally:
        writer.close()
        if fresh.exists():
            fresh.unlink()


def _csv_rows(path: Path) -> Iterator[list[dict[str, Any]]]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        batch: list[dict[str, Any]] = []
        for record in csv.DictReader(fh):
            batch.append(dict(record))
            if len(batch) >= 10_000:
                yield batch
                batch = []
        if batch:
            yield batch


def _record(run: _Run, options: ScrubOptions, run_id: str) -> None:
    """Add the run's coded studies to the store, each under its claim id (a claim recorded
    before is replaced by this version of it), and note in the summary what changed."""
    from dexacode.store import HistoryStore, StudyRow

    with HistoryStore(options.db_url) as store:
        report = store.add(
            (
                StudyRow(
                    patient_id=p,
                    date_of_service=d,
                    cpt=c,
                    covered=covered,
                    payer_family=family,
                    claim_id=claim,
                    billed=billed,
                )
                for p, d, c, covered, family, claim, billed in run.recorded
            ),
            source=run_id,
        )
    summary = run.summary
    summary.recorded = report.added
    summary.record_updated = report.updated
    summary.record_replaced = report.replaced
    summary.record_duplicates = report.duplicates
