"""The ``dexacode`` command: a thin layer that reads options and calls the library.

Exit codes (spec/contract.md): 0 coded and clean of errors, 1 coded with at least one
error-level finding, 2 the input, an output's place or the history store named could not
be used, or a payer profile of the user's is broken (one line on stderr names the field,
file or reason). 3 means dexacode's own data is broken (a shipped rule or profile file,
the ICD-10-CM index).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from dexacode.cli_options import (
    DbOption,
    NoStoreOption,
    rule_book_failure,
    store_errors,
    stored_studies,
)

app = typer.Typer(
    name="dexacode",
    help=(
        "DXA (bone density) coding assistant and claim scrubber.\n\n"
        "Give it the facts of a DXA encounter (JSON, see `dexacode schema`) and it gives the "
        "claim lines, modifiers and ICD-10-CM diagnoses, the reading, Medicare coverage and "
        "every risk of denial, each explained with its source. Give it a claim a coder "
        "already wrote (the encounter's `submitted` field) and it checks it."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="markdown",
)
icd10_app = typer.Typer(
    help="ICD-10-CM releases: what is loaded, and loading a new CMS release.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(icd10_app, name="icd10")

EXIT_CLEAN, EXIT_ERRORS, EXIT_INPUT, EXIT_DATA = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's own code for Ctrl-C

# Options shared by several commands, declared once.
PayersOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--payers",
        help="Folder of extra payer profiles (*.toml); may be repeated. Also read from "
        "$DEXACODE_PAYERS and the config file's payers_dir.",
        file_okay=False,
    ),
]
FormatOption = Annotated[
    str,
    typer.Option("--format", "-f", help="text (for people) or json (the contract's Result)."),
]


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"dexacode {version('dexacode')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print dexacode's version and exit.", callback=_show_version
        ),
    ] = False,
) -> None:
    # No docstring: the app's help above is what `dexacode --help` shows.
    pass


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


def _rulebook(payers: list[Path] | None) -> object:
    from dexacode.coding import configured_rulebook
    from dexacode.rulebook import RuleBookError

    try:
        return configured_rulebook(payers or [])
    except RuleBookError as exc:
        _fail(*rule_book_failure(exc))


def _read_input(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(EXIT_INPUT, f"input error: {source}: no such file")
    except IsADirectoryError:
        _fail(EXIT_INPUT, f"input error: {source}: is a folder, not a file")
    except UnicodeDecodeError:
        _fail(EXIT_INPUT, f"input error: {source}: not UTF-8 text")
    except OSError as exc:
        _fail(EXIT_INPUT, f"input error: {source}: {exc.strerror}")


@app.command("code")
def code_command(
    source: Annotated[
        str, typer.Argument(metavar="FILE", help="Encounter JSON file, or - for stdin.")
    ],
    output_format: FormatOption = "text",
    payers: PayersOption = None,
    fhir: Annotated[
        bool,
        typer.Option(
            "--fhir",
            help="Print the result as a FHIR R4 Bundle (Claim, DiagnosticReport, "
            "Observations) instead of the contract's JSON or the text report.",
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="A scanner report (Hologic or GE Lunar, text or PDF) whose results table "
            "fills the encounter's results (see `dexacode read`). A report with anything "
            "`dexacode read` lists under NOT READ is refused (exit 2), unless "
            "--accept-unread is given; one whose scan date is not the encounter's date of "
            "service is used with a warning.",
        ),
    ] = None,
    accept_unread: Annotated[
        bool,
        typer.Option(
            "--accept-unread",
            help="With --report: code with what was read even though some rows or values "
            "of the report could not be read (they are named on stderr; enter them in the "
            "encounter's results yourself).",
        ),
    ] = False,
    db: DbOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """Code one encounter: claim lines, diagnoses, reading, coverage and findings.

    The patient's prior studies in the history store count for frequency beside the
    encounter's own history, as in `dexacode scrub` and the API (the default store is
    read when it exists; --db or $DEXACODE_DB names another). Exit status: 0 coded with
    no error-level finding, 1 coded with at least one, 2 the input or the history store
    could not be read (the message names the field).
    """
    from dexacode.coding import default_library
    from dexacode.contract import ContractError, dump_result, parse_encounter
    from dexacode.engine import code_encounter
    from dexacode.rulebook import InputError, RuleBook

    if output_format not in ("text", "json"):
        _fail(EXIT_INPUT, f"--format must be text or json, not {output_format!r}")
    text = _read_input(source)
    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    if report is not None:
        text = _merge_report(text, report, accept_unread)
    try:
        enc = parse_encounter(text)
        rules = book.in_force(enc.date_of_service, enc.payer)
    except (ContractError, InputError) as exc:
        hint = ""
        if Path(source).suffix.lower() in (".csv", ".jsonl", ".parquet", ".837", ".txt"):
            hint = " (`dexacode code` reads one encounter; for a batch use `dexacode scrub`)"
        _fail(EXIT_INPUT, f"input error: {exc}{hint}")
    try:
        release, exact = default_library().for_date(enc.date_of_service)
    except (LookupError, OSError, ValueError) as exc:
        _fail(EXIT_DATA, f"ICD-10-CM index error: {exc}")
    history, same_date = ([], []) if no_store else stored_studies(db, enc, rules.payer.family)
    try:
        result = code_encounter(
            enc, rules, release, icd_exact=exact, history=history, same_date_claims=same_date
        )
    except InputError as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")

    if fhir:
        from dexacode.formats.fhir import result_to_fhir

        typer.echo(json.dumps(result_to_fhir(result, enc), indent=2))
    elif output_format == "json":
        typer.echo(dump_result(result))
    else:
        from dexacode.formats.text import render

        typer.echo(
            render(
                result,
                book.sources,
                payer_label=rules.payer.label,
                date_of_service=enc.date_of_service.isoformat(),
            ),
            nl=False,
        )
    raise typer.Exit(EXIT_ERRORS if result.has_errors else EXIT_CLEAN)


@app.command("scrub")
def scrub_command(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Encounters: .jsonl (one encounter per line), .csv or .parquet (the flat "
            "layout, see docs/batch.md); or claims and records: .837 (X12 837P), "
            ".fhir.json / NDJSON of FHIR Bundles. - reads standard input (give --format).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Results: .jsonl (one result per encounter, the contract's shape), or .csv "
            "/ .parquet (one row per claim line).",
        ),
    ],
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help="Rows that could not be coded (row, claim id, field, reason): .csv, or JSON "
            "Lines for any other name (not .parquet). Default: OUT's name with .errors.jsonl.",
        ),
    ] = None,
    db: DbOption = None,
    payers: PayersOption = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="jsonl|csv|parquet|x12|fhir",
            help="Input format when the ending does not say (needed for - and pipes): jsonl "
            "(also ndjson), csv, parquet, x12 (837) or fhir.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--out-format",
            metavar="jsonl|csv|parquet",
            help="Output format when the ending does not say: jsonl, csv or parquet.",
            show_default=False,
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Add this run's coded studies to the history store, so later runs check "
            "frequency against them.",
        ),
    ] = False,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Do not read or write the history store.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Worker processes (default: one per core)."),
    ] = None,
    fhir: Annotated[
        bool,
        typer.Option(
            "--fhir",
            help="Write each result as a FHIR R4 Bundle (Claim, DiagnosticReport, "
            "Observations), one per line of a .jsonl OUT.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Scrub a batch of encounters: code and check every one, and say what is wrong.

    Every input row ends up in OUT or in the errors file, never lost; the summary at the
    end reconciles them. Encounters of one patient in the file are checked against each
    other for frequency, in date order. Exit status: 0 all coded with no error-level
    finding, 1 some error-level finding or bad row, 2 the file could not be read, an
    output cannot be written where asked, or the history store cannot be opened.
    """
    from dexacode.batch import BatchInputError, BatchOutputError, ScrubOptions, scrub
    from dexacode.coding import configured_payer_dirs
    from dexacode.rulebook import RuleBookError

    if record and no_store:
        _fail(
            EXIT_INPUT,
            "--record adds this run's studies to the history store, and --no-store leaves "
            "the store out: give one or the other",
        )
    options = ScrubOptions(
        input_format=input_format,
        output_format=output_format,
        db_url=db,
        use_store=not no_store,
        record=record,
        payer_dirs=tuple([*configured_payer_dirs(), *(payers or [])]),
        workers=workers,
        fhir=fhir,
    )
    try:
        with _progress(source, quiet, input_format) as advance:
            summary = scrub(source, out, errors, options, progress=advance)
    except BatchOutputError as exc:
        _fail(EXIT_INPUT, f"output error: {exc}")
    except BatchInputError as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    except RuleBookError as exc:
        _fail(*rule_book_failure(exc))
    except store_errors() as exc:
        _fail(EXIT_INPUT, f"history store error: {exc}")
    except KeyboardInterrupt:
        _fail(
            EXIT_INTERRUPTED, f"interrupted: {out.name} and its errors file were left as they were"
        )
    _print_summary(summary)
    if summary.record_unknown:
        _fail(
            EXIT_INTERRUPTED,
            "interrupted while recording: the results were written, but whether the run was "
            "recorded in the history store could not be checked (`dexacode history show "
            "PATIENT` shows a patient's studies)",
        )
    if summary.record_problem is not None:
        _fail(
            EXIT_INTERRUPTED if summary.interrupted else EXIT_INPUT,
            f"the results were written, but nothing was recorded in the history store "
            f"({summary.record_problem})",
        )
    if summary.interrupted:  # after the store had committed the run
        added = summary.recorded
        _fail(
            EXIT_INTERRUPTED,
            f"interrupted after the run was recorded: the results were written and "
            f"{added:,} {'study' if added == 1 else 'studies'} added to the history store",
        )
    raise typer.Exit(summary.exit_code)


