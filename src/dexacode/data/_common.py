"""What the importers share: code shapes, dates, edition labels, file fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from dexacode.data._files import DataImportError, InputFile

# CPT (5 digits, or 4 digits and F/T/U) and HCPCS level II (a letter and 4 digits).
HCPCS_RE = re.compile(r"^[A-Z0-9]{4}[A-Z0-9]$")
ICD10_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
_QUARTER_RE = re.compile(r"^\s*(\d{4})\s*[-_ ]?\s*Q([1-4])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ImportOptions:
    """What the user said beside the files (``--edition``, ``--effective`` ...)."""

    edition: str | None = None
    effective: dt.date | None = None
    article: str | None = None
    payer: str | None = None


def sha256(file: InputFile) -> str:
    return hashlib.sha256(file.data).hexdigest()


def yyyymmdd(text: str) -> dt.date | None:
    """A CMS date written YYYYMMDD, or None when it is not one."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def start_from_label(label: str) -> dt.date | None:
    """The first day an edition label names: ``2026Q2`` or ``2026-04-01``."""
    m = _QUARTER_RE.match(label)
    if m:
        return dt.date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
    try:
        return dt.date.fromisoformat(label.strip())
    except ValueError:
        return None


def edition_start(
    options: ImportOptions, from_files: dt.date | None, what: str, example: str
) -> dt.date:
    """--effective, else the date --edition names, else what the file names say."""
    for candidate in (
        options.effective,
        start_from_label(options.edition) if options.edition else None,
        from_files,
    ):
        if candidate is not None:
            return candidate
    raise DataImportError(
        f"cannot tell which {what} edition these files are from their names (CMS names them "
        f"like {example}); give --effective YYYY-MM-DD or --edition 2026Q2"
    )


def bad_line(file: InputFile, line: int, reason: str) -> DataImportError:
    return DataImportError(f"{file.where}, line {line}: {reason}; nothing was imported")
