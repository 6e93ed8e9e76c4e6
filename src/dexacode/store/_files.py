"""Reading claim-history files: CSV with a header, or JSON Lines, one prior study per row.

Every data row becomes a ``StudyRow`` or a ``RowProblem`` naming its row and what is wrong, so
nothing is dropped silently. Problems with the file as a whole (empty, header only, no header,
UTF-16 text) are one ``RowProblem`` with ``row == 0``. Reasons never echo a value from the
file: a patient id or a date of service identifies a person.

The file is read as bytes and decoded line by line (``formats.flat.TextLines``, as scrub
reads a CSV), so one line in another encoding (a name typed on a Windows machine) costs that
row only, not the whole file, and a quote left open is one refused row naming the lines it
swallowed.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from dexacode.formats.flat import (
    FALSE_WORDS,
    NOT_UTF8,
    TRUE_WORDS,
    TRUNCATED,
    TextLines,
    column_label,
    csv_records,
)
from dexacode.formats.naming import format_by_ending, format_by_name
from dexacode.store._model import HistoryFileError, RowProblem, StudyRow

__all__ = ["COLUMNS", "FORMATS", "REQUIRED_COLUMNS", "read_history_file", "row_errors"]

FORMATS = ("csv", "jsonl")
COLUMNS = ("patient_id", "date_of_service", "cpt", "provider", "covered", "claim_id")
REQUIRED_COLUMNS = COLUMNS[:3]
_MAX_ID = 200  # as the encounter contract's patient.id
# CPT (5 digits, or 4 digits and a letter for Category II/III) or HCPCS Level II (letter + 4).
_CPT_RE = re.compile(r"^(?:\d{4}[0-9A-Z]|[A-Z]\d{4})$")
_FIRST_YEAR, _LAST_YEAR = 1900, 2099
_COLUMNS_HELP = "patient_id, date_of_service, cpt and optionally provider, covered, claim_id"


def read_history_file(path: Path, fmt: str | None = None) -> Iterator[StudyRow | RowProblem]:
    """Rows of a history file, in file order: a ``StudyRow`` or a ``RowProblem`` for each.

    The format comes from the file name (``.csv``, ``.jsonl``, ``.ndjson``) unless ``fmt``
    ("csv" or "jsonl") is given. Raises ``HistoryFileError`` at once when the file cannot be
    opened or its format is unknown; everything found while reading is a ``RowProblem``.
    """
    kind = _format_of(path, fmt)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise HistoryFileError(f"{path.name}: no such file") from None
    except IsADirectoryError:
        raise HistoryFileError(f"{path.name}: is a folder, not a file") from None
    except OSError as exc:
        raise HistoryFileError(f"{path.name}: cannot be read ({exc.strerror})") from None
    return _read(fh, kind)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        kind = format_by_name(fmt, FORMATS)
        if kind is None:
            raise HistoryFileError(f"unknown format {fmt!r}: use csv or jsonl")
        return kind
    kind = format_by_ending(path, FORMATS)
    if kind is None:
        raise HistoryFileError(
            f"{path.name}: cannot tell the format from the file name; name it .csv or .jsonl, "
            "or give --format csv|jsonl"
        )
    return kind


def _read(fh: BinaryIO, kind: str) -> Iterator[StudyRow | RowProblem]:
    with fh:
        lines = TextLines(fh)
        if lines.bad_encoding:
            yield RowProblem(0, lines.bad_encoding)
            return
        if kind == "csv":
            yield from _read_csv(lines)
        else:
            yield from _read_jsonl(lines)


# --- CSV --------------------------------------------------------------------------------------


def _read_csv(lines: TextLines) -> Iterator[StudyRow | RowProblem]:
    header: list[str] | None = None
    header_line = 0
    data_rows = 0
    for record in csv_records(lines, strict=True):
        cells = record.cells
        if header is None:
            if cells is None:
                yield RowProblem(0, f"the header line is not valid CSV ({record.error})")
                return
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if record.not_utf8:
                yield RowProblem(0, f"the header line is {NOT_UTF8}")
                return
            header_or_problem = _header(cells)
            if isinstance(header_or_problem, RowProblem):
                yield header_or_problem
                return
            header, header_line = header_or_problem, record.last
            continue
        if cells is not None and (not cells or (len(cells) == 1 and not cells[0].strip())):
            continue  # blank line
        data_rows += 1
        row = record.first - header_line
        problem = record.problem(len(header))
        if problem is not None:
            yield RowProblem(row, problem)
            continue
        assert cells is not None
        if record.not_utf8:
            yield RowProblem(row, NOT_UTF8)
            continue
        if len(cells) != len(header):
            reason = f"expected {len(header)} columns, found {len(cells)}"
            yield RowProblem(row, (TRUNCATED + reason) if record.cut else reason)
            continue
        result = _study(dict(zip(header, cells, strict=True)), from_csv=True)
        if isinstance(result, StudyRow):
            yield result
        else:
            reason = "; ".join(result)
            yield RowProblem(row, (TRUNCATED + reason) if record.cut else reason)
    if header is None:
        yield RowProblem(0, "the file is empty")
    elif data_rows == 0:
        yield RowProblem(0, "the file has a header but no data rows")


def _header(record: list[str]) -> list[str] | RowProblem:
    names = [name.strip().lower() for name in record]
    if not set(REQUIRED_COLUMNS) & set(names):
        return RowProblem(
            0,
            f"the first line must be a header naming the columns {_COLUMNS_HELP}; "
            "none of those names was found",
        )
    unknown = [column_label(n, i) for i, n in enumerate(names, 1) if n not in COLUMNS]
    if unknown:
        shown = ", ".join(unknown[:5])
        return RowProblem(0, f"unknown column(s) {shown} in the header; expected {_COLUMNS_HELP}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        shown = ", ".join(column_label(n, names.index(n) + 1) for n in twice)
        return RowProblem(0, f"column(s) {shown} appear twice in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        return RowProblem(0, f"the header lacks the required column(s) {', '.join(missing)}")
    return names


# --- JSON Lines -------------------------------------------------------------------------------


def _read_jsonl(lines: TextLines) -> Iterator[StudyRow | RowProblem]:
    seen_data = False
    for text in lines:
        if not text.strip():
            continue
        seen_data = True
        row = lines.number
        if row in lines.bad:
            yield RowProblem(row, NOT_UTF8)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON ({exc.msg} at character {exc.colno})"
            yield RowProblem(row, (TRUNCATED + reason) if lines.cut else reason)
            continue
        if not isinstance(value, dict):
            yield RowProblem(row, 'expected a JSON object {"patient_id": ..., ...} on the line')
            continue
        unknown = sum(1 for k in value if k not in COLUMNS)
        if unknown:  # the names are not echoed: a broken line may use data as a key
            yield RowProblem(row, f"{unknown} unknown field(s); the fields are {_COLUMNS_HELP}")
            continue
        result = _study(value, from_csv=False)
        yield result if isinstance(result, StudyRow) else RowProblem(row, "; ".join(result))
    if not seen_data:
        yield RowProblem(0, "the file is empty")


# --- field checks -----------------------------------------------------------------------------


def _study(values: Mapping[str, object], *, from_csv: bool) -> StudyRow | list[str]:
    """A StudyRow from a row's fields, or the list of what is wrong with them."""
    errors: list[str] = []

    patient_id = _text(values, "patient_id", errors, required=True)
    when: datetime.date | None = None
    raw_date = _text(values, "date_of_service", errors, required=True)
    if raw_date is not None:
        when = _date(raw_date, errors)
    cpt = _text(values, "cpt", errors, required=True)
    if cpt is not None:
        cpt = cpt.upper()
        if not _CPT_RE.match(cpt):
            errors.append("cpt must be a 5-character CPT/HCPCS code such as 77080 or G0130")
    provider = _text(values, "provider", errors, required=False)
    claim_id = _text(values, "claim_id", errors, required=False)

    covered = True
    raw_covered = values.get("covered")
    # A file without the column (a JSON line without the field) does not say: the study is
    # stored as covered, but the stored coverage of a study already there is left alone. A
    # column that is there says it in every row, an empty cell meaning true.
    stated = raw_covered is not None
    if from_csv and isinstance(raw_covered, str):
        flag = raw_covered.strip().lower()
        if flag in TRUE_WORDS or flag in FALSE_WORDS:
            covered = flag in TRUE_WORDS
        elif flag:
            errors.append("covered must be true or false (or yes/no, y/n, 1/0), or empty for true")
    elif isinstance(raw_covered, bool):
        covered = raw_covered
    elif raw_covered is not None:
        errors.append("covered must be true or false")

    if errors or patient_id is None or when is None or cpt is None:
        return errors
    return StudyRow(
        patient_id, when, cpt, provider, covered, claim_id=claim_id, covered_stated=stated
    )