class _progress:
    """A rich progress bar on a terminal; nothing otherwise (or with --quiet). It counts
    rows of a Parquet file and bytes (shown as such) of a text file."""

    def __init__(self, source: Path, quiet: bool, fmt: str | None = None) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.source = source
        self.fmt = fmt
        self._bar: object = None

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.enabled:
            return None
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from dexacode.formats.batch_io import format_of, is_special_file, size_of

        if str(self.source) == "-" or is_special_file(self.source):
            return None  # a stream: its size is not known ahead
        try:
            fmt = format_of(self.source, self.fmt)
            total = size_of(self.source, fmt)
        except (OSError, ValueError):
            return None
        if fmt == "parquet":
            done: tuple[object, ...] = (MofNCompleteColumn(), TextColumn("rows"))
        else:
            done = (DownloadColumn(),)  # "1.2/3.4 MB": bytes of the file read so far
        bar = Progress(
            TextColumn("scrubbing {task.description}"),
            BarColumn(),
            *done,  # type: ignore[arg-type]
            TimeRemainingColumn(),
            transient=True,
        )
        bar.start()
        task = bar.add_task(self.source.name, total=total)
        self._bar = bar
        return lambda step: bar.advance(task, step)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]


def _print_summary(summary: object) -> None:
    from dexacode.batch import ScrubSummary

    assert isinstance(summary, ScrubSummary)
    s = summary
    echo = typer.echo
    # Lines are shown when a row took more than one (a CSV quote left open): then the
    # rows alone would not show what became of every line of the file.
    by_lines = s.lines_read != s.rows_read + s.blank_lines
    echo(
        f"Rows read:        {s.rows_read:,}"
        + (f"  ({s.lines_read:,} lines of data)" if by_lines else "")
    )
    echo(f"  coded:          {s.results:,}  -> {s.output}")
    not_coded = f"  not coded:      {s.bad_rows:,}"
    if by_lines:
        not_coded += f" ({s.bad_lines:,} lines)"
    echo(not_coded + (f"  -> {s.errors_path}" if s.bad_rows else ""))
    if s.blank_lines:
        echo(f"  blank lines:    {s.blank_lines:,} skipped (no encounter on them)")
    check = "yes" if s.reconciles else "NO - please report"
    sums = f"{s.results:,} + {s.bad_rows:,} = {s.rows_read:,}"
    if by_lines or not s.reconciles:
        blank = f" + {s.blank_lines:,}" if s.blank_lines else ""
        sums = f"{sums} rows; {s.results:,} + {s.bad_lines:,}{blank} = {s.lines_read:,} lines"
    echo(f"  reconciles:     {check} ({sums})")
    echo(f"Clean:            {s.clean:,}")
    echo(f"With errors:      {s.with_errors:,}")
    echo(f"Warnings only:    {s.with_warnings:,}")
    if s.recoded:
        echo(f"Re-checked against other visits in the file: {s.recoded:,}")
    if s.recording and s.record_problem is None:
        echo(_recorded_line(s))
    if s.severity_counts:
        echo("Findings:")
        for (fid, severity), count in sorted(
            s.severity_counts.items(), key=lambda item: (-item[1], item[0])
        ):
            echo(f"  {fid:<28} {count:>9,}  {severity}")
    top = s.top_problems()
    if top:
        echo("Top problems:")
        for line in top:
            echo(f"  {line}")


