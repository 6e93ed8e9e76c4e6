"""Scanner report text -> ``ParsedReport``: the driver over the shared table reader.

Pure: takes text, returns data; what could not be read is listed in ``unread``, with the
line number and the reason, and never filled in by a guess. An unread item names the
row by its region words only (or by nothing, when the label is not a region's): never
the line, whose other words may identify the patient.

A file holding two patients' reports (a second, different patient name, ID or birth
date) is refused; rows after a second, different scan date are another exam's and are
listed, not read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from pydantic import ValidationError

from dexacode.contract import Result
from dexacode.engine.interpret import vertebrae
from dexacode.reports import hologic, lunar
from dexacode.reports.dates import (
    DateOrder,
    date_fields,
    date_order,
    is_date,
    other_dates,
    parse_date,
    without_dates,
)
from dexacode.reports.headings import Heading, heading_of, scanner_section
from dexacode.reports.model import ParsedReport, ReportError, ReportRow, Unread, Vendor
from dexacode.reports.regions import (
    Kind,
    Label,
    hip_group,
    is_spine_total,
    names_region,
    parse_label,
    region_words,
    union_of,
)
from dexacode.reports.tables import (
    COLUMN_LABELS,
    NEVER_READ,
    Cell,
    Header,
    Placement,
    RawRow,
    cell_of,
    comparison_header,
    fits,
    header_like,
    header_of,
    header_start,
    laid_out,
    normalise,
    only_cells,
    place,
    split_row,
)
from dexacode.rulebook import RegionRule, RuleBookError, load_rulebook

__all__ = ["BILATERAL_SITE", "detect_vendor", "parse_date", "parse_report_text"]

BILATERAL_SITE = "left_hip"  # Mean/Diff rows: the contract needs a real site (see ReportRow)

_REFERENCE = re.compile(
    r"(T-score vs\.|Z-score vs\.|Reference Population|T-score\s*:\s*USA|Source\s*:)", re.I
)
# A bare 'Source:' is a reference only when it names one ('Referral Source: ...' is not).
_REFERENCE_SOURCE = re.compile(r"NHANES|BMDCS|Lunar|Hologic|reference", re.I)
# A value in a sentence: 'T-score -2.7', 'BMD of 0.612', 'BMD measured at AP Spine L1-L4
# is 0.982' (the first decimal number after the word, before the next such word).
_PROSE_VALUE = re.compile(
    r"\b(?P<word>BMD|[TZ]\s?-?\s?scores?)\b(?P<gap>(?:(?!\bBMD\b|\b[TZ]\s?-?\s?score)"
    r"[^0-9+\-]|[A-Z]\d[\d,\-L]*){0,40}?)(?P<value>[-+]?\d+[.,]\d+)(?![\d%]|\s%)",
    re.I,
)


# Far more text than any scanner report (a few kilobytes): refused before it is read.
MAX_REPORT_CHARS = 2_000_000
# A line far longer than any report's (a PDF page's is a few hundred characters): listed,
# not read, so that no line costs more than a report's worth of work.
MAX_LINE_CHARS = 5_000

# The fields naming the patient on a report's header, at a line's start or after a wide
# gap ('Name: ...   Patient ID: ...'), never inside another field's name ('Referring
# Physician Name:'); the value runs to the next wide gap.
_PATIENT_FIELD = re.compile(
    r"(?:^[ \t]*|(?<=\s\s))(?P<name>Patient\s+Name|Patient\s+ID|Patient|Name|MRN|"
    r"Medical\s+Record(?:\s+(?:Number|No\.?))?|DOB|Birth\s*Date|Date\s+of\s+Birth)"
    r"\s*:[ \t]*(?P<value>[^\s:]+(?: [^\s:]+)*)(?=\s{2,}|\s*$)",
    re.I,
)
_PATIENT_KIND = {
    "patient name": "name",
    "patient": "name",
    "name": "name",
    "patient id": "ID",
    "mrn": "ID",
    "dob": "birth date",
    "birthdate": "birth date",
    "birth date": "birth date",
    "date of birth": "birth date",
}


def detect_vendor(text: str) -> Vendor | None:
    h, g = hologic.score(text), lunar.score(text)
    if h == g:
        return None
    return "hologic" if h > g else "lunar"


@dataclass
class _Block:
    """Rows that are not this exam's results: under another study's heading (``prior``)
    or a scan dexacode does not read (``other``)."""

    role: Literal["prior", "other"]
    line: int
    name: str = ""
    said: bool = False
    # A trend or comparison table (a 'Trend:' heading, a header led by the scans' dates or
    # naming a prior's or a change's columns): its rows are another study's values, which
    # code --report does not ask for.
    trend: bool = False
    tables: int = 0  # header lines under it: the first is the block's own table
    # The scan, side and heading line before the block: a side named inside another
    # study's block ('PRIOR STUDY:' then 'LEFT HIP') must not carry over to this exam's.
    before: tuple[Kind | None, str | None, int | None] = (None, None, None)


@dataclass
class _State:
    vendor: Vendor | None = None
    kind: Kind | None = None
    side: str | None = None  # left | right | dual
    section: int | None = None  # the line of the heading that set kind and side
    header: Header | None = None
    bad_header: int | None = None  # a header line not understood: no table above counts
    seen_header: bool = False  # a header line so far: rows above one are header fields
    group: str | None = None  # Hologic region heading inside a hip table
    pending_label: str | None = None
    block: _Block | None = None
    scan_date: dt.date | None = None
    order: DateOrder = "month_first"  # how the report prints slashed dates
    rows: list[ReportRow] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)
    sections: dict[int, int | None] = field(default_factory=dict)  # row line -> heading line
    table: list[ReportRow] = field(default_factory=list)  # rows since the header line
    table_unread: bool = False  # some row of this table was not read
    # Sentences giving results: (line, [(column, value)]), said unless a row gave them.
    prose: list[tuple[int, list[tuple[str, float]]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    header_line: int = 0  # the line of the table's header
    read_lines: set[int] = field(default_factory=set)  # lines read into a row
    # The line of a second, different scan date: no row after it is read.
    second_date: int | None = None
    # Rows under a T-score column with it blank, and how each is shown.
    blank_t: list[tuple[ReportRow, str]] = field(default_factory=list)

    def note(self, line: int | None, text: str, reason: str, *, other_study: bool = False) -> None:
        self.unread.append(Unread(line=line, text=text, reason=reason, other_study=other_study))
        self.table_unread = True


def parse_report_text(text: str) -> ParsedReport:
    """Read a Hologic APEX or GE Lunar enCORE report's results tables from extracted text.

    Raises ``ReportError`` when the text holds no results table at all, holds two
    patients' reports, or is far too long to be a report.
    """
    if len(text) > MAX_REPORT_CHARS:
        raise ReportError(
            f"the text is {len(text):,} characters long, too long for a scanner report (a "
            f"few thousand; dexacode reads up to {MAX_REPORT_CHARS:,})"
        )
    lines = normalise(text)
    joined = "\n".join(lines)
    vendor = detect_vendor(joined)
    scanner = None
    if vendor == "hologic":
        scanner = hologic.scanner(joined)
    elif vendor == "lunar":
        scanner = lunar.scanner(joined)

    state = _State(vendor=vendor, order=date_order(joined), lines=lines)
    _one_patient(lines, state.order)
    scan_dates: list[tuple[int, dt.date]] = []
    reference: list[str] = []
    saw_header = False
    i = 0
    while i < len(lines):
        line = lines[i]
        number = i + 1
        i += 1
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            state.note(
                number,
                "",
                f"a line of {len(line):,} characters, far longer than a report's; not read",
            )
            continue
        if state.second_date is not None:
            _note_after_second_date(state, number, line)
            continue
        fields = date_fields(line, state.order)
        if fields is not None:
            for f in fields:
                if f.date is None:
                    reason = f"the date after '{f.name}:' is not one dexacode understands"
                    state.unread.append(
                        Unread(
                            line=number,
                            text=f.shown,
                            reason=f"{reason}: {f.why}" if f.why else reason,
                        )
                    )
                else:
                    scan_dates.append((number, f.date))
                    if state.scan_date is not None and f.date != state.scan_date:
                        state.second_date = number  # another exam's report follows
                    state.scan_date = state.scan_date or f.date
            continue
        _note_reference(reference, line)
        section = scanner_section(line, vendor)
        if section is not None:
            _enter(state, section, number)
            continue
        header = header_of(line)
        if header is None and header_start(line) and i < len(lines):
            wrapped = header_of(line + " " + lines[i])
            if wrapped is not None:
                header = Header(wrapped.columns, wrapped.region_centre, positions=False)
                i += 1
        if header is not None and other_dates(line, state.scan_date, state.order):
            header = None  # 'BMD 04/02/2024': another study's column
        if header is not None or header_like(line):
            # A header line dexacode cannot read ends the table above it all the same:
            # its rows are not the earlier table's.
            if comparison_header(line, header):
                _enter(state, Heading("prior", name="trend"), number)
                header = None
            if state.block is not None and state.block.role == "prior":
                if header is not None and state.block.tables:
                    _end_prior(state)  # a new results table after the block's own
                else:
                    state.block.tables += 1
            state.seen_header = True
            state.header = header
            state.header_line = i  # its last line, when it was wrapped over two
            state.bad_header = None if header is not None else number
            state.group, state.pending_label = None, None
            state.table, state.table_unread = [], False
            saw_header = saw_header or header is not None
            continue
        raw = split_row(line)
        if raw is None:
            _note_not_a_row(state, number, line)
            continue
        if not raw.cells:
            heading = heading_of(_this_exams_dates_out(state, raw.label), state.scan_date)
            if heading is not None:
                _enter(state, heading, number)
            elif raw.label.endswith(":"):
                _enter(state, Heading("section"), number)  # 'HISTORY:' ends a prior block
            elif state.header is not None:
                group = hip_group(raw.label)
                if group is not None and state.kind in ("hip", None):
                    state.group = group
                    state.pending_label = None
                elif len(raw.label.split()) <= 2:
                    state.pending_label = raw.label
            continue
        if state.block is not None or state.header is None:
            _note_outside(state, number, raw)
            continue
        positions = laid_out(line)
        span = [number]
        if len(raw.cells) < len(state.header.columns) and i < len(lines):
            more = only_cells(lines[i])
            if more is not None and len(raw.cells) + len(more) <= len(state.header.columns):
                raw = RawRow(raw.label, raw.cells + more)
                positions = False
                i += 1
                span.append(i)
        if _read_row(state, number, raw, positions):
            state.read_lines.update(span)

    if not saw_header:
        raise ReportError(
            "no results table found (a header line with Region, BMD and T-score or "
            "Z-score); is this a Hologic or GE Lunar report?"
        )
    scan_date = scan_dates[0][1] if scan_dates else None
    if state.second_date is not None:
        day = next(d for n, d in scan_dates if n == state.second_date and d != scan_date)
        state.unread.append(
            Unread(
                line=state.second_date,
                text=day.isoformat(),
                reason="a second, different scan date: another exam's report follows; the "
                "first date is used and no row from this line on is read",
            )
        )
    _note_blank_t_scores(state)
    results = _results(state)
    _note_prose(state)
    if not results:
        state.unread.append(Unread(line=None, text="", reason="no results row could be read"))
    return ParsedReport(
        vendor=vendor,
        scanner=scanner,
        scan_date=scan_date,
        results=results,
        rows=state.rows,
        reference=list(dict.fromkeys(reference)),
        unread=sorted(state.unread, key=lambda u: (u.line is None, u.line or 0)),
    )


def _this_exams_dates_out(state: _State, label: str) -> str:
    """A label whose dates are all the scan date, read in the report's order, without
    them: a heading dated '18/03/2026' on a day-first report is this exam's."""
    if state.order == "month_first" or other_dates(label, state.scan_date, state.order):
        return label
    return without_dates(label)