def _text(
    values: Mapping[str, object], name: str, errors: list[str], *, required: bool
) -> str | None:
    raw = values.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors.append(f"{name} is missing" if raw is None else f"{name} is empty")
        return None
    if not isinstance(raw, str):
        errors.append(f"{name} must be a string, not {_json_kind(raw)}")
        return None
    text = raw.strip()
    if len(text) > _MAX_ID:
        errors.append(f"{name} is longer than {_MAX_ID} characters")
        return None
    return text


def _date(text: str, errors: list[str]) -> datetime.date | None:
    # The value is never echoed: a date of service identifies a person's visit.
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        errors.append("date_of_service must be written YYYY-MM-DD")
        return None
    try:
        when = datetime.date.fromisoformat(text)
    except ValueError:
        errors.append("date_of_service is not a real calendar date (expected YYYY-MM-DD)")
        return None
    if not _FIRST_YEAR <= when.year <= _LAST_YEAR:
        errors.append(f"date_of_service is outside {_FIRST_YEAR}-{_LAST_YEAR} (a typo?)")
        return None
    return when


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def row_errors(row: StudyRow) -> list[str]:
    """What is wrong with a StudyRow built in Python (the same checks as a file row)."""
    errors: list[str] = []
    if not isinstance(row.patient_id, str) or not row.patient_id.strip():
        errors.append("patient_id must be a non-empty string")
    elif len(row.patient_id) > _MAX_ID:
        errors.append(f"patient_id is longer than {_MAX_ID} characters")
    d = row.date_of_service
    if not isinstance(d, datetime.date) or isinstance(d, datetime.datetime):
        errors.append("date_of_service must be a datetime.date")
    elif not _FIRST_YEAR <= d.year <= _LAST_YEAR:
        errors.append(f"date_of_service is outside {_FIRST_YEAR}-{_LAST_YEAR}")
    if not isinstance(row.cpt, str) or not _CPT_RE.match(row.cpt):
        errors.append("cpt must be a 5-character CPT/HCPCS code such as 77080 or G0130")
    if row.provider is not None and (
        not isinstance(row.provider, str) or not row.provider or len(row.provider) > _MAX_ID
    ):
        errors.append(f"provider must be None or a string of 1 to {_MAX_ID} characters")
    if not isinstance(row.covered, bool):
        errors.append("covered must be True or False")
    family = row.payer_family
    if family is not None and (not isinstance(family, str) or not family or len(family) > _MAX_ID):
        errors.append(f"payer_family must be None or a string of 1 to {_MAX_ID} characters")
    claim = row.claim_id
    if claim is not None and (
        not isinstance(claim, str) or not claim.strip() or len(claim) > _MAX_ID
    ):
        errors.append(f"claim_id must be None or a string of 1 to {_MAX_ID} characters")
    return errors
