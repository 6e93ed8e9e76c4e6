"""The flat layout of an encounter: one row, one cell a value, for CSV and Parquet files.

Columns (every one optional except those the contract requires; order does not matter):

    claim_id, date_of_service, payer,
    patient_id, sex, birth_date, menopausal_status,
    risk_factors            family_history_osteoporosis;glucocorticoid_therapy
    medications             alendronate;prednisone:completed   (name[:current|completed])
    conditions              M81.0;Z87.310
    order_reason,
    sites                   lumbar_spine;left_hip
    vfa, exam_status, will_repeat, peripheral_reason,
    claim_form, component, equipment_owner, interprets,
    substitute, substitute_days, abn_signed,
    history                 2023-11-20:77080;2021-05-03:77081:uncovered
    submitted_lines         77080:26,XU:1:1,2;77081
                            (cpt[:modifiers joined by ,[:units[:diagnosis pointers joined by ,]]])
    submitted_diagnoses     Z13.820;Z78.0
    result1_site, result1_region, result1_bmd, result1_t_score, result1_z_score,
    result2_site, ...       as many numbered groups as there are results

Lists are joined with ';'. Booleans are true/false (also yes/no, 1/0). An empty cell is
"not given" (the contract's default). A submitted claim is given when submitted_lines is
not empty. Values are handed to the contract as they are, so its checks and messages
apply (a bad value names the column's contract field).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

LIST_SEP = ";"

SCALAR_COLUMNS: dict[str, tuple[str, ...]] = {
    "claim_id": ("claim_id",),
    "date_of_service": ("date_of_service",),
    "payer": ("payer",),
    "patient_id": ("patient", "id"),
    "sex": ("patient", "sex"),
    "birth_date": ("patient", "birth_date"),
    "menopausal_status": ("patient", "menopausal_status"),
    "order_reason": ("order", "reason"),
    "peripheral_reason": ("exam", "peripheral_reason"),
    "exam_status": ("exam", "status"),
    "claim_form": ("billing", "claim_form"),
    "component": ("billing", "component"),
    "equipment_owner": ("billing", "equipment_owner"),
    "substitute": ("billing", "substitute"),
}
BOOL_COLUMNS: dict[str, tuple[str, ...]] = {
    "vfa": ("exam", "vfa"),
    "will_repeat": ("exam", "will_repeat"),
    "interprets": ("billing", "interprets"),
    "abn_signed": ("billing", "abn_signed"),
}
INT_COLUMNS: dict[str, tuple[str, ...]] = {"substitute_days": ("billing", "substitute_days")}
LIST_COLUMNS: dict[str, tuple[str, ...]] = {
    "risk_factors": ("patient", "risk_factors"),
    "conditions": ("patient", "conditions"),
    "sites": ("exam", "sites"),
}
RESULT_FIELDS = ("site", "region", "bmd", "t_score", "z_score")
RESULT_COLUMN = re.compile(r"^result(\d+)_(site|region|bmd|t_score|z_score)$")
# How a yes/no cell may be written (history files' covered column too).
TRUE_WORDS = frozenset({"true", "yes", "1", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "f"})
# Columns holding ids: text, or whole numbers written as their digits; never a float.
ID_COLUMNS = frozenset({"claim_id", "patient_id"})
FLOAT_ID = (
    "is stored as floating-point numbers (604138 would read as 604138.0 and match no "
    "other record of the patient); store the column as text or whole numbers"
)

COLUMNS = [
    *SCALAR_COLUMNS,
    *BOOL_COLUMNS,
    *INT_COLUMNS,
    *LIST_COLUMNS,
    "medications",
    "history",
    "submitted_lines",
    "submitted_diagnoses",
]
_KNOWN = frozenset(COLUMNS)


@functools.cache
def required_columns() -> tuple[str, ...]:
    """The columns without which no row can be an encounter: those whose contract field,
    and every field on the way to it, has no default (read from the contract's models)."""
    from pydantic import BaseModel

    from dexacode.contract import Encounter

    def required(path: tuple[str, ...]) -> bool:
        model: Any = Encounter
        for name in path:
            if model is None:  # a field on the way is not a plain model: not required
                return False
            info = model.model_fields[name]
            if not info.is_required():
                return False
            inner = info.annotation
            model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        return True

    # List columns are left out: the reader gives every row its sites (empty when the
    # column is missing: a VFA-only file).
    columns = {**SCALAR_COLUMNS, **BOOL_COLUMNS, **INT_COLUMNS}
    return tuple(column for column, path in columns.items() if required(path))


_NUMERIC_RESULT_FIELDS = frozenset({"bmd", "t_score", "z_score"})


@functools.lru_cache(maxsize=64)
def _result_columns(
    columns: tuple[str, ...],
) -> tuple[str | None, tuple[tuple[str, int, str], ...]]:
    """(the first unknown column or None, the result columns as (column, group, field)).

    Every row of a file has the same columns: they are sorted out once per file."""
    unknown = None
    found = []
    for column in columns:
        match = RESULT_COLUMN.match(column)
        if match:
            found.append((column, int(match.group(1)), match.group(2)))
        elif column not in _KNOWN and unknown is None:
            unknown = column
    return unknown, tuple(found)


def unknown_column(columns: tuple[str, ...]) -> str | None:
    """The first column that is not part of the flat layout, or None."""
    return _result_columns(columns)[0]


_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,39}")