def _one_patient(lines: list[str], order: DateOrder) -> None:
    """``ReportError`` when the header fields name two patients: a second, different
    name, ID or birth date. Neither value is quoted (they identify the patient)."""
    seen: dict[str, list[tuple[tuple[frozenset[str], frozenset[str]], int]]] = {}
    for number, line in enumerate(lines, 1):
        for match in _PATIENT_FIELD.finditer(line):
            kind = _PATIENT_KIND.get(" ".join(match.group("name").lower().split()), "ID")
            value = match.group("value")
            if kind == "birth date":
                day = parse_date(value, order)
                text = day.isoformat() if day else re.sub(r"[^0-9A-Z]", "", value.upper())
                key = (frozenset([text] if text else []), frozenset[str]())
            elif kind == "name":
                words = re.findall(r"[A-Z]+", value.upper())
                key = (
                    frozenset(w for w in words if len(w) > 1),
                    frozenset(w for w in words if len(w) == 1),
                )
            else:
                text = re.sub(r"[^0-9A-Z]", "", value.upper())
                key = (frozenset([text] if text else []), frozenset[str]())
            if not key[0] and not key[1]:
                continue
            earlier = seen.setdefault(kind, [])
            clash = next((n for k, n in earlier if not _same_patient_value(k, key)), None)
            earlier.append((key, number))
            if clash is not None:
                raise ReportError(
                    f"the file holds more than one patient's report: the patient's {kind} "
                    f"on line {number} is not the one on line {clash}; nothing was read. "
                    "Give dexacode one patient's report per file"
                )


