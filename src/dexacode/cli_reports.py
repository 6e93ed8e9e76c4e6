"""The ``read`` and ``report`` commands (registered in cli.py), and the merge that
``code --report FILE`` uses. A thin layer: files in, library calls, files out.

Exit status of ``read``: 0 every results row read, 1 read with items it could not read
(listed), 2 the file is not a readable report. ``report``: 0 written, 1 written but the
claim has error-level findings, 2 an input could not be read, 3 dexacode's own data or an
optional library is missing.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from dexacode.cli_options import DbOption, NoStoreOption, rule_book_failure, stored_studies
from dexacode.reports.model import ParsedReport, Unread

EXIT_CLEAN, EXIT_PARTIAL, EXIT_INPUT, EXIT_DATA = 0, 1, 2, 3


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"dexacode: {message}", err=True)
    raise typer.Exit(code)


def parse_report_or_exit(path: Path) -> ParsedReport:
    from dexacode.reports import ReportError, read_report_file

    try:
        return read_report_file(path)
    except FileNotFoundError:
        _fail(EXIT_INPUT, f"input error: {path}: no such file")
    except IsADirectoryError:
        _fail(EXIT_INPUT, f"input error: {path}: is a folder, not a file")
    except OSError as exc:
        _fail(EXIT_INPUT, f"input error: {path}: {exc.strerror}")
    except ReportError as exc:
        _fail(EXIT_INPUT, f"input error: {path}: {exc}")


def render_parsed_text(parsed: ParsedReport) -> str:
    """``dexacode read`` for people: what was read, then what was not."""
    out = [
        f"Scanner: {parsed.scanner or parsed.vendor or 'not printed'}",
        f"Scan date: {parsed.scan_date.isoformat() if parsed.scan_date else 'not printed'}",
    ]
    out += [f"Reference: {r}" for r in parsed.reference]
    out += ["", f"RESULTS ({len(parsed.results)})"]
    out.append(f"  {'site':<15}{'region':<20}{'BMD':>8}{'T':>7}{'Z':>7}")

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    def score(value: float | None) -> str:
        # As printed: a binary '+.1f' would show -1.95 as -1.9, while the engine rounds
        # the decimal value to -2.0 (round_score).
        if value is None:
            return "-"
        text = repr(value)
        return text if text.startswith("-") else f"+{text}"

    for r in parsed.results:
        both = r.region.endswith(("_mean", "_diff"))
        note = "  (never diagnostic)" if both else ""
        # Carried under left_hip for the contract (ReportRow); they are both hips'.
        site = "both hips" if both else r.site
        out.append(
            f"  {site:<15}{r.region:<20}{num(r.bmd, '.3f'):>8}{score(r.t_score):>7}"
            f"{score(r.z_score):>7}{note}"
        )
    unread = this_exams_unread(parsed)
    out += ["", f"NOT READ ({len(unread)})"]
    if not unread:
        out.append("  Nothing: every results row was read.")

    def item(u: Unread) -> str:
        where = f"line {u.line}: " if u.line else ""
        text = f"{u.text!r} " if u.text else ""
        return f"  {where}{text}- {u.reason}"

    out += [item(u) for u in unread]
    other = [u for u in parsed.unread if u.other_study]
    if other:
        out += ["", f"ANOTHER STUDY'S VALUES, NOT READ ({len(other)})"]
        out += [item(u) for u in other]
    return "\n".join(out) + "\n"


def this_exams_unread(parsed: ParsedReport) -> list[Unread]:
    """What was not read of this exam's results: a trend or comparison table's rows are
    another study's values, said but never asked for."""
    return [u for u in parsed.unread if not u.other_study]


