"""Reading DXA scanner reports: Hologic APEX and GE Lunar enCORE results tables.

``parse_report_text(text)`` is pure; ``read_report_file(path)`` opens a ``.txt`` or a text
``.pdf`` (pypdf, the ``reports`` extra) and parses it; ``scan_date_mismatch`` says when a
report's scan date is not the date of service of the encounter it is merged into.
"""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

from dexacode.reports.model import ParsedReport, ReportError, ReportRow, Unread
from dexacode.reports.parse import BILATERAL_SITE, parse_report_text

__all__ = [
    "BILATERAL_SITE",
    "ParsedReport",
    "ReportError",
    "ReportRow",
    "Unread",
    "parse_report_text",
    "read_report_file",
    "report_text",
    "scan_date_mismatch",
]


# A scanner report is a few kilobytes of text (a PDF a few hundred, with its images): a
# file far bigger is not one, and is refused before it is read.
MAX_TEXT_BYTES = 2 * 1024 * 1024
MAX_PDF_BYTES = 32 * 1024 * 1024
# UTF-32 before UTF-16: the UTF-32 little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _too_big(size: int, limit: int, what: str) -> ReportError:
    return ReportError(
        f"the file is {size / 1024 / 1024:.1f} MB, too big for a {what} (a report is a "
        f"few kilobytes; dexacode reads files up to {limit // 1024 // 1024} MB)"
    )


def decode_text(data: bytes) -> str:
    """A text report's bytes as text: by its byte-order mark (UTF-8, UTF-16 or UTF-32)
    when it has one, else UTF-8, else Latin-1."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise ReportError(
                    f"the file starts with a {encoding.upper()} byte-order mark but is not "
                    f"valid {encoding.upper()} text"
                ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def report_text(path: Path) -> str:
    """The text of a report file: a PDF's text layer, or a text file (see ``decode_text``).
    ``ReportError`` for a file too big to be a report."""
    pdf = path.suffix.lower() == ".pdf"
    size = path.stat().st_size
    if size > MAX_PDF_BYTES or (size > MAX_TEXT_BYTES and not pdf):
        with path.open("rb") as f:
            pdf = pdf or f.read(4) == b"%PDF"
        limit = MAX_PDF_BYTES if pdf else MAX_TEXT_BYTES
        if size > limit:
            raise _too_big(size, limit, "PDF report" if pdf else "text report")
    data = path.read_bytes()
    if data.startswith(b"%PDF") or pdf:
        from dexacode.reports.pdf import pdf_text

        return pdf_text(data)
    return decode_text(data)


def read_report_file(path: Path | str) -> ParsedReport:
    """Parse a report file; ``ReportError`` if it is not a readable report, ``OSError``
    if it cannot be opened."""
    return parse_report_text(report_text(Path(path)))


def scan_date_mismatch(parsed: ParsedReport, date_of_service: dt.date | str | None) -> str | None:
    """One sentence when the report's scan date is not the encounter's date of service
    (the report may be another exam's: an old study, another visit), else None; also None
    when either date is not known. The dates are not quoted, only how far apart they are
    (a date of service pasted into a ticket identifies the visit)."""
    if parsed.scan_date is None or date_of_service is None:
        return None
    if isinstance(date_of_service, str):
        try:
            date_of_service = dt.date.fromisoformat(date_of_service)
        except ValueError:
            return None  # the encounter's own check says what is wrong with it
    days = (date_of_service - parsed.scan_date).days
    if days == 0:
        return None
    when = "before" if days > 0 else "after"
    count = f"{abs(days)} day{'s' if abs(days) != 1 else ''}"
    return (
        f"the scanner report's scan date is {count} {when} the encounter's date of service: "
        "it may be another exam's report"
    )
