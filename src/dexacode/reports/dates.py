"""Dates on a report: the scan date's fields, and dates written anywhere else.

The scan date comes only from a field naming this exam's date (``Scan Date:``,
``Measured:``...); a field prefixed Prior/Previous/Comparison/Last/Baseline is another
study's, and a birth date shares a line with the scan date on many headers but is never
one of these fields. What is quoted back in a message is the date text alone, never the
line around it (it holds the patient's name on many report headers).

A slashed date ('03/04/2026') is read month-first, as US scanners print it, unless the
report's own slashed dates show it prints them day-first (one reads only day-first,
'18/03/2026', and none only month-first, '03/18/2026'). A report whose slashed dates
show both orders has none of its doubtful ones read (see ``date_order``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

_FIELD = re.compile(
    r"\b(?P<name>Scan Date|Measured|Acquired|Exam Date|Study Date|Date of Scan)\s*:\s*", re.I
)
# Prefixes that make a date field another study's: 'Prior Study Date:', 'Last Exam Date:'.
OTHER_STUDY = ("prior", "previous", "comparison", "last", "baseline")
_OTHER_STUDY = re.compile(rf"\b(?:{'|'.join(OTHER_STUDY)})\s*$", re.I)

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_MONTH = r"(?:" + "|".join(_MONTH_NAMES) + r")[a-z]*"
_MDY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\b")  # month-first unless the report says
_DATE_FORMS = (
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
    (re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b"), "Mdy"),
    (re.compile(r"^(\d{1,2})[\s-]([A-Za-z]{3,9})\.?[\s-](\d{4})\b"), "dMy"),
    (_MDY, "mdy"),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), "dmy"),
)
# Anything written like a date, understood or not.
_DATE_TEXT = re.compile(
    rf"\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}"
    rf"|{_MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}[\s-]{_MONTH}\.?[\s-]\d{{4}})\b",
    re.I,
)
# A slashed date anywhere in the report: evidence of the order it prints dates in.
_SLASHED = re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
# How the report prints slashed dates: month first (also when nothing says otherwise),
# day first, or both (its doubtful dates are then not read).
DateOrder = Literal["month_first", "day_first", "mixed"]
MIXED_ORDERS = "the report mixes day-first and month-first dates"
# A date made of digits only: the one kind of text quoted back when it is not understood.
_NUMERIC_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")


def _valid(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def date_order(text: str) -> DateOrder:
    """The order the report's slashed dates are printed in, from those that can be read
    one way only: '18/03/2026' is day-first, '03/18/2026' month-first."""
    day_first = month_first = False
    for m in _SLASHED.finditer(text):
        a, b, year = (int(x) for x in m.groups())
        day_first = day_first or (a > 12 and _valid(year, b, a))
        month_first = month_first or (b > 12 and _valid(year, a, b))
    if day_first and month_first:
        return "mixed"
    return "day_first" if day_first else "month_first"


def _doubtful(text: str, order: DateOrder) -> bool:
    """A slashed date that a report mixing both orders leaves unread: any that could be
    day-first ('18/03/2026', '03/04/2026'); only a month-first-only one is read."""
    m = _MDY.match(text.strip())
    return order == "mixed" and m is not None and int(m.group(2)) <= 12


def parse_date(text: str, order: DateOrder = "month_first") -> dt.date | None:
    """'December 04, 2019', '2019-12-04', '12/04/2019' (month-first, unless ``order`` says
    the report prints them day-first), '04.12.2019', '4-Dec-2019'."""
    text = text.strip()
    if _doubtful(text, order):
        return None
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
                if order == "day_first":
                    return dt.date(int(c), int(b), int(a))
                return dt.date(int(c), int(a), int(b))
            return dt.date(int(c), int(b), int(a))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class DateField:
    name: str  # the field's name as dexacode spells it ('Measured'), not as printed
    date: dt.date | None  # None: not understood
    shown: str  # the date text if it is digits only ('18/03/2026'), else ''
    why: str = ""  # when not understood for a known reason: the reason (no report text)


_NAMES = {n.lower(): n for n in ("Scan Date", "Measured", "Acquired", "Exam Date", "Study Date")}


def date_fields(line: str, order: DateOrder = "month_first") -> list[DateField] | None:
    """This exam's date fields on a line; None when the line has no date field at all,
    [] when its only date fields are another study's. ``order``: the report's
    (``date_order`` of its whole text)."""
    found = list(_FIELD.finditer(line))
    if not found:
        return None
    out = []
    for match in found:
        if _OTHER_STUDY.search(line[: match.start()]):
            continue
        value = line[match.end() :]
        first = value.split()[0] if value.split() else ""
        name = _NAMES.get(" ".join(match.group("name").split()).lower(), "Date of Scan")
        shown = first if _NUMERIC_DATE.match(first) else ""
        why = MIXED_ORDERS if _doubtful(value, order) else ""
        out.append(DateField(name, parse_date(value, order), shown, why))
    return out


def other_dates(text: str, scan_date: dt.date | None, order: DateOrder = "month_first") -> bool:
    """Whether the text holds a date that is not the scan date (or one not understood,
    or any date while the scan date is not known)."""
    for match in _DATE_TEXT.finditer(text):
        day = parse_date(match.group(), order)
        if day is None or day != scan_date:
            return True
    return False


def is_date(text: str) -> bool:
    """Whether the text is a date and nothing else ('11/12/2025', 'March 3, 2024')."""
    match = _DATE_TEXT.fullmatch(text.strip())
    return match is not None


def without_dates(text: str) -> str:
    return _DATE_TEXT.sub(" ", text)