def read_command(
    report: Annotated[
        Path,
        typer.Argument(
            metavar="REPORT",
            help="Scanner report: text (.txt) or a PDF with a text layer (.pdf).",
            dir_okay=False,
        ),
    ],
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="text (for people) or json (results in the contract's shape, rows as "
            "printed, and what could not be read).",
        ),
    ] = "text",
) -> None:
    """Read a DXA scanner report (Hologic APEX or GE Lunar enCORE) into results.

    Gives the results in the encounter contract's shape (site, region, BMD, T-score,
    Z-score), the scan date and scanner when printed, and every row or value it could
    not read, with the reason. Hip Mean and Diff rows are kept (regions *_mean, *_diff,
    site left_hip) but never decide a diagnosis.

    Exit status: 0 everything read, 1 read with items listed under NOT READ, 2 the file
    is not a readable report.
    """
    if output_format not in ("text", "json"):
        _fail(EXIT_INPUT, f"--format must be text or json, not {output_format!r}")
    parsed = parse_report_or_exit(report)
    if output_format == "json":
        typer.echo(parsed.to_json())
    else:
        typer.echo(render_parsed_text(parsed), nl=False)
    raise typer.Exit(EXIT_PARTIAL if this_exams_unread(parsed) else EXIT_CLEAN)


ACCEPT_UNREAD = "--accept-unread"
ACCEPT_UNREAD_HELP = (
    "With --report or --prior: write the report with what was read even though some rows "
    "or values of a scanner report could not be read (they are named on stderr and listed "
    "in the report; enter them in the encounter's results, or the prior study's as [prior] "
    "results in --options, yourself)."
)


@dataclass(frozen=True)
class PartlyRead:
    """How a refusal names the report, what was not done, and where to enter what was
    not read; ``code --report``'s by default."""

    report: str = "the scanner report"
    done: str = "coded"  # 'nothing was coded' / 'coded with what was read'
    action: str = "code"  # 'add --accept-unread to code with what was read'
    enter: str = (
        "enter this exam's results it could not read in the encounter's results (never a "
        "prior study's values)"
    )


CODE_REPORT = PartlyRead()
DOCUMENT_REPORT = PartlyRead(done="written", action="write the report")
DOCUMENT_PRIOR = PartlyRead(
    report="the prior study's scanner report",
    done="written",
    action="write the report",
    enter="enter the prior study's results it could not read as [prior] results in the "
    "--options file",
)


def unread_summary(parsed: ParsedReport) -> str:
    """What could not be read, by line and region label only: no values and no other text
    of the report (an unread row's values, or a date, could be mistaken for a result or
    identify the patient when pasted into a ticket)."""
    items = []
    for u in this_exams_unread(parsed):
        # Labels are words; values and dates are digits and punctuation only, left out.
        label = u.text if any(ch.isalpha() for ch in u.text) else ""
        if u.line is None:
            items.append(label or u.reason)
        else:
            items.append(f"line {u.line}" + (f" {label}" if label else ""))
    return "; ".join(dict.fromkeys(items))  # a row with two values not read: named once


def refuse_partly_read(
    parsed: ParsedReport,
    accept_unread: bool,
    how: PartlyRead = CODE_REPORT,
    date_of_service: object = None,
) -> None:
    """``code --report`` and ``report``: a partly read report is refused unless the user
    chose to go on with what was read, so no coder gets a clean result, nor a physician a
    document, with results silently missing. A report whose scan date is not
    ``date_of_service`` (when given) may be another exam's: a warning says so."""
    from dexacode.reports import scan_date_mismatch

    other_date = scan_date_mismatch(
        parsed, date_of_service if isinstance(date_of_service, str) else None
    )
    if other_date:
        typer.echo(
            f"dexacode: warning: {other_date}; check that it is this encounter's exam",
            err=True,
        )
    unread = this_exams_unread(parsed)
    if not unread:
        return
    count = len(unread)
    listed = f"{count} item{'s' if count > 1 else ''} not read ({unread_summary(parsed)})"
    if accept_unread:
        typer.echo(
            f"dexacode: warning: {how.report} was only partly read, {listed}; "
            f"{how.done} with what was read",
            err=True,
        )
        return
    _fail(
        EXIT_INPUT,
        f"input error: {how.report} was only partly read, {listed}; nothing was {how.done}. "
        f"See why with `dexacode read` on the report, {how.enter}, then add {ACCEPT_UNREAD} "
        f"to {how.action} with what was read",
    )


# A serial number as the scanners print it: Hologic's 'Model: Horizon W (S/N 300002M)', GE
# Lunar's footer 'Lunar Prodigy DF+500475'.
_SERIALS = (
    re.compile(r"\(S/N\s*([^)\s]+)\s*\)", re.I),
    re.compile(
        r"\bLunar\s+(?:Prodigy|iDXA|DPX)[\w+-]*(?:\s+(?:Advance|Pro|Primo))?\s+([A-Z]{2}\+\d+)\b",
        re.I,
    ),
)
_MAKERS_ONLY = {"hologic", "ge lunar"}