def column_label(name: str, position: int) -> str:
    """A header cell as a message may show it: its name when it is shaped like a column
    name, else only its place. A header that is really a data row (or JSON read as CSV)
    would otherwise repeat a patient's id, name or birth date in the message."""
    if _COLUMN_NAME.fullmatch(name):
        return repr(name)
    return f"number {position} (its text is not repeated here)"


class FlatRowError(ValueError):
    """A cell that cannot be read; ``column`` names it."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


def _text(value: object, column: str = "") -> str | None:
    """A cell's text, or None when empty (CSV gives '', Parquet may give None)."""
    if value is None or value == "":
        return None
    text = value.strip() if type(value) is str else _typed_text(value, column)
    return text or None


def _typed_text(value: object, column: str) -> str:
    """A typed Parquet cell as the flat layout's text: a date (or a timestamp at midnight,
    as pandas writes dates) as YYYY-MM-DD, a list joined with ';', a whole number as its
    digits. A float in an id column is refused: 604138.0 is not the id 604138."""
    if isinstance(value, datetime.datetime):
        if value.time() != datetime.time(0):
            raise FlatRowError(
                column,
                "a date and time of day; expected a date (YYYY-MM-DD) or a timestamp at midnight",
            )
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return LIST_SEP.join(t for t in (_text(v, column) for v in value) if t is not None)
    if isinstance(value, float) and column in ID_COLUMNS:
        raise FlatRowError(column, FLOAT_ID)
    return str(value).strip()