def _recorded_line(s: object) -> str:
    """What --record did to the history store, in one line (also when it added nothing)."""
    from dexacode.batch import ScrubSummary

    assert isinstance(s, ScrubSummary)
    studies = "study" if s.recorded == 1 else "studies"
    line = f"Studies added to the history store: {s.recorded:,}"
    more = []
    if s.record_updated:
        more.append(f"{s.record_updated:,} updated by a corrected claim")
    if s.record_replaced:
        more.append(f"{s.record_replaced:,} of an earlier version of the same claim removed")
    if s.record_duplicates:
        more.append(f"{s.record_duplicates:,} already there")
    if not s.recorded and not more:
        more.append(f"no {studies} to record: no row was coded")
    return line + (f" ({'; '.join(more)})" if more else "")


def _merge_report(text: str, report: Path, accept_unread: bool) -> str:
    from dexacode.cli_reports import (
        merge_report_into_encounter,
        parse_report_or_exit,
        refuse_partly_read,
    )

    try:
        data = json.loads(text)
    except ValueError as exc:
        _fail(EXIT_INPUT, f"input error: not valid JSON: {exc}")
    if not isinstance(data, dict):
        _fail(EXIT_INPUT, "input error: the input must be one encounter: a JSON object")
    parsed = parse_report_or_exit(report)
    _refuse_another_patients_report(data, report, parsed)
    refuse_partly_read(parsed, accept_unread, date_of_service=data.get("date_of_service"))
    return json.dumps(merge_report_into_encounter(data, parsed))


