"""Reading DXA scanner reports: Hologic APEX and GE Lunar enCORE results tables.

``parse_report_text(text)`` is pure; ``read_report_file(path)`` opens a ``.txt`` or a text
``.pdf`` (pypdf, the ``reports`` extra) and parses it.
"""

from __future__ import annotations

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
]


def report_text(path: Path) -> str:
    """The text of a report file: a PDF's text layer, or a text file (UTF-8, else Latin-1)."""
    data = path.read_bytes()
    if data.startswith(b"%PDF") or path.suffix.lower() == ".pdf":
        from dexacode.reports.pdf import pdf_text

        return pdf_text(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_report_file(path: Path | str) -> ParsedReport:
    """Parse a report file; ``ReportError`` if it is not a readable report, ``OSError``
    if it cannot be opened."""
    return parse_report_text(report_text(Path(path)))