def _put(target: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _bool(column: str, text: str) -> bool:
    low = text.lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise FlatRowError(column, "expected true or false (or yes/no, 1/0)")


def _number(column: str, text: str) -> float | str:
    # Unicode minus signs and decimal commas come from spreadsheets; anything else is
    # passed on as text so the contract refuses it with its own message.
    cleaned = text.replace("\u2212", "-").replace(",", ".")
    try:
        return float(cleaned)
    except ValueError:
        return text


def _split(text: str | None) -> list[str]:
    if text is None:
        return []
    return [part.strip() for part in text.split(LIST_SEP) if part.strip()]


def row_to_encounter(row: Mapping[str, object]) -> dict[str, Any]:
    """A flat row -> an encounter dict in the contract's shape (not yet validated)."""
    enc: dict[str, Any] = {}
    unknown, result_columns = _result_columns(tuple(row))
    if unknown is not None:
        raise FlatRowError(unknown, "unknown column (see the flat layout in the docs)")
    for column, path in SCALAR_COLUMNS.items():
        text = _text(row.get(column), column)
        if text is not None:
            _put(enc, path, text)
    for column, path in BOOL_COLUMNS.items():
        text = _text(row.get(column), column)
        if text is not None:
            _put(enc, path, _bool(column, text))
    for column, path in INT_COLUMNS.items():
        text = _text(row.get(column), column)
        if text is not None:
            try:
                _put(enc, path, int(float(text)))
            except ValueError:
                raise FlatRowError(column, "expected a whole number") from None
    for column, path in LIST_COLUMNS.items():
        text = _text(row.get(column), column)
        if text is not None or column == "sites":
            _put(enc, path, _split(text))

    meds = []
    for item in _split(_text(row.get("medications"), "medications")):
        name, _, status = item.partition(":")
        meds.append({"name": name.strip(), "status": status.strip() or "current"})
    if meds:
        _put(enc, ("patient", "medications"), meds)

    # Messages about list items name the item by its place, never by its text: a cell
    # filled in the wrong column may hold a patient's id or name.
    history = []
    for n, item in enumerate(_split(_text(row.get("history"), "history")), 1):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) < 2 or len(parts) > 3 or (len(parts) == 3 and parts[2] != "uncovered"):
            raise FlatRowError(
                "history",
                f"item {n} is not DATE:CPT or DATE:CPT:uncovered (it has {len(parts)} parts "
                "separated by ':')",
            )
        history.append({"date_of_service": parts[0], "cpt": parts[1], "covered": len(parts) == 2})
    if history:
        enc["history"] = history

    lines = []
    for n, item in enumerate(_split(_text(row.get("submitted_lines"), "submitted_lines")), 1):
        parts = [p.strip() for p in item.split(":")]
        if len(parts) > 4:
            raise FlatRowError(
                "submitted_lines",
                f"item {n} is not CPT[:MODIFIERS[:UNITS[:POINTERS]]] (it has {len(parts)} "
                "parts separated by ':')",
            )
        line: dict[str, Any] = {"cpt": parts[0]}
        if len(parts) > 1 and parts[1]:
            line["modifiers"] = [m.strip() for m in parts[1].split(",") if m.strip()]
        if len(parts) > 2 and parts[2]:
            try:
                line["units"] = int(parts[2])
            except ValueError:
                raise FlatRowError(
                    "submitted_lines", f"the units of item {n} must be a whole number"
                ) from None
        if len(parts) > 3 and parts[3]:
            try:
                line["diagnosis_pointers"] = [int(p) for p in parts[3].split(",") if p.strip()]
            except ValueError:
                raise FlatRowError(
                    "submitted_lines",
                    f"the diagnosis pointers of item {n} must be whole numbers joined by ','",
                ) from None
        lines.append(line)
    if lines:
        enc["submitted"] = {
            "lines": lines,
            "diagnoses": _split(_text(row.get("submitted_diagnoses"), "submitted_diagnoses")),
        }
    elif _text(row.get("submitted_diagnoses"), "submitted_diagnoses"):
        raise FlatRowError("submitted_diagnoses", "given without submitted_lines")

    groups: dict[int, dict[str, Any]] = {}
    for column, group, field in result_columns:
        value = row[column]
        if value is None or value == "":  # most rows fill few of the result columns
            continue
        text = _text(value, column)
        if text is None:
            continue
        groups.setdefault(group, {})[field] = (
            _number(column, text) if field in _NUMERIC_RESULT_FIELDS else text
        )
    if groups:
        enc["results"] = [groups[i] for i in sorted(groups)]
    return enc


def encounter_to_row(enc: Mapping[str, Any]) -> dict[str, str]:
    """An encounter dict (the contract's shape) -> a flat row of text cells."""
    row: dict[str, str] = {}

    def get(path: tuple[str, ...]) -> Any:
        node: Any = enc
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node

    for column, path in SCALAR_COLUMNS.items():
        value = get(path)
        row[column] = "" if value is None else str(value)
    for column, path in BOOL_COLUMNS.items():
        value = get(path)
        row[column] = "" if value is None else ("true" if value else "false")
    for column, path in INT_COLUMNS.items():
        value = get(path)
        row[column] = "" if value is None else str(value)
    for column, path in LIST_COLUMNS.items():
        row[column] = LIST_SEP.join(str(v) for v in get(path) or [])
    row["medications"] = LIST_SEP.join(
        m["name"] if m.get("status", "current") == "current" else f"{m['name']}:{m['status']}"
        for m in get(("patient", "medications")) or []
    )
    row["history"] = LIST_SEP.join(
        f"{h['date_of_service']}:{h['cpt']}" + ("" if h.get("covered", True) else ":uncovered")
        for h in enc.get("history") or []
    )
    submitted = enc.get("submitted") or {}
    row["submitted_lines"] = LIST_SEP.join(
        ":".join(
            [line["cpt"], ",".join(line.get("modifiers") or []), str(line.get("units", 1))]
            + (
                [",".join(map(str, line["diagnosis_pointers"]))]
                if line.get("diagnosis_pointers") is not None
                else []
            )
        )
        for line in submitted.get("lines") or []
    )
    row["submitted_diagnoses"] = LIST_SEP.join(submitted.get("diagnoses") or [])
    for i, result in enumerate(enc.get("results") or [], 1):
        for field in RESULT_FIELDS:
            value = result.get(field)
            row[f"result{i}_{field}"] = "" if value is None else str(value)
    return row