def _refuse_another_patients_report(data: dict[str, Any], report: Path, parsed: Any) -> None:
    """A printout whose sex, age or birth date contradicts the encounter's patient is never
    merged (a birth date the contract will refuse is left to it)."""
    import datetime as dt

    from dexacode.cli_reports import patient_mismatch, refuse_another_patients, report_file_text

    patient = data.get("patient")
    if not isinstance(patient, dict) or patient.get("sex") not in ("F", "M"):
        return
    try:
        born = dt.date.fromisoformat(str(patient.get("birth_date")))
        day = parsed.scan_date or dt.date.fromisoformat(str(data.get("date_of_service")))
    except ValueError:
        return
    differ = patient_mismatch(report_file_text(report), patient["sex"], born, day)
    refuse_another_patients("the scanner report", differ, done="coded")


@app.command("schema")
def schema_command() -> None:
    """Print the encounter's JSON Schema (the input contract)."""
    from dexacode.contract import encounter_schema

    typer.echo(json.dumps(encounter_schema(), indent=2))


@app.command("rules")
def rules_command(payers: PayersOption = None) -> None:
    """List every rule (finding id) with its severity and title."""
    from dexacode.rulebook import RuleBook

    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    typer.echo(f"Rule book {book.version} ({len(book.finding_ids())} rules)")
    for fid in book.finding_ids():
        rule = book.finding(fid)
        overrides = {
            name: p.severity[fid] for name, p in sorted(book.payers.items()) if fid in p.severity
        }
        note = ""
        if overrides and set(overrides.values()) != {rule.severity}:
            note = "  (" + ", ".join(f"{n}: {s}" for n, s in overrides.items()) + ")"
        typer.echo(f"  {fid:<28} {rule.severity:<8} {rule.title}{note}")
    typer.echo("\nPayer profiles: " + ", ".join(book.payer_names()))
    typer.echo("Run `dexacode explain RULE-ID` for the reasoning and sources of one rule.")


@app.command("explain")
def explain_command(
    rule_id: Annotated[
        str, typer.Argument(metavar="RULE-ID", help="A finding id, e.g. FREQUENCY.")
    ],
    payers: PayersOption = None,
) -> None:
    """Explain one rule: what it checks, why, what to do, and its sources."""
    from dexacode.rulebook import RuleBook

    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    wanted = rule_id.strip().upper()
    if wanted not in book.finding_ids():
        close = [f for f in book.finding_ids() if wanted.split("-")[0] in f]
        hint = f" Did you mean {', '.join(close)}?" if close else " See `dexacode rules`."
        _fail(EXIT_INPUT, f"no rule {rule_id!r}.{hint}")
    rule = book.finding(wanted)
    lines = [f"{rule.id}: {rule.title}", f"Severity: {rule.severity}"]
    overrides = [
        f"{name}: {p.severity[wanted]}"
        for name, p in sorted(book.payers.items())
        if wanted in p.severity
    ]
    if overrides:
        lines.append(f"Severity by payer profile: {', '.join(overrides)}")
    if rule.expected_denial:
        lines.append(
            "Expected denial: on payers that use ABN modifiers the line it names gets GA "
            "(ABN signed) or GZ (no ABN)."
        )
    lines.append(
        f"In force: from {rule.effective.isoformat()}"
        + (f" to {rule.ends.isoformat()}" if rule.ends else "")
    )
    lines += ["", "Why:", f"  {_plain(rule.why)}", "", "What to do:", f"  {_plain(rule.action)}"]
    if "{" in rule.why + rule.action:
        lines.append(
            "  (Words in <angle brackets> are filled in from the claim when the finding is "
            "raised: the months of its payer, the dates and codes of its encounter.)"
        )
    lines += ["", "Sources:"]
    for key in rule.source:
        src = book.sources.get(key)
        lines.append(f"  [{key}] {src.title}\n      {src.url}" if src else f"  [{key}]")
    typer.echo("\n".join(lines))


