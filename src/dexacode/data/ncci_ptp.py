"""``ncci-ptp``: CMS's practitioner procedure-to-procedure (PTP) edit tables.

CMS publishes the table each quarter as several tab-separated text files, each covering a
range of column 1 codes (``ccipra-v321r0-f1.txt`` ... ``-f4.txt``, version 32.1 release 0
= the quarter from 2026-04-01), after a few lines of notice and a header row:

    Column 1 <TAB> Column 2 <TAB> *=in existence prior to 1996 <TAB> Effective Date <TAB>
    Deletion Date *=no data <TAB> Modifier 0=not allowed 1=allowed 9=not applicable <TAB>
    PTP Edit Rationale

Dates are YYYYMMDD; the deletion date is the last day the edit applies, ``*`` when it
still does. Modifier indicator 9 marks an edit deleted back to its first day (never in
force). Every line is checked before anything is kept; dexacode keeps the edits between
the procedure codes it knows (the rest of a 2-million-line table does not concern DXA).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from typing import Any

from dexacode.data._catalog import Dataset
from dexacode.data._common import (
    HCPCS_RE,
    ImportOptions,
    bad_line,
    read_tables,
    resolve_edition,
    yyyymmdd,
)
from dexacode.data._files import DataImportError, InputFile
from dexacode.data._members import one_file_a_part

KIND = "ncci-ptp"
_VERSION_RE = re.compile(r"v(\d{2})(\d)r(\d+)", re.IGNORECASE)
# NCCI version N.M is the quarter starting in month 3M+1 of year 1994+N (30.0 = 2024-01-01).
_VERSION_YEAR_BASE = 1994


def read(files: Sequence[InputFile], options: ImportOptions, known: Collection[str]) -> Dataset:
    versions: dict[tuple[str, dt.date], str] = {}
    for file in files:
        version = _version(file.name)
        if version is not None:
            versions.setdefault(version, file.name)
    if len({start for _, start in versions}) > 1:
        named = ", ".join(sorted(label for label, _ in versions))
        raise DataImportError(
            f"these files are from different quarters ({named}); import one quarter at a time"
        )
    if len(versions) > 1:
        named = ", ".join(sorted(label for label, _ in versions))
        raise DataImportError(
            f"these files are from different releases of one quarter ({named}); import the "
            "newest release's files"
        )
    one_file_a_part(KIND, files)
    tables, infos = read_tables(KIND, files, _parse, known)
    (label, start), name = next(iter(versions.items()), ((None, None), None))
    said_by = (
        f"the file names say {label}, the quarter from {start.isoformat()} ({name})"
        if label and start
        else ""
    )
    edition, first_day = resolve_edition(
        options,
        named=label,
        start=start,
        said_by=said_by,
        fallback_label=dt.date.isoformat,
        what="NCCI PTP",
        example="ccipra-v321r0-f1.txt",
    )
    return Dataset(kind=KIND, edition=edition, effective=first_day, files=infos, tables=tables)


def _version(name: str) -> tuple[str, dt.date] | None:
    m = _VERSION_RE.search(name)
    if m is None:
        return None
    major, minor, release = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if minor > 3:
        return None
    start = dt.date(_VERSION_YEAR_BASE + major, 3 * minor + 1, 1)
    return f"v{major}.{minor}r{release}", start


def _is_header(cells: list[str]) -> bool:
    squeeze = [c.replace(" ", "").lower() for c in cells[:2]]
    return (
        len(squeeze) == 2 and squeeze[0].startswith("column1") and squeeze[1].startswith("column2")
    )


def _parse(file: InputFile, known: Collection[str]) -> tuple[list[list[Any]], int]:
    """(kept rows, data lines read); raises DataImportError at the first bad line."""
    lines = file.text().splitlines()
    header_at = next(
        (i for i, line in enumerate(lines) if _is_header(line.split("\t"))),
        None,
    )
    if header_at is None:
        raise DataImportError(
            f"{file.where}: no header line (Column 1, Column 2, ... tab-separated) found; is "
            "it a practitioner PTP edit table in text form?; nothing was imported"
        )
    kept: list[list[Any]] = []
    read_count = 0
    started = False
    for number, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        if not line.strip():
            continue
        cells = line.rstrip("\r").split("\t")
        if not started and not cells[0].strip():
            continue  # the header's wrapped second and third lines
        started = True
        row = _row(file, number, cells)
        read_count += 1
        if row[0] in known and row[1] in known:
            kept.append(row)
    if read_count == 0:
        raise DataImportError(f"{file.where}: the table has no edit rows; nothing was imported")
    return kept, read_count


def _row(file: InputFile, number: int, cells: list[str]) -> list[Any]:
    while len(cells) > 7 and not cells[-1].strip():
        cells.pop()
    if len(cells) not in (6, 7):
        raise bad_line(file, number, f"expected 7 tab-separated columns, found {len(cells)}")
    column1, column2, prior, effective, deletion, modifier = (c.strip() for c in cells[:6])
    rationale = cells[6].strip() if len(cells) == 7 else ""
    for label, code in (("column 1", column1), ("column 2", column2)):
        if not HCPCS_RE.match(code):
            raise bad_line(file, number, f"{label} {code!r} is not a CPT/HCPCS code")
    if prior not in ("", "*"):
        raise bad_line(file, number, f"the prior-to-1996 mark is {prior!r}, not * or empty")
    start = yyyymmdd(effective)
    if start is None:
        raise bad_line(file, number, f"effective date {effective!r} is not a YYYYMMDD date")
    end: dt.date | None = None
    if deletion != "*":
        end = yyyymmdd(deletion)
        if end is None:
            raise bad_line(file, number, f"deletion date {deletion!r} is not YYYYMMDD or *")
    if modifier not in ("0", "1", "9"):
        raise bad_line(file, number, f"modifier indicator {modifier!r} is not 0, 1 or 9")
    return [
        column1,
        column2,
        prior == "*",
        start.isoformat(),
        end.isoformat() if end else None,
        int(modifier),
        rationale,
    ]