def _same_patient_value(
    one: tuple[frozenset[str], frozenset[str]], other: tuple[frozenset[str], frozenset[str]]
) -> bool:
    """Two printings of one header field that name one patient: the same words (of a name,
    in any order: 'Test, Synthetic' and 'Synthetic Test'), where one may drop the other's
    initials ('Test, Synthetic B'). Another given name, a suffix (JR), or another initial
    is another patient."""
    words, initials = one
    other_words, other_initials = other
    return words == other_words and (initials <= other_initials or other_initials <= initials)


def _note_after_second_date(state: _State, number: int, line: str) -> None:
    """A row after a second, different scan date: another exam's, listed, never read."""
    raw = split_row(line)
    if raw is None or not raw.cells:
        raw = _row_in(line)
    if raw is None or not _worth_saying(raw.label, raw.cells):
        return
    state.note(
        number,
        _shown(state, raw.label, raw.cells),
        f"after a second, different scan date (line {state.second_date}): another exam's "
        "row, not read",
    )


def _row_in(line: str) -> RawRow | None:
    """The values of a results row inside a line that is not one ('Page 2   L2  13.95
    9.76  0.700  -2.8', 'Comment: reviewed   Total  57.46 ... -2.8'): two values or more
    side by side, one with decimals (a phone number or an ID is digits only), and the
    words just before them up to a wide gap as the label; None if the line has none."""
    tokens = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", line)]
    best: tuple[int, int, int] = (0, 0, 0)  # (values, first token, end token) of a run
    first, count = 0, 0
    for index, (text, start, end) in enumerate([*tokens, ("", 0, 0)]):
        cell = cell_of(text, (start + end) / 2) if text else None
        if cell is not None:
            count += cell.value is not None
            continue
        if count > best[0]:
            best = (count, first, index)
        first, count = index + 1, 0
    cells = [c for t, s, e in tokens[best[1] : best[2]] if (c := cell_of(t, (s + e) / 2))]
    if best[0] < 2 or all(c.decimals == 0 for c in cells if c.value is not None):
        return None
    index = best[1]  # the label: back from the values to a wide gap
    while index > 0 and (index == best[1] or tokens[index][1] - tokens[index - 1][2] < 2):
        index -= 1
    label = " ".join(t for t, _, _ in tokens[index : best[1]])
    return RawRow(label.rstrip(":"), cells)


