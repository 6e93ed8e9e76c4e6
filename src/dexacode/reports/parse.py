"""Scanner report text -> ``ParsedReport``: the driver over the shared table reader.

Pure: takes text, returns data; what could not be read is listed in ``unread``, with the
line number and the reason, and never filled in by a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from dexacode.contract import Result
from dexacode.reports import hologic, lunar
from dexacode.reports.model import ParsedReport, ReportError, ReportRow, Unread, Vendor
from dexacode.reports.regions import Kind, Label, heading_words, hip_group, parse_label
from dexacode.reports.tables import (
    COLUMN_LABELS,
    Cell,
    Header,
    Placement,
    cell_of,
    header_of,
    header_start,
    normalise,
    only_cells,
    place,
    split_row,
)

BILATERAL_SITE = "left_hip"  # Mean/Diff rows: the contract needs a real site (see ReportRow)

_DATE_FIELD = re.compile(
    r"\b(?:Scan Date|Measured|Acquired|Exam Date|Study Date|Date of Scan)\s*:\s*(.+)$", re.I
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DATE_FORMS = (
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
    (re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b"), "Mdy"),
    (re.compile(r"^(\d{1,2})[\s-]([A-Za-z]{3,9})\.?[\s-](\d{4})\b"), "dMy"),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\b"), "mdy"),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), "dmy"),
)
_REFERENCE = re.compile(
    r"(T-score vs\.|Z-score vs\.|Reference Population|T-score\s*:\s*USA|Source\s*:)", re.I
)


def parse_date(text: str) -> dt.date | None:
    """'December 04, 2019', '2019-12-04', '12/04/2019' (US order), '04.12.2019', '4-Dec-2019'."""
    text = text.strip()
    for pattern, form in _DATE_FORMS:
        m = pattern.match(text)
        if not m:
            continue
        a, b, c = m.groups()
        try:
            if form == "ymd":
                return dt.date(int(a), int(b), int(c))
            if form == "Mdy":
                month = _MONTHS.get(a[:3].lower())
                return dt.date(int(c), month, int(b)) if month else None
            if form == "dMy":
                month = _MONTHS.get(b[:3].lower())
                return dt.date(int(c), month, int(a)) if month else None
            if form == "mdy":
                return dt.date(int(c), int(a), int(b))
            return dt.date(int(c), int(b), int(a))
        except ValueError:
            return None
    return None


def detect_vendor(text: str) -> Vendor | None:
    h, g = hologic.score(text), lunar.score(text)
    if h == g:
        return None
    return "hologic" if h > g else "lunar"


@dataclass
class _State:
    kind: Kind | None = None
    side: str | None = None  # left | right | dual
    header: Header | None = None
    group: str | None = None  # Hologic region heading inside a hip table
    pending_label: str | None = None
    rows: list[ReportRow] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)


def parse_report_text(text: str) -> ParsedReport:
    """Read a Hologic APEX or GE Lunar enCORE report's results tables from extracted text.

    Raises ``ReportError`` when the text holds no results table at all.
    """
    lines = normalise(text)
    joined = "\n".join(lines)
    vendor = detect_vendor(joined)
    scanner = None
    if vendor == "hologic":
        scanner = hologic.scanner(joined)
    elif vendor == "lunar":
        scanner = lunar.scanner(joined)

    state = _State()
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
        date_field = _DATE_FIELD.search(line)
        if date_field and not re.search(r"birth|DOB", line[: date_field.start() + 1], re.I):
            day = parse_date(date_field.group(1))
            if day is None:
                state.unread.append(
                    Unread(line=number, text=line.strip(), reason="a date not understood")
                )
            else:
                scan_dates.append((number, day))
            continue
        if _REFERENCE.search(line):
            reference.append(" ".join(line.split()))
        scan_type = hologic.heading(line)
        if scan_type is not None:
            state.kind, state.side = scan_type
            state.group = None
            continue
        header = header_of(line)
        if header is None and header_start(line) and i < len(lines):
            wrapped = header_of(line + " " + lines[i])
            if wrapped is not None:
                header = Header(wrapped.columns, wrapped.region_centre, positions=False)
                i += 1
        if header is not None:
            state.header, state.group, state.pending_label = header, None, None
            saw_header = True
            continue
        raw = split_row(line)
        if raw is None:
            if state.header is not None:
                _note_trailing(state, number, line)
            continue
        if not raw.cells:
            heading = heading_words(raw.label)
            if heading is not None:
                state.kind, state.side = heading
                state.group = None
                state.pending_label = None
            elif state.header is not None:
                group = hip_group(raw.label)
                if group is not None and state.kind in ("hip", None):
                    state.group = group
                    state.pending_label = None
                elif len(raw.label.split()) <= 2:
                    state.pending_label = raw.label
            continue
        if state.header is None:
            continue
        cells = raw.cells
        positions = True
        if len(cells) < len(state.header.columns) and i < len(lines):
            more = only_cells(lines[i])
            if more is not None and len(cells) + len(more) <= len(state.header.columns):
                cells, positions = cells + more, False
                i += 1
        _read_row(state, number, raw.label, cells, positions)

    if not saw_header:
        raise ReportError(
            "no results table found (a header line with Region, BMD and T-score or "
            "Z-score); is this a Hologic or GE Lunar report?"
        )
    scan_date = scan_dates[0][1] if scan_dates else None
    for number, day in scan_dates[1:]:
        if day != scan_date:
            state.unread.append(
                Unread(
                    line=number,
                    text=day.isoformat(),
                    reason="a second, different scan date; the first one is used",
                )
            )
    results = _results(state)
    if not results:
        state.unread.append(Unread(line=None, text="", reason="no results row could be read"))
    return ParsedReport(
        vendor=vendor,
        scanner=scanner,
        scan_date=scan_date,
        results=results,
        rows=state.rows,
        reference=list(dict.fromkeys(reference)),
        unread=state.unread,
    )


def _read_row(state: _State, number: int, label: str, cells: list[Cell], positions: bool) -> None:
    assert state.header is not None
    shown = f"{label} {' '.join(c.text for c in cells)}".strip()
    parsed: Label | str = "the row has no label"
    if label:
        if state.pending_label is not None:
            joined = parse_label(f"{state.pending_label} {label}", state.kind, state.group)
            if isinstance(joined, Label):
                parsed = joined
        if not isinstance(parsed, Label):
            parsed = parse_label(label, state.kind, state.group)
    state.pending_label = None
    if not isinstance(parsed, Label):
        if sum(1 for c in cells if c.value is not None) >= 2:
            state.unread.append(Unread(line=number, text=shown, reason=parsed))
        return
    if all(c.value is None for c in cells):
        return  # a row printed with every cell blank: nothing to read, nothing lost
    placement = place(cells, state.header, positions)
    if placement is None:
        columns = ", ".join(COLUMN_LABELS[c.kind] for c in state.header.columns)
        state.unread.append(
            Unread(
                line=number,
                text=shown,
                reason=f"its {len(cells)} values do not fit the columns ({columns})",
            )
        )
        return
    _note_placement(state, number, shown, placement)
    site, region, bilateral = _where(parsed, state.side)
    if isinstance(site, str) and region is not None:
        state.rows.append(_row(number, label, site, region, bilateral, placement))
    else:
        state.unread.append(Unread(line=number, text=shown, reason=str(site)))


def _note_trailing(state: _State, number: int, line: str) -> None:
    """A known region's row with words after its values: said, not silently dropped."""
    words = []
    for token in line.split():
        if cell_of(token, 0.0) is not None:
            break
        words.append(token)
    label = " ".join(words)
    trailing = bool(label) and ":" not in label and len(words) < len(line.split())
    if trailing and isinstance(parse_label(label, state.kind, state.group), Label):
        state.unread.append(
            Unread(line=number, text=line.strip(), reason="words after the values; not read")
        )