def _plain(template: str) -> str:
    """A template's placeholders read as names in an explanation: {cpt} -> <cpt>."""
    return template.replace("{", "<").replace("}", ">")


@app.command("payers")
def payers_command(payers: PayersOption = None) -> None:
    """List payer profiles with their settings as of today's rule book."""
    import datetime as dt

    from dexacode.rulebook import RuleBook

    book = _rulebook(payers)
    assert isinstance(book, RuleBook)
    today = dt.date.today()
    for name in book.payer_names():
        rules = book.in_force(today, name)
        p = rules.payer
        typer.echo(
            f"{name:<20} {p.label}\n"
            f"  file: {book.payer_files.get(name, '?')}\n"
            f"  Medicare coverage rules: {'yes' if p.medicare_family else 'no'}; "
            f"GA/GZ: {'yes' if p.abn_modifiers else 'no'}; "
            f"distinct modifier: {p.distinct_modifier or 'none'} "
            f"(accepts {', '.join(p.distinct_modifiers_accepted) or 'none'}; on "
            f"{_PLACEMENT_WORDS[p.distinct_placement]}); "
            f"frequency: {p.frequency_months} months"
        )


# How `payers` says where a profile puts the distinct-service modifier.
_PLACEMENT_WORDS = {
    "pair": "the pair edit's column 2",
    "axial": "the axial code",
    "peripheral": "the peripheral code",
}


@icd10_app.command("status")
def icd10_status() -> None:
    """Show the ICD-10-CM releases loaded (builds the shipped index on first use)."""
    from dexacode.icd10 import default_index_dir, open_library

    try:
        library = open_library()
    except (OSError, ValueError, LookupError) as exc:
        _fail(EXIT_DATA, f"ICD-10-CM index error: {exc}")
    typer.echo(f"Index folder: {default_index_dir()}")
    for year in library.years():
        release = library.release(year)
        typer.echo(f"  {release.label}: {release.source}")


@icd10_app.command("load")
def icd10_load(
    order_file: Annotated[
        Path,
        typer.Option(
            "--order",
            help="CMS order file, e.g. icd10cm-order-2027.txt.",
            exists=True,
            dir_okay=False,
        ),
    ],
    tabular: Annotated[
        Path,
        typer.Option(
            "--tabular",
            help="CMS tabular XML, e.g. icd10cm-tabular-2027.xml.",
            exists=True,
            dir_okay=False,
        ),
    ],
    year: Annotated[
        int,
        typer.Option("--year", help="Fiscal year of the release, e.g. 2027.", min=2016, max=2100),
    ],
) -> None:
    """Load a CMS ICD-10-CM release (order file + tabular XML) for a fiscal year.

    Claims whose date of service falls in that fiscal year (1 October to 30 September)
    are then checked against it.
    """
    from dexacode.icd10 import build_index_from_cms

    try:
        path = build_index_from_cms(order_file, tabular, year)
    except ValueError as exc:
        _fail(EXIT_INPUT, f"not loaded: {exc}")
    typer.echo(f"Loaded FY{year} into {path}")


def _register() -> None:
    """Commands that live in their own modules."""
    from dexacode.cli_data import data_app
    from dexacode.cli_formats import fhir_import_command, x12_command
    from dexacode.cli_generate import generate_command
    from dexacode.cli_history import history_app
    from dexacode.cli_reports import read_command, report_command
    from dexacode.cli_web import keys_app, serve_command

    app.command("generate")(generate_command)
    app.command("x12")(x12_command)
    app.command("fhir-import")(fhir_import_command)
    app.command("read")(read_command)
    app.command("report")(report_command)
    app.add_typer(history_app, name="history")
    app.add_typer(data_app, name="data")
    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")


_register()


def main() -> None:
    import os

    try:
        app()
    except KeyboardInterrupt:
        typer.echo("dexacode: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("DEXACODE_DEBUG"):
            raise
        # The exception's text may quote input; only its type is shown.
        typer.echo(
            f"dexacode: internal error ({type(exc).__name__}); please report it. "
            "Set DEXACODE_DEBUG=1 to see the details.",
            err=True,
        )
        sys.exit(70)