def _note_reference(reference: list[str], line: str) -> None:
    """The reference population, from its words on: a report header may print it beside
    the patient's name, which must not come along."""
    match = _REFERENCE.search(line)
    if match is None:
        return
    text = re.split(r"\s{3,}", line[match.start() :])[0]
    if match.group().lower().startswith("source") and not _REFERENCE_SOURCE.search(text):
        return
    reference.append(" ".join(text.split()))


def _enter(state: _State, heading: Heading, number: int) -> None:
    """A heading: the scan and side of the rows under it, or a block that is not read."""
    if heading.role == "prior":
        if state.block is None or state.block.role != "prior":
            state.block = _Block("prior", number, before=(state.kind, state.side, state.section))
        state.block.trend = state.block.trend or heading.name == "trend"
        return
    if heading.role == "section":
        _end_prior(state)
        return
    if heading.role == "other":
        state.block = _Block("other", number, heading.name)
        state.kind, state.side, state.section, state.group = None, None, number, None
        return
    if heading.role == "current":
        _end_prior(state)
        state.block = None
        return
    # A dictated heading inside another study's block ('PRIOR STUDY:' then 'LEFT HIP')
    # is that study's; only the scanner's next section or a 'Current' heading ends it.
    if state.block is not None and (heading.scanner or state.block.role == "other"):
        state.block = None
    if heading.side is None and heading.kind == state.kind and not heading.scanner:
        return  # 'Hip' under 'Scan Type: f Left Hip' names the scan again, not a new side
    state.kind, state.side, state.section = heading.kind, heading.side, number
    state.group, state.pending_label = None, None