def _note_placement(state: _State, number: int, shown: str, placement: Placement) -> None:
    for cell, kinds in placement.doubtful:
        options = " or ".join(COLUMN_LABELS[k] for k in kinds)
        state.unread.append(
            Unread(
                line=number,
                text=shown,
                reason=f"{cell.text} could be the {options} (a blank cell vanished in the "
                "text); not read",
            )
        )
    for cell, kind in placement.misfits:
        state.unread.append(
            Unread(
                line=number,
                text=shown,
                reason=f"{cell.text} does not look like a {COLUMN_LABELS[kind]}; not read",
            )
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
    """The contract's results, one per site and region (repeats must agree)."""
    seen: dict[tuple[str, str], ReportRow] = {}
    out: list[Result] = []
    for row in state.rows:
        key = (row.site, row.region)
        values = (row.bmd, row.t_score, row.z_score)
        if key in seen:
            first = seen[key]
            if (first.bmd, first.t_score, first.z_score) != values:
                state.unread.append(
                    Unread(
                        line=row.line,
                        text=row.label,
                        reason=f"printed again with other values than on line {first.line}; "
                        "the first is used",
                    )
                )
            continue
        seen[key] = row
        bmd = row.bmd if row.bmd is not None and 0.0 < row.bmd <= 3.0 else None
        try:
            out.append(
                Result(
                    site=row.site,
                    region=row.region,
                    bmd=bmd,
                    t_score=row.t_score,
                    z_score=row.z_score,
                )
            )
        except ValidationError:
            state.unread.append(
                Unread(line=row.line, text=row.label, reason="values outside the possible range")
            )
    return out