def report_file_text(path: Path) -> str:
    """The text of a report file already read by ``parse_report_or_exit``."""
    from dexacode.reports import ReportError, report_text

    try:
        return report_text(path)
    except (OSError, ReportError) as exc:
        _fail(EXIT_INPUT, f"input error: {path}: {exc}")


def device_of(parsed: ParsedReport, text: str) -> str | None:
    """The scanner a report was made on: maker and model, with the serial number when
    printed ('Hologic Horizon W (S/N 300002M)'); None when the model is not printed (a
    maker alone is not a device) or two serial numbers are."""
    if not parsed.scanner or parsed.scanner.casefold() in _MAKERS_ONLY:
        return None
    serials = {m.group(1).upper() for pattern in _SERIALS for m in pattern.finditer(text)}
    if len(serials) > 1:
        return None
    return f"{parsed.scanner} (S/N {serials.pop()})" if serials else parsed.scanner


# The patient's sex, age and birth date on a report's header, at a line's start or after a
# wide gap ('Sex: Female   Age: 68', 'Sex / Ethnic:  Female  White', 'Birth Date: 4/2/1957').
_FIELD_START = r"(?:^[ \t]*|(?<=\s\s))"
_SEX = re.compile(
    _FIELD_START + r"Sex(?:\s*/\s*Ethnic(?:ity)?)?\s*:\s*(Female|Male|F|M)\b", re.I | re.M
)
_AGE = re.compile(
    _FIELD_START + r"Age\s*:\s*(\d{1,3})(?:\s*(?:y|yrs?|years?)\b)?(?=\s{2,}|\s*$)", re.I | re.M
)
_BIRTH = re.compile(
    _FIELD_START
    + r"(?:DOB|Birth\s*Date|Date\s+of\s+Birth)\s*:[ \t]*(\S+(?: \S+)*?)(?=\s{2,}|\s*$)",
    re.I | re.M,
)


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def patient_mismatch(
    text: str, sex: str, birth_date: dt.date, scan_date: dt.date | None
) -> list[str]:
    """The header fields of a report that contradict the encounter's patient: 'sex', 'age'
    (on ``scan_date``), 'birth date'. Only the field names: the values identify the patient."""
    from dexacode.reports.dates import date_order, parse_date

    differ: list[str] = []
    printed_sex = {m.group(1)[0].upper() for m in _SEX.finditer(text)}
    if printed_sex and printed_sex != {sex}:
        differ.append("sex")
    ages = {int(m.group(1)) for m in _AGE.finditer(text)}
    if ages and scan_date is not None and ages != {_age_on(birth_date, scan_date)}:
        differ.append("age")
    order = date_order(text)
    births = {parse_date(m.group(1), order) for m in _BIRTH.finditer(text)} - {None}
    if births and births != {birth_date}:
        differ.append("birth date")
    return differ


def refuse_another_patients(report: str, differ: list[str], done: str = "written") -> None:
    """Another patient's report is never merged, whatever --accept-unread says."""
    if not differ:
        return
    fields = " and ".join([", ".join(differ[:-1]), differ[-1]] if len(differ) > 1 else differ)
    _fail(
        EXIT_INPUT,
        f"input error: {report} is not this encounter's patient's: its {fields} "
        f"{'differ' if len(differ) > 1 else 'differs'} from the encounter's; nothing was "
        f"{done}. Give the report of this patient's exam",
    )


def merge_report_into_encounter(encounter: dict[str, Any], parsed: ParsedReport) -> dict[str, Any]:
    """A copy of the encounter dict with the report's results merged in.

    A parsed result replaces the encounter's result for the same site and region; others
    are appended. ``exam.sites`` and everything else are left as the encounter says (what
    is billed is the encounter's business, not the scanner printout's).
    """
    merged = copy.deepcopy(encounter)
    current = merged.get("results")
    results: list[Any] = list(current) if isinstance(current, list) else []
    index = {
        (r.get("site"), r.get("region")): i for i, r in enumerate(results) if isinstance(r, dict)
    }
    for r in parsed.results:
        row = r.model_dump(mode="json")
        key = (r.site, r.region)
        if key in index:
            results[index[key]] = row
        else:
            index[key] = len(results)
            results.append(row)
    merged["results"] = results
    return merged