# --- CSV text, line by line ---------------------------------------------------------------
# Both CSV readers (scrub's flat layout, history import) read through these, so a row
# is always known by the lines of the file it came from: a quote left open swallows the
# lines after it into one row, and that row says which lines it took.

TRUNCATED = "the last line is incomplete (was the file cut short?): "
NOT_UTF8 = "not UTF-8 text (the line was saved in another encoding; save the file as UTF-8)"
_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class TextLines:
    """Decoded lines of a binary file, with what a reader needs to report well.

    Yields each line as text (undecodable bytes kept as surrogates, the line number noted
    in ``bad``), tracks ``number`` (1-based, of the last line given out), ``cut`` (True
    when the last line given out had no line ending: it may have been cut short) and
    ``bytes_read``. ``bad_encoding`` says why the file as a whole is not UTF-8 text.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.number = 0
        self.cut = False
        self.bytes_read = 0
        # Double quotes given out so far: a record whose lines hold an odd number of them
        # ends inside a quoted cell.
        self.quotes = 0
        self.bad: set[int] = set()
        self.bad_encoding = ""
        head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
        if head.startswith(_UTF16_BOMS):
            self.bad_encoding = (
                "the file is UTF-16 or UTF-32 text; save it as UTF-8 (in Excel: CSV UTF-8)"
            )
        elif b"\x00" in head:
            self.bad_encoding = (
                "the file is not text (or is UTF-16 without a mark); save it as UTF-8"
            )

    def __iter__(self) -> Iterator[str]:
        for raw in self._fh:
            self.number += 1
            self.bytes_read += len(raw)
            if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            self.cut = not raw.endswith(b"\n")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.add(self.number)
                text = raw.decode("utf-8", errors="surrogateescape")
            self.quotes += text.count('"')
            yield text


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One record of a CSV file and the lines of the file it was read from."""

    cells: list[str] | None  # None: the csv module could not read it (``error`` says why)
    first: int  # its first line in the file, from 1
    last: int  # its last line
    cut: bool  # its last line has no line ending (the file may have been cut short)
    not_utf8: bool  # a line of it is not UTF-8
    error: str | None = None
    # Its lines hold an odd number of double quotes: a quoted cell is still open where
    # the file ends (without it, a cut record's last cell was closed; only its line ending
    # is missing, as some exports leave it).
    open_quote: bool = False

    @property
    def lines(self) -> int:
        return self.last - self.first + 1

    def problem(self, columns: int | None = None) -> str | None:
        """Why the record cannot be a row, or None.

        A record over several lines is a row only when it is a well-formed one: ``columns``
        (the header's number of columns) cells, and no cell that holds a line break also
        holds as many commas as a whole row does (``columns - 1``); the file does not end
        inside it. A free-text cell typed with line
        breaks (Excel's Alt+Enter, properly quoted) passes; a quote left open, which
        swallows the rows after it into one cell, holds their commas too, and is refused,
        naming the lines it took. Without ``columns`` (a header) every record over several
        lines is refused."""
        if self.error is not None:
            message = f"malformed CSV ({self.error})"
        elif self.last > self.first and not self._well_formed(columns):
            message = "a cell holds a line break (is a quote left open?)"
        else:
            return None
        if self.last > self.first:
            message += f"; lines {self.first} to {self.last} of the file were read as this one row"
        return (TRUNCATED + message) if self.cut else message

    def _well_formed(self, columns: int | None) -> bool:
        """A record over several lines that is one row with line breaks in its text (see
        ``problem``), not rows swallowed by a quote left open."""
        if columns is None or self.cells is None or len(self.cells) != columns:
            return False
        if self.open_quote:  # the file ended inside the cell: its closing quote is missing
            return False
        limit = max(columns - 1, 1)
        return not any(
            cell.count(",") >= limit for cell in self.cells if "\n" in cell or "\r" in cell
        )


def csv_records(lines: TextLines, *, strict: bool = False) -> Iterator[CsvRecord]:
    """The file's CSV records, blank lines included (as empty records), each with its
    lines; a record the csv module refuses comes with ``error`` and no cells."""
    reader = csv.reader(iter(lines), strict=strict)
    while True:
        first = lines.number + 1
        quotes = lines.quotes
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield CsvRecord(None, first, lines.number, lines.cut, False, str(exc))
            continue
        last = lines.number
        bad = bool(lines.bad) and any(n in lines.bad for n in range(first, last + 1))
        open_quote = lines.cut and (lines.quotes - quotes) % 2 == 1
        yield CsvRecord(cells, first, last, lines.cut, bad, open_quote=open_quote)
