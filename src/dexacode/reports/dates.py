"""Dates on a report: the scan date's fields, and dates written anywhere else.

The scan date comes only from a field naming this exam's date (``Scan Date:``,
``Measured:``...); a field prefixed Prior/Previous/Comparison/Last/Baseline is another
study's, and a birth date shares a line with the scan date on many headers but is never
one of these fields. What is quoted back in a message is the date text alone, never the
line around it (it holds the patient's name on many report headers).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_FIELD = re.compile(
    r"\b(?P<name>Scan Date|Measured|Acquired|Exam Date|Study Date|Date of Scan)\s*:\s*", re.I
)
# Prefixes that make a date field another study's: 'Prior Study Date:', 'Last Exam Date:'.
OTHER_STUDY = ("prior", "previous", "comparison", "last", "baseline")
_OTHER_STUDY = re.compile(rf"\b(?:{'|'.join(OTHER_STUDY)})\s*$", re.I)

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_MONTH = r"(?:" + "|".join(_MONTH_NAMES) + r")[a-z]*"
_DATE_FORMS = (
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
    (re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b"), "Mdy"),
    (re.compile(r"^(\d{1,2})[\s-]([A-Za-z]{3,9})\.?[\s-](\d{4})\b"), "dMy"),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\b"), "mdy"),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), "dmy"),
)
# Anything written like a date, understood or not.
_DATE_TEXT = re.compile(
    rf"\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}"
    rf"|{_MONTH}\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}[\s-]{_MONTH}\.?[\s-]\d{{4}})\b",
    re.I,
)
# A date made of digits only: the one kind of text quoted back when it is not understood.
_NUMERIC_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")


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


@dataclass(frozen=True)
class DateField:
    name: str  # the field's name as dexacode spells it ('Measured'), not as printed
    date: dt.date | None  # None: not understood
    shown: str  # the date text if it is digits only ('18/03/2026'), else ''


_NAMES = {n.lower(): n for n in ("Scan Date", "Measured", "Acquired", "Exam Date", "Study Date")}


def date_fields(line: str) -> list[DateField] | None:
    """This exam's date fields on a line; None when the line has no date field at all,
    [] when its only date fields are another study's."""
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
        out.append(DateField(name, parse_date(value), shown))
    return out


def other_dates(text: str, scan_date: dt.date | None) -> bool:
    """Whether the text holds a date that is not the scan date (or one not understood,
    or any date while the scan date is not known)."""
    for match in _DATE_TEXT.finditer(text):
        day = parse_date(match.group())
        if day is None or day != scan_date:
            return True
    return False


def is_date(text: str) -> bool:
    """Whether the text is a date and nothing else ('11/12/2025', 'March 3, 2024')."""
    match = _DATE_TEXT.fullmatch(text.strip())
    return match is not None


def without_dates(text: str) -> str:
    return _DATE_TEXT.sub(" ", text)