def _end_prior(state: _State) -> None:
    """Back to this exam after another study's block, under the heading before it."""
    if state.block is not None and state.block.role == "prior":
        state.kind, state.side, state.section = state.block.before
        state.block = None


def _values(cells: list[Cell]) -> int:
    return sum(1 for c in cells if c.value is not None)


def _worth_saying(label: str, cells: list[Cell]) -> bool:
    """A row not read is listed when it could be a result: it names a region, or it has
    two values or more. A lone number beside other words ('Age 63') is not a result."""
    n = _values(cells)
    return n >= 2 or (n >= 1 and names_region(label))


def _shown(state: _State, label: str, cells: list[Cell]) -> str:
    """How an unread row is named: its label when that names a region (any other word
    may be the patient's name); a label-less row's values when they fit the table's
    columns; else nothing."""
    if label:
        return region_words(label)
    header = state.header
    if header is None or not cells:
        return ""
    kinds = [c.kind for c in header.columns]
    if all(any(fits(c, k) for k in kinds if k not in NEVER_READ) for c in cells):
        return " ".join(c.text for c in cells)
    return ""


def _note_outside(state: _State, number: int, raw: RawRow) -> None:
    """A row outside a readable table: another study's, another scan's, under a header
    line not understood, or above every header."""
    if not _worth_saying(raw.label, raw.cells):
        return
    block = state.block
    if block is None and not (state.seen_header or state.section) and not names_region(raw.label):
        return  # above every header line and heading: the report's header fields
    shown = _shown(state, raw.label, raw.cells)
    dated = is_date(raw.label)
    if block is not None and block.role == "other":
        if not block.said:
            block.said = True
            scan = f"the {block.name} scan" if block.name else "a scan"
            state.note(
                block.line,
                block.name,
                f"a section for {scan}, which dexacode does not read: its rows (from "
                f"line {number}) are not read",
            )
        return
    if block is not None and (block.trend or dated):
        reason = (
            f"another study's values, in a trend or comparison table (line {block.line}); "
            "not this exam's result"
        )
    elif block is not None:
        reason = (
            f"in another study's or a comparison table (heading on line {block.line}); "
            "not read as this exam's result"
        )
    elif dated:
        reason = "a row led by a date: another study's values, not this exam's result"
    elif state.bad_header is not None:
        reason = f"under a header line dexacode does not understand (line {state.bad_header})"
    else:
        reason = "no header line above it names its columns; not read"
    trend = dated or (block is not None and block.trend)
    state.note(number, shown, reason, other_study=trend)


