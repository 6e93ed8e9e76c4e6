"""``mue``: CMS's practitioner Medically Unlikely Edits table.

CMS publishes it each quarter as a CSV (``MCR_MUE_PractitionerServices_Eff_04-01-2026.csv``)
whose first lines are a notice, then a header row and one row a code:

    "HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator",
    "MUE Rationale"
    "77080","1","2 Date of Service Edit: Policy","Clinical: Data"

The adjudication indicator is 1 (claim line), 2 (date of service, policy: absolute) or 3
(date of service, clinical). The rows carry no dates: an edition governs from the date in
its name (or --effective) until the next edition loaded.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Collection, Sequence
from typing import Any

from dexacode.data._catalog import Dataset
from dexacode.data._common import HCPCS_RE, ImportOptions, bad_line, read_tables, resolve_edition
from dexacode.data._files import DataImportError, InputFile
from dexacode.data._members import one_file_a_part

KIND = "mue"
_EFF_RE = re.compile(r"eff[_ -]?(\d{1,2})[-_](\d{1,2})[-_](\d{4})", re.IGNORECASE)
_MAI_RE = re.compile(r"^\s*([123])\b")


def read(files: Sequence[InputFile], options: ImportOptions, known: Collection[str]) -> Dataset:
    starts: dict[dt.date, str] = {}
    for file in files:
        start = _effective_in_name(file.name)
        if start is not None:
            starts.setdefault(start, file.name)
    if len(starts) > 1:
        named = ", ".join(sorted(s.isoformat() for s in starts))
        raise DataImportError(
            f"these files are from different editions ({named}); import one at a time"
        )
    one_file_a_part(KIND, files)
    tables, infos = read_tables(KIND, files, _parse, known)
    start, name = next(iter(starts.items()), (None, None))
    edition, first_day = resolve_edition(
        options,
        named=None,
        start=start,
        said_by=f"the file name says {start.isoformat()} ({name})" if start else "",
        fallback_label=_label,
        what="MUE",
        example="MCR_MUE_PractitionerServices_Eff_04-01-2026.csv",
    )
    return Dataset(kind=KIND, edition=edition, effective=first_day, files=infos, tables=tables)


def _label(start: dt.date) -> str:
    return f"practitioner {start.isoformat()}"


def _effective_in_name(name: str) -> dt.date | None:
    m = _EFF_RE.search(name)
    if m is None:
        return None
    try:
        return dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    except ValueError:
        return None


def _parse(file: InputFile, known: Collection[str]) -> tuple[list[list[Any]], int]:
    reader = csv.reader(io.StringIO(file.text(), newline=""))
    header_seen = False
    kept: list[list[Any]] = []
    read_count = 0
    try:
        for cells in reader:
            number = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if not header_seen:
                header_seen = "hcpcs" in cells[0].lower() and len(cells) >= 3
                continue
            row = _row(file, number, cells)
            read_count += 1
            if row[0] in known:
                kept.append(row)
    except csv.Error as exc:
        raise bad_line(file, reader.line_num, f"not valid CSV ({exc})") from exc
    if not header_seen:
        raise DataImportError(
            f"{file.where}: no header row (HCPCS/CPT Code, MUE Values, MUE Adjudication "
            "Indicator, MUE Rationale) found; is it a practitioner MUE table in CSV form?; "
            "nothing was imported"
        )
    if read_count == 0:
        raise DataImportError(f"{file.where}: the table has no code rows; nothing was imported")
    return kept, read_count


def _row(file: InputFile, number: int, cells: list[str]) -> list[Any]:
    while len(cells) > 4 and not cells[-1].strip():
        cells.pop()
    if len(cells) not in (3, 4):
        raise bad_line(file, number, f"expected 4 columns, found {len(cells)}")
    code, value, indicator = (c.strip() for c in cells[:3])
    rationale = cells[3].strip() if len(cells) == 4 else ""
    if not HCPCS_RE.match(code):
        raise bad_line(file, number, f"{code!r} is not a CPT/HCPCS code")
    if not value.isdigit():
        raise bad_line(file, number, f"MUE value {value!r} is not a whole number")
    m = _MAI_RE.match(indicator)
    if m is None:
        raise bad_line(
            file, number, f"adjudication indicator {indicator!r} does not start with 1, 2 or 3"
        )
    return [code, int(value), int(m.group(1)), indicator, rationale]