def report_command(
    encounter: Annotated[
        Path,
        typer.Argument(metavar="ENCOUNTER", help="Encounter JSON file.", dir_okay=False),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write: a .html or .pdf file.", dir_okay=False),
    ],
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Scanner report (.txt or text .pdf) whose results are merged into the "
            "encounter's.",
            dir_okay=False,
        ),
    ] = None,
    prior: Annotated[
        Path | None,
        typer.Option(
            "--prior",
            help="The prior study's scanner report, for the comparison against the LSC.",
            dir_okay=False,
        ),
    ] = None,
    options: Annotated[
        Path | None,
        typer.Option(
            "--options",
            help="TOML file with what the encounter lacks: [patient] height_loss_cm, "
            "glucocorticoid_mg_per_day, glucocorticoid_months, vertebral_fracture_reported, "
            "hyperparathyroidism, over_table_weight_limit; [frax] major, hip (%); "
            "[precision.REGION] value, unit; [prior] date, report, results, device; "
            "excluded_vertebrae.",
            dir_okay=False,
        ),
    ] = None,
    payers: Annotated[
        list[Path] | None,
        typer.Option("--payers", help="Folder of extra payer profiles.", file_okay=False),
    ] = None,
    accept_unread: Annotated[bool, typer.Option(ACCEPT_UNREAD, help=ACCEPT_UNREAD_HELP)] = False,
    db: DbOption = None,
    no_store: NoStoreOption = False,
) -> None:
    """Write the DXA report a physician signs: HTML or PDF.

    Results table, a T-score chart per diagnostic region (+2 to −5, green / yellow / red
    at the WHO borders), the ISCD reading in plain sentences (vertebrae used, lowest
    region, VFA indication, FRAX thresholds), the comparison with the prior study against
    the least significant change, and the coding summary for the billing office.

    The coding summary counts the patient's prior studies in the history store, as
    `dexacode code` does. A scanner report (--report or --prior) with anything `dexacode
    read` lists under NOT READ is refused (exit 2), unless --accept-unread is given; the
    document then lists what was not read. Exit status: 0 written, 1 written but the claim
    has error-level findings, 2 an input or the history store could not be read, 3
    dexacode's own data or an optional library is missing.
    """
    from dexacode.coding import configured_rulebook, default_library
    from dexacode.contract import ContractError, parse_encounter
    from dexacode.engine import code_encounter
    from dexacode.engine.interpret import measured_results
    from dexacode.formats.report_doc import ReportDocError, ReportDocument, render_html
    from dexacode.iscd import Prior, load_iscd_rules, read_iscd, subject_for
    from dexacode.reports.options import ReportOptions, parse_options
    from dexacode.rulebook import InputError, RuleBookError

    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        _fail(EXIT_INPUT, f"--out must end in .html or .pdf, not {out.name!r}")
    try:
        data = json.loads(encounter.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(EXIT_INPUT, f"input error: {encounter}: no such file")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(EXIT_INPUT, f"input error: {encounter}: {exc}")
    if not isinstance(data, dict):
        _fail(EXIT_INPUT, f"input error: {encounter}: not one encounter (a JSON object)")
    opts = ReportOptions()
    if options is not None:
        try:
            opts = parse_options(options.read_text(encoding="utf-8"))
        except OSError as exc:
            _fail(EXIT_INPUT, f"input error: {options}: {exc.strerror}")
        except ValueError as exc:
            _fail(EXIT_INPUT, f"input error: {options}: {exc}")
    parsed = parse_report_or_exit(report) if report is not None else None
    report_text_ = report_file_text(report) if report is not None else ""
    if parsed is not None:
        refuse_partly_read(
            parsed, accept_unread, DOCUMENT_REPORT, date_of_service=data.get("date_of_service")
        )
        data = merge_report_into_encounter(data, parsed)
    try:
        book = configured_rulebook(payers or [])
        iscd_book = load_iscd_rules()
    except RuleBookError as exc:
        _fail(*rule_book_failure(exc))
    try:
        enc = parse_encounter(data)
        rules = book.in_force(enc.date_of_service, enc.payer)
        release, exact = default_library().for_date(enc.date_of_service)
        history, same_date = ([], []) if no_store else stored_studies(db, enc, rules.payer.family)
        coding = code_encounter(
            enc, rules, release, icd_exact=exact, history=history, same_date_claims=same_date
        )
    except (ContractError, InputError) as exc:
        _fail(EXIT_INPUT, f"input error: {exc}")
    except (LookupError, OSError) as exc:
        _fail(EXIT_DATA, f"ICD-10-CM index error: {exc}")
    if parsed is not None:
        refuse_another_patients(
            "the scanner report",
            patient_mismatch(
                report_text_,
                enc.patient.sex,
                enc.patient.birth_date,
                parsed.scan_date or enc.date_of_service,
            ),
        )

    prior_study, prior_parsed, prior_device = None, None, None
    if prior is not None or opts.prior is not None:
        prior_opts = opts.prior
        prior_path = prior
        if prior_path is None and prior_opts is not None and prior_opts.report:
            base = options.parent if options is not None else Path.cwd()
            prior_path = base / prior_opts.report
        if prior_path is not None:
            prior_parsed = parse_report_or_exit(prior_path)
            refuse_partly_read(prior_parsed, accept_unread, DOCUMENT_PRIOR)
            prior_text = report_file_text(prior_path)
            prior_device = device_of(prior_parsed, prior_text)
            # Sex and birth date only: a printed age is the prior exam's, and the prior's
            # scan date may be corrected in --options.
            differ = patient_mismatch(prior_text, enc.patient.sex, enc.patient.birth_date, None)
            refuse_another_patients("the prior study's scanner report", differ)
        prior_results = list(prior_opts.results) if prior_opts else []
        if prior_parsed is not None:
            prior_results = list(prior_parsed.results) + prior_results
        date = prior_opts.date if prior_opts and prior_opts.date else None
        if date is None and prior_parsed is not None:
            date = prior_parsed.scan_date
        scanner = prior_opts.scanner if prior_opts and prior_opts.scanner else None
        if scanner is None and prior_parsed is not None:
            scanner = prior_parsed.vendor
        # A prior study is an earlier one: a date on or after this exam's (the date of
        # service, or the scan date its report prints) is a mix-up, never compared.
        now = [enc.date_of_service] + ([parsed.scan_date] if parsed and parsed.scan_date else [])
        if date is not None and date >= min(now):
            _fail(
                EXIT_INPUT,
                "input error: the prior study is dated on or after this exam, so it is not a "
                "prior study; nothing was written. Check --prior (or [prior] date and report "
                "in --options)",
            )
        if prior_opts is not None and prior_opts.device:
            prior_device = prior_opts.device  # the reader's word for a prior typed in
        prior_study = Prior(date, prior_results, scanner, prior_device)

    extras = opts.patient.model_dump()
    subject = subject_for(enc, rules, **extras)
    # The physician reads what the coded claim reads: results of a site this exam did not
    # measure are left out (the coding summary's RESULT-SITE-NOT-MEASURED names them).
    reading = read_iscd(
        [r for r, measured in measured_results(enc) if measured],
        subject,
        rules,
        iscd_book.in_force(enc.date_of_service),
        prior=prior_study,
        scanner=parsed.vendor if parsed is not None else None,
        device=device_of(parsed, report_text_) if parsed is not None else None,
        precision=opts.precision,
        frax=opts.frax,
        excluded_vertebrae=opts.excluded_vertebrae,
    )
    html = render_html(ReportDocument(enc, coding, reading, parsed, prior=prior_parsed))
    try:
        if suffix == ".pdf":
            from dexacode.formats.report_doc import render_pdf

            out.write_bytes(render_pdf(html))
        else:
            out.write_text(html, encoding="utf-8")
    except ReportDocError as exc:
        _fail(EXIT_DATA, str(exc))
    except OSError as exc:
        _fail(EXIT_INPUT, f"cannot write {out}: {exc.strerror}")
    typer.echo(f"Wrote {out}")
    raise typer.Exit(EXIT_PARTIAL if coding.has_errors else EXIT_CLEAN)