def _note_not_a_row(state: _State, number: int, line: str) -> None:
    """A line that is not a table row but holds a result: said, not silently dropped."""
    words = []
    for token in line.split():
        if cell_of(token, 0.0) is not None:
            break
        words.append(token)
    label = " ".join(words)
    trailing = bool(label) and ":" not in label and len(words) < len(line.split())
    if (
        trailing
        and state.header is not None
        and state.block is None
        and isinstance(parse_label(label, state.kind, state.group), Label)
    ):
        reason = "words after the values; not read"
        if "\u00ad" in line:
            reason = (
                "a soft hyphen (U+00AD) before a value: a minus sign in some PDFs, nothing "
                "in others; not read"
            )
        state.note(number, label, reason)
        return
    row = _row_in(line)
    if row is not None:
        if state.block is not None or state.header is None:
            _note_outside(state, number, row)
        else:
            state.note(
                number,
                _shown(state, row.label, row.cells),
                "other text on the line with the row's values; not read",
            )
        return
    if state.block is None and names_region(line):
        values = []
        for m in _PROSE_VALUE.finditer(line.replace("- ", "-")):
            kind = _PROSE_KIND[m.group("word")[0].upper()]
            cell = cell_of(m.group("value"), 0.0)
            if cell is not None and cell.value is not None and fits(cell, kind):
                values.append((kind, cell.value))
        if values:
            state.prose.append((number, values))


_PROSE_KIND = {"B": "bmd", "T": "t", "Z": "z"}


def _note_prose(state: _State) -> None:
    """A sentence's values are lost unless a table row gave them too (GE Lunar's comment
    'The BMD measured at AP Spine L1-L4 is 0.982 g/cm2 with a T-score of -1.8' repeats
    the table; a dictated 'Femoral neck BMD 0.612, T-score -2.7' may not)."""
    read = {
        "bmd": {r.bmd for r in state.rows},
        "t": {r.t_score for r in state.rows},
        "z": {r.z_score for r in state.rows},
    }
    for number, values in state.prose:
        if any(value not in read[kind] for kind, value in values):
            state.unread.append(
                Unread(
                    line=number,
                    text="",
                    reason="a sentence giving results (BMD, T-score or Z-score) that no "
                    "results table row gives: dexacode reads tables only; not read",
                )
            )


def _read_row(state: _State, number: int, raw: RawRow, positions: bool) -> bool:
    """Read one row under the table's header; whether it became a row of the reading."""
    assert state.header is not None
    label, cells = raw.label, raw.cells
    parsed: Label | str = "the row has no label"
    if label:
        if state.pending_label is not None:
            joined = parse_label(f"{state.pending_label} {label}", state.kind, state.group)
            if isinstance(joined, Label):
                parsed = joined
        if not isinstance(parsed, Label):
            parsed = parse_label(label, state.kind, state.group)
    state.pending_label = None
    if not isinstance(parsed, Label) and state.kind == "spine" and is_spine_total(label):
        parsed = _spine_total(state, parsed, number)
    shown = _shown(state, label, cells)
    if not isinstance(parsed, Label):
        if is_date(label):
            reason = "a row led by a date: another study's values, not this exam's result"
            state.note(number, shown, reason, other_study=True)
        elif _worth_saying(label, cells):
            reason = parsed if shown or not label else f"{parsed} (the label is not shown)"
            state.note(number, shown, reason)
        return False
    if all(c.value is None for c in cells):
        return False  # a row printed with every cell blank: nothing to read, nothing lost
    placement = _placement(state, number, shown, raw, positions)
    if placement is None:
        return False
    _note_placement(state, number, shown, placement)
    site, region, bilateral = _where(parsed, state.side)
    if not (isinstance(site, str) and region is not None):
        state.note(number, shown, str(site))
        return False
    row = _row(number, label, site, region, bilateral, placement)
    if parsed.kind == "spine" and _outside_lumbar(region) and _unscored(row):
        # GE Lunar's ancillary T12 (or an L5) beside L1-L4, printed with no score: part of
        # the AP spine scan, not a thoracic spine result of its own.
        row = row.model_copy(update={"ancillary": True})
    elif row.t_score is None and "t" in {c.kind for c in state.header.columns}:
        state.blank_t.append((row, shown))
    state.rows.append(row)
    state.table.append(row)
    state.sections[number] = state.section
    return True


def _outside_lumbar(region: str) -> bool:
    """A vertebra an AP spine scan prints besides L1-L4: T12, L5."""
    levels = vertebrae(region)
    return levels is None or any(level > 4 for level in levels)


def _unscored(row: ReportRow) -> bool:
    return row.t_score is None and row.z_score is None


def _note_blank_t_scores(state: _State) -> None:
    """A diagnostic region printed with a BMD but its T-score blank, in a report that
    prints T-scores (a young patient's report leaves the whole column blank): said, or
    the next region would decide the diagnosis in its place without a word."""
    if not any(r.t_score is not None for r in state.rows):
        return
    said = {u.line for u in state.unread}
    for row, shown in state.blank_t:
        if row.line not in said and _diagnostic_with_bmd(row):
            state.note(
                row.line,
                shown,
                f"a BMD but no T-score printed: the {_described(row)} is a diagnostic region "
                "that is not scored, so it cannot decide the diagnosis; its T-score is not "
                "read",
            )


def _diagnostic_with_bmd(row: ReportRow) -> bool:
    """A diagnostic region's row (interpretation.toml [regions]) with a BMD."""
    if row.bmd is None or row.bilateral is not None:
        return False
    rules = _region_rules()
    if rules is None:
        return True  # the rule book cannot say: every such row is said
    for rule in rules:
        levels = vertebrae(row.region) if row.site == rule.lumbar_site else None
        if levels is not None and len(levels) >= rule.lumbar_min_vertebrae:
            return True
        if row.site in rule.hip_sites and row.region in rule.hip_regions:
            return True
        if row.site in rule.forearm_sites and row.region in rule.forearm_regions:
            return True
    return False


@cache
def _region_rules() -> tuple[RegionRule, ...] | None:
    """The diagnostic regions, every version of them (interpretation.toml [regions]);
    loaded only when a row needs them. None when the rule book cannot be read."""
    try:
        return load_rulebook().regions
    except RuleBookError:
        return None


def _described(row: ReportRow) -> str:
    if row.site == "lumbar_spine":
        return f"lumbar spine {row.region}"
    return row.region.replace("_", " ")


def _spine_total(state: _State, reason: Label | str, number: int) -> Label | str:
    """Hologic's spine 'Total' row: the vertebrae listed one by one above it in the same
    table, when every line between the header and it was read into a row (a line missed,
    whatever it holds, might be a vertebra's and would change its name)."""
    if state.vendor != "hologic" or state.table_unread:
        return reason
    between = range(state.header_line + 1, number)
    if any(state.lines[n - 1].strip() and n not in state.read_lines for n in between):
        return reason
    region = union_of(
        [r.region for r in state.table if r.site == "lumbar_spine" and not r.ancillary]
    )
    if region is None:
        return reason
    return Label("spine", region)


def _placement(
    state: _State, number: int, shown: str, raw: RawRow, positions: bool
) -> Placement | None:
    """Where the row's values go; a '-' a space away from a number is read as its minus
    sign only when the other reading (a blank cell, then a positive value) cannot be."""
    assert state.header is not None
    header = state.header
    apart = place(raw.cells, header, positions)
    together = place(raw.joined, header, positions) if raw.joined is not None else None
    if raw.joined is not None and apart is not None and together is not None:
        placed = {
            kind: cell
            for kind, cell in apart.placed.items()
            if kind in together.placed and together.placed[kind].value == cell.value
        }
        pairs = [c.text for c in raw.joined if c not in raw.cells]
        for text in pairs:
            state.note(
                number,
                shown,
                f"'- {text[1:]}' could be {text} or a blank cell and {text[1:]} (a space "
                "after the minus sign); not read",
            )
        return Placement(placed, [], [])
    placement = apart if apart is not None else together
    if placement is None:
        columns = ", ".join(COLUMN_LABELS[c.kind] for c in header.columns)
        count = len(raw.cells)
        state.note(number, shown, f"its {count} values do not fit the columns ({columns})")
    return placement


def _note_placement(state: _State, number: int, shown: str, placement: Placement) -> None:
    for cell, kinds in placement.doubtful:
        options = " or ".join(COLUMN_LABELS[k] for k in kinds)
        state.note(
            number,
            shown,
            f"{cell.text} could be the {options} (a blank cell vanished in the text); not read",
        )
    for cell, kind in placement.misfits:
        state.note(
            number, shown, f"{cell.text} does not look like a {COLUMN_LABELS[kind]}; not read"
        )


def _where(label: Label, side: str | None) -> tuple[str, str | None, str | None]:
    """(site, region, bilateral) for a label; (reason, None, None) when it cannot be placed."""
    if label.kind == "spine":
        site = "lumbar_spine" if label.region.startswith("L") else "thoracic_spine"
        return site, label.region, None
    which = label.side or side
    if label.side in ("mean", "diff"):
        return BILATERAL_SITE, f"{label.region}_{label.side}", label.side
    if which not in ("left", "right"):
        part = "hip" if label.kind == "hip" else "forearm"
        return f"the {part}'s side (left or right) is not printed", None, None
    part = "hip" if label.kind == "hip" else "forearm"
    return f"{which}_{part}", label.region, None


def _value(placement: Placement, kind: str) -> float | None:
    cell = placement.placed.get(kind)
    return None if cell is None else cell.value


def _row(
    number: int, label: str, site: str, region: str, bilateral: str | None, p: Placement
) -> ReportRow:
    return ReportRow(
        line=number,
        label=label,
        site=site,
        region=region,
        bilateral="mean" if bilateral == "mean" else "diff" if bilateral == "diff" else None,
        area=_value(p, "area"),
        bmc=_value(p, "bmc"),
        bmd=_value(p, "bmd"),
        t_score=_value(p, "t"),
        z_score=_value(p, "z"),
        young_adult_pct=_value(p, "ya_pct"),
        age_matched_pct=_value(p, "am_pct"),
    )


def _results(state: _State) -> list[Result]:
    """The contract's results, one per site and region. A repeat under the same heading
    must agree (else the first is used and the repeat is listed); rows under different
    headings that disagree are both listed and neither is used, since one heading may
    name the wrong side or scan."""
    seen: dict[tuple[str, str], ReportRow] = {}
    clashed: set[tuple[str, str]] = set()
    out: dict[tuple[str, str], Result] = {}
    for row in state.rows:
        if row.ancillary:
            continue  # kept as printed in ``rows``, never a result
        key = (row.site, row.region)
        if key in seen:
            first = seen[key]
            if (first.bmd, first.t_score, first.z_score) == (row.bmd, row.t_score, row.z_score):
                continue
            where, there = state.sections.get(row.line), state.sections.get(first.line)
            if where == there and key not in clashed:
                state.unread.append(
                    Unread(
                        line=row.line,
                        text=row.label,
                        reason=f"printed again with other values than on line {first.line}; "
                        "the first is used",
                    )
                )
                continue
            if key not in clashed:
                clashed.add(key)
                out.pop(key, None)
                state.unread.append(_clash(first, row, there, where))
            state.unread.append(_clash(row, first, where, there))
            continue
        seen[key] = row
        bmd = row.bmd if row.bmd is not None and 0.0 < row.bmd <= 3.0 else None
        try:
            out[key] = Result(
                site=row.site,
                region=row.region,
                bmd=bmd,
                t_score=row.t_score,
                z_score=row.z_score,
            )
        except ValidationError:
            state.unread.append(
                Unread(line=row.line, text=row.label, reason="values outside the possible range")
            )
    return list(out.values())


def _clash(row: ReportRow, other: ReportRow, where: int | None, there: int | None) -> Unread:
    site = row.site.replace("_", " ")

    def under(heading: int | None) -> str:
        return f"under the heading on line {heading}" if heading else "under no heading"

    return Unread(
        line=row.line,
        text=row.label,
        reason=f"two different {site} {row.region} rows: this one {under(where)}, line "
        f"{other.line} {under(there)}; a heading may name the wrong side, so neither is read",
    )
