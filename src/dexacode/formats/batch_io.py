"""Batch files in and out: JSON Lines (the contract's shape), CSV and Parquet (the flat
layout of ``formats.flat``), and the errors file.

Readers yield ``RawRow``s without judging them: turning a row into an encounter (and
refusing it) is the scrubber's job, so every row is accounted for in one place.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dexacode.contract import CodingResult, Encounter, parse_encounter
from dexacode.formats.flat import (
    FLOAT_ID,
    ID_COLUMNS,
    NOT_UTF8,
    TRUNCATED,
    CsvRecord,
    TextLines,
    column_label,
    csv_records,
    required_columns,
    row_to_encounter,
    unknown_column,
)
from dexacode.formats.naming import format_by_ending, format_by_name

FORMATS = ("jsonl", "csv", "parquet")
# Claims and clinical records can be scrubbed but are not written by scrub.
INPUT_ONLY_FORMATS = ("x12", "fhir")
# An encounter is a few kilobytes; a line far beyond that is not one, and is refused
# without being parsed.
MAX_ROW_BYTES = 1_000_000


class BatchInputError(ValueError):
    """The input file as a whole cannot be read (missing, empty, wrong header...)."""


class BatchOutputError(BatchInputError):
    """An output (results, errors file) cannot be written where asked: the message names
    the path and the system's reason (no space left, read-only, permission denied)."""


def write_failure(path: Path, what: str, error: OSError) -> BatchOutputError:
    """The error for an OSError met while writing ``what`` (the results, the errors file)
    at ``path``."""
    reason = error.strerror or type(error).__name__
    return BatchOutputError(f"{path}: cannot write {what}: {reason}")


@dataclass
class LineCount:
    """The lines of data a reader went through, counted apart from the rows it made of
    them (CSV: the lines after the header), so the summary can show that every line of
    the file ended up in a row. None when the format has no lines to count."""

    lines: int | None = None


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row: ``text`` for JSON Lines, ``cells`` for flat files, ``problem`` when
    the row could not even be read (bad encoding, too long); ``blank`` for an empty line
    or row, which holds no encounter and is skipped (counted, never an error)."""

    row: int
    text: str | None = None
    cells: Mapping[str, object] | None = None
    problem: str | None = None
    blank: bool = False
    # The claim a ``problem`` row holds, when the reader could tell it (an 837's CLM01):
    # the errors file names it.
    claim_id: str | None = None
    # The lines of the file a ``problem`` row was read from: more than one only for a CSV
    # record over several lines (a quote left open). A row that was read (``cells``) is
    # one line of data however many line breaks its cells hold (see ``_read_csv``).
    lines: int = 1


def format_of(
    path: Path, override: str | None = None, *, output: bool = False, look: bool = True
) -> str:
    """The file's format from ``override`` or its ending; FHIR is told from JSON Lines
    by its name (``.fhir.json``) or its first line (a ``resourceType``). ``look=False``
    judges the name alone (a name a client sent, not a file here: see ``sniffed``)."""
    allowed = FORMATS if output else FORMATS + INPUT_ONLY_FORMATS
    if not output and look and path.is_dir():
        raise BatchInputError(f"{path}: is a folder, not a file")
    if override:
        fmt = format_by_name(override, allowed)
        if fmt is None:
            raise BatchInputError(f"unknown format {override!r}; expected {', '.join(allowed)}")
        return fmt
    name = path.name.lower()
    fmt_found = "fhir" if name.endswith(".fhir.json") else format_by_ending(path, allowed)
    if fmt_found == "jsonl" and not output and look:
        fmt_found = sniffed(path, fmt_found)
    if fmt_found is None:
        endings = (
            ".jsonl, .csv or .parquet" if output else ".jsonl, .csv, .parquet, .837 or .fhir.json"
        )
        raise BatchInputError(
            f"{path.name}: cannot tell the format from the ending {path.suffix!r}; "
            f"use {endings}, or --format"
        )
    return fmt_found


def check_input_shape(path: Path, fmt: str) -> None:
    """Refuse at once a file whose first bytes show it cannot be read as ``fmt``: a
    Parquet file under another name, UTF-16 text, a CSV separated by semicolons or tabs,
    one JSON document where JSON Lines are expected. Without this each of its rows would
    be refused alone, with a reason that does not say what is wrong."""
    try:
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return  # the reader says what is wrong with the file
    if head.startswith(b"PAR1") and fmt != "parquet":
        raise BatchInputError(
            f"{path.name}: this is a Parquet file; name it .parquet or give the format "
            "parquet (--format, or the web's format field)"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BatchInputError(
            f"{path.name}: the text is UTF-16; save it as UTF-8 (in a spreadsheet: 'CSV UTF-8')"
        )
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip()
    if fmt == "csv" and first[:1] in (b"{", b"["):
        raise BatchInputError(
            f"{path.name}: this looks like JSON (JSON Lines: one encounter per line), not "
            "CSV: name it .jsonl or give the format jsonl (--format, or the web's format field)"
        )
    if fmt == "csv":
        for sep, name in ((b";", "semicolons"), (b"\t", "tabs")):
            names = [n.strip().strip(b'"').decode("utf-8", "replace") for n in first.split(sep)]
            if b"," not in first and len(names) > 1 and "claim_id" in names:
                raise BatchInputError(
                    f"{path.name}: the columns are separated by {name}; save the file as CSV "
                    "with commas between columns (lists inside a cell keep ';')"
                )
    if fmt == "jsonl" and (first[:1] == b"[" or first == b"{") and b'"resourceType"' in head:
        raise BatchInputError(
            f"{path.name}: this looks like FHIR (a resource spread over several lines): "
            "give the format fhir (--format, or the web's format field), or name the file "
            ".fhir.json"
        )
    if fmt == "jsonl" and (first[:1] == b"[" or first == b"{"):
        raise BatchInputError(
            f"{path.name}: this looks like one JSON document (an array, or an encounter "
            "spread over several lines), not JSON Lines: put one encounter on each line "
            "(for example: jq -c '.[]' FILE > FILE.jsonl)"
        )


def sniffed(path: Path, fmt: str) -> str:
    """``fmt`` told from the file's name, corrected by its content: JSON Lines whose first
    record is a FHIR resource is FHIR."""
    return "fhir" if fmt == "jsonl" and _looks_like_fhir(path) else fmt


def _looks_like_fhir(path: Path) -> bool:
    """A JSON file whose first record is a FHIR resource rather than an encounter."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    first = head.lstrip().split(b"\n", 1)[0]
    return b'"resourceType"' in first


def size_of(path: Path, fmt: str | None = None) -> int:
    """Progress total: bytes for text files, rows for Parquet."""
    if (fmt or format_of(path)) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return path.stat().st_size


# --- reading ------------------------------------------------------------------------------


def read_rows(
    path: Path, fmt: str, counted: LineCount | None = None
) -> Iterator[tuple[RawRow, int]]:
    """Every data row of the file with the progress it makes (bytes or rows); a CSV
    reader notes in ``counted`` the lines it went through."""
    if not path.exists():
        raise BatchInputError(f"{path}: no such file")
    if path.is_dir():
        raise BatchInputError(f"{path}: is a folder, not a file")
    if fmt == "jsonl":
        yield from _read_jsonl(path)
    elif fmt == "csv":
        yield from _read_csv(path, counted)
    elif fmt == "x12":
        from dexacode.formats.x12 import read_837_rows

        yield from read_837_rows(path)
    elif fmt == "fhir":
        from dexacode.formats.fhir import read_fhir_rows

        yield from read_fhir_rows(path)
    else:
        yield from _read_parquet(path)


def jsonl_row(number: int, raw: bytes) -> RawRow:
    """One line of a JSON Lines file as a row (a problem when it cannot be an encounter)."""
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    # The line's end is not part of it: a line is measured the same whether it comes
    # from a span (split at newlines) or from reading the file line by line.
    raw = raw.rstrip(b"\r\n")
    if not raw.strip():
        # Not an encounter (an editor's or a join's extra newline): skipped, but counted,
        # and the lines after it keep their numbers.
        return RawRow(number, blank=True)
    if len(raw) > MAX_ROW_BYTES:
        return RawRow(
            number,
            problem=f"line is {len(raw):,} bytes; an encounter is at most {MAX_ROW_BYTES:,} bytes",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRow(number, problem=f"not UTF-8 text (byte {exc.start + 1} of the line)")
    return RawRow(number, text=text)


def _read_jsonl(path: Path) -> Iterator[tuple[RawRow, int]]:
    seen = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            seen += 1
            yield jsonl_row(number, raw), len(raw)
    if seen == 0:
        raise BatchInputError(f"{path.name}: the file is empty: no encounters to scrub")


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of whole lines of a JSON Lines file: rows ``first_row`` on, bytes
    ``start`` to ``end``. Workers read spans themselves, so lines never cross processes."""

    index: int
    first_row: int
    start: int
    end: int


_SPAN_BLOCK = 1 << 24


def jsonl_spans(path: Path, lines_per_span: int) -> Iterator[Span]:
    """Cut a JSON Lines file into spans of at most ``lines_per_span`` lines."""
    if not path.exists():
        raise BatchInputError(f"{path}: no such file")
    if path.is_dir():
        raise BatchInputError(f"{path}: is a folder, not a file")
    index = 0
    row = 1
    start = 0  # the file offset of the span being cut
    count = 0  # its lines so far
    offset = 0  # the file offset of ``block``
    with path.open("rb") as fh:
        while block := fh.read(_SPAN_BLOCK):
            pos = 0
            while True:
                # Jump from newline to newline: only every span's last one matters.
                nl = block.find(b"\n", pos)
                if nl < 0:
                    break
                pos = nl + 1
                count += 1
                if count == lines_per_span:
                    end = offset + pos
                    yield Span(index, row, start, end)
                    index, row, start, count = index + 1, row + count, end, 0
            offset += len(block)
    if offset > start:  # the last line has no newline, or the span is short
        yield Span(index, row, start, offset)
        index += 1
    if index == 0:
        raise BatchInputError(f"{path.name}: the file is empty: no encounters to scrub")


def read_span(path: Path, span: Span) -> list[RawRow]:
    with path.open("rb") as fh:
        fh.seek(span.start)
        data = fh.read(span.end - span.start)
    # Lines end at "\n" alone, as the spans were cut (a stray "\r" inside a line must not
    # make two rows of it).
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return [jsonl_row(span.first_row + i, raw) for i, raw in enumerate(lines)]


def _check_header(header: Sequence[str], where: str, written: Sequence[str] | None = None) -> None:
    """Refuse a header the flat layout cannot read. A column's name is repeated (as
    ``written``, when the names were read in any case) only when it is shaped like one: a
    data row read as a header would show a patient's data."""
    names = tuple(header)
    shown = tuple(written) if written is not None else names
    if not any(unknown_column((name,)) is None for name in names):
        raise BatchInputError(
            f"{where}: the first line is not a header: none of its {len(names)} cells names a "
            "column of the flat layout (claim_id, date_of_service, payer, patient_id, ...); "
            "add a header line naming the columns (listed in docs/batch.md)"
        )
    twice = next((i for i, c in enumerate(names) if c in names[:i]), None)
    if twice is not None:
        label = column_label(shown[twice], twice + 1)
        raise BatchInputError(f"{where}: the column {label} appears more than once")
    unknown = unknown_column(names)
    if unknown is not None:
        at = names.index(unknown)
        hint = (
            "; a file of prior studies? load it with `dexacode history import`"
            if {"patient_id", "date_of_service", "cpt"} <= set(names)
            else ""
        )
        raise BatchInputError(
            f"{where}: unknown column {column_label(shown[at], at + 1)} (the flat layout's "
            f"columns are listed in docs/batch.md{hint})"
        )
    if "claim_id" not in header:
        raise BatchInputError(f"{where}: no claim_id column; is the first line a header?")
    needed = required_columns()
    missing = [c for c in needed if c not in header]
    if missing:
        raise BatchInputError(
            f"{where}: no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}; "
            f"every encounter needs {', '.join(needed)}"
        )


def _read_csv(path: Path, counted: LineCount | None = None) -> Iterator[tuple[RawRow, int]]:
    """The rows of a flat-layout CSV file, progress in bytes. Each row is numbered by the
    line it starts on, counted from the line after the header (row 1), and knows how many
    lines it took: a quote left open makes one refused row of the lines it swallowed,
    naming them, never a silent loss. Header names are read in any case.

    A well-formed row whose cells hold line breaks (a free-text reason typed over several
    lines) is read as one row, and counted in ``counted`` as one line of data: the lines
    of data are the lines that start a row, blank or not, and the lines a refused row
    took, so that ``lines = coded + lines not coded + blank`` holds whatever the cells
    hold."""
    with path.open("rb") as fh:
        lines = TextLines(fh)
        if lines.bad_encoding:
            raise BatchInputError(f"{path.name}: {lines.bad_encoding}")
        records = csv_records(lines)
        first = next(records, None)
        if first is None:
            raise BatchInputError(f"{path.name}: the file is empty: no encounters")
        if first.cells is None or first.last > first.first:
            raise BatchInputError(f"{path.name}: the header cannot be read: {first.problem()}")
        written = [h.strip() for h in first.cells]
        header = [h.lower() for h in written]
        _check_header(header, path.name, written)
        header_line = first.last
        done = lines.bytes_read
        rows = 0
        inside = 0  # line breaks inside the cells of rows read: not lines of data
        for record in records:
            step, done = lines.bytes_read - done, lines.bytes_read
            rows += 1
            raw = _csv_row(record.first - header_line, record, header)
            if raw.problem is None:
                inside += record.lines - 1
            yield raw, step
        if rows == 0:
            raise BatchInputError(f"{path.name}: the file has a header but no rows")
        if counted is not None:
            counted.lines = lines.number - header_line - inside


def _claim(record: CsvRecord, header: list[str]) -> str | None:
    """The claim id of a refused record when its cell can be told (one line of text)."""
    at = header.index("claim_id")
    cells = record.cells
    if cells is None or at >= len(cells):
        return None
    value = cells[at].strip()
    return value[:100] if value and "\n" not in value and "\r" not in value else None


def _csv_row(number: int, record: CsvRecord, header: list[str]) -> RawRow:
    problem = record.problem(len(header))
    if problem is not None:
        return RawRow(number, problem=problem, lines=record.lines, claim_id=_claim(record, header))
    cells = record.cells
    assert cells is not None  # a record without cells has a problem
    if not any(c.strip() for c in cells):
        return RawRow(number, blank=True)  # a spreadsheet's empty row
    if record.not_utf8:
        return RawRow(number, problem=NOT_UTF8, lines=record.lines)
    if len(cells) != len(header):
        reason = f"has {len(cells)} cells but the header has {len(header)} columns"
        problem = (TRUNCATED + reason) if record.cut else reason
        return RawRow(number, problem=problem, lines=record.lines)
    return RawRow(number, cells=dict(zip(header, cells, strict=True)))


@dataclass(frozen=True, slots=True)
class ParquetSlice:
    """Rows ``start``..``stop`` of one row group of a Parquet file, the file's rows
    ``first_row`` on. Workers read slices themselves, as they read JSON Lines spans."""

    index: int
    first_row: int
    group: int
    start: int
    stop: int


def _open_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    if not path.exists():
        raise BatchInputError(f"{path}: no such file")
    try:
        pfile = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise BatchInputError(f"{path.name}: not a readable Parquet file ({exc})") from None
    schema = pfile.schema_arrow
    _check_header(list(schema.names), path.name)
    for name in sorted(ID_COLUMNS & set(schema.names)):
        if pa_is_floating(schema.field(name).type):
            raise BatchInputError(f"{path.name}: the {name} column {FLOAT_ID}")
    return pfile


def pa_is_floating(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(kind))


def parquet_slices(path: Path, rows_per_slice: int) -> Iterator[ParquetSlice]:
    """Cut a Parquet file into slices of at most ``rows_per_slice`` rows."""
    metadata = _open_parquet(path).metadata
    index = 0
    row = 1
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        for start in range(0, size, rows_per_slice):
            stop = min(size, start + rows_per_slice)
            yield ParquetSlice(index, row, group, start, stop)
            index += 1
            row += stop - start
    if index == 0:
        raise BatchInputError(f"{path.name}: the file has no rows")


# A worker reads a row group once and slices it as its slices come (consecutive slices
# of one group usually reach the same worker).
_GROUP_CACHE: dict[tuple[str, int], Any] = {}


def read_parquet_slice(path: Path, part: ParquetSlice) -> list[RawRow]:
    key = (str(path), part.group)
    table = _GROUP_CACHE.get(key)
    if table is None:
        _GROUP_CACHE.clear()
        table = _GROUP_CACHE[key] = _open_parquet(path).read_row_group(part.group)
    cells = table.slice(part.start, part.stop - part.start).to_pylist()
    return [_parquet_row(part.first_row + i, row) for i, row in enumerate(cells)]


def _parquet_row(number: int, cells: dict[str, Any]) -> RawRow:
    # A row with every cell empty (a spreadsheet's empty row saved as Parquet) is blank,
    # as in CSV; claim_id first: a real row stops there.
    if not cells.get("claim_id") and all(
        v is None or (isinstance(v, str) and not v.strip()) for v in cells.values()
    ):
        return RawRow(number, blank=True)
    return RawRow(number, cells=cells)


def _read_parquet(path: Path) -> Iterator[tuple[RawRow, int]]:
    pfile = _open_parquet(path)
    number = 0
    for batch in pfile.iter_batches(batch_size=4096):
        for cells in batch.to_pylist():
            number += 1
            yield _parquet_row(number, cells), 1
    if number == 0:
        raise BatchInputError(f"{path.name}: the file has no rows")


def read_wanted_rows(path: Path, fmt: str, wanted: set[int]) -> dict[int, RawRow]:
    """The rows numbered in ``wanted``, read again (a second look at a few rows of a file
    already read once: JSON Lines lines are decoded and Parquet rows converted only when
    wanted)."""
    if fmt == "jsonl":
        found: dict[int, RawRow] = {}
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                if number in wanted:
                    found[number] = jsonl_row(number, raw)
        return found
    if fmt == "parquet":
        import pyarrow as pa

        pfile = _open_parquet(path)
        found = {}
        names = tuple(pfile.schema_arrow.names)
        first = 1  # the file's row number of the group's first row
        for group in range(pfile.metadata.num_row_groups):
            size = pfile.metadata.row_group(group).num_rows
            numbers = [n for n in range(first, first + size) if n in wanted]
            if numbers:
                picked = pfile.read_row_group(group).take(
                    pa.array([n - first for n in numbers], type=pa.int64())
                )
                columns = [picked.column(name).to_pylist() for name in names]
                for i, n in enumerate(numbers):
                    found[n] = RawRow(n, cells=Cells(names, tuple(c[i] for c in columns)))
            first += size
        return found
    return {
        raw.row: RawRow(raw.row, cells=Cells.of(raw.cells)) if raw.cells is not None else raw
        for raw, _ in read_rows(path, fmt)
        if raw.row in wanted
    }


# A file's column names and their positions, shared by all its rows' Cells.
_LAYOUTS: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, int]]] = {}


class Cells(Mapping[str, object]):
    """A flat row's cells, held as one tuple of values beside the file's column names
    (shared by every row): a tenth of the memory of a dict of 76 cells, for the rows a
    run keeps to read again."""

    __slots__ = ("_index", "_names", "_values")

    def __init__(self, names: tuple[str, ...], values: tuple[object, ...]) -> None:
        layout = _LAYOUTS.get(names)
        if layout is None:
            layout = _LAYOUTS[names] = (names, {name: i for i, name in enumerate(names)})
        self._names, self._index = layout
        self._values = values

    @classmethod
    def of(cls, cells: Mapping[str, object]) -> Cells:
        return cls(tuple(cells), tuple(cells.values()))

    def __getitem__(self, name: str) -> object:
        return self._values[self._index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Cells, (self._names, self._values))


# --- writing ------------------------------------------------------------------------------

RESULT_COLUMNS = [
    "row",
    "claim_id",
    "line",
    "cpt",
    "modifiers",
    "units",
    "diagnosis_pointers",
    "diagnoses",
    "category",
    "scale",
    "medicare_category",
    "guideline_indicated",
    "next_eligible_date",
    "abn_advised",
    "errors",
    "warnings",
    "finding_ids",
    "findings",
]


def result_rows(row: int, result: CodingResult) -> list[dict[str, Any]]:
    """One flat row per claim line (one row with no line when nothing can be billed)."""
    cov = result.coverage
    interp = result.interpretation
    common: dict[str, Any] = {
        "row": row,
        "claim_id": result.claim_id,
        "diagnoses": ";".join(result.diagnoses),
        "category": interp.category or "",
        "scale": interp.scale,
        "medicare_category": cov.medicare_category or "",
        "guideline_indicated": ""
        if cov.guideline_indicated is None
        else str(cov.guideline_indicated).lower(),
        "next_eligible_date": cov.next_eligible_date.isoformat() if cov.next_eligible_date else "",
        "abn_advised": str(cov.abn_advised).lower(),
        "errors": sum(1 for f in result.findings if f.severity == "error"),
        "warnings": sum(1 for f in result.findings if f.severity == "warning"),
        "finding_ids": ";".join(f.id for f in result.findings),
        "findings": " | ".join(
            f"{f.severity.upper()} {f.id}{' on ' + f.line if f.line else ''}: {f.message}"
            for f in result.findings
        ),
    }
    if not result.lines:
        return [
            {**common, "line": 0, "cpt": "", "modifiers": "", "units": 0, "diagnosis_pointers": ""}
        ]
    return [
        {
            **common,
            "line": i,
            "cpt": line.cpt,
            "modifiers": ";".join(line.modifiers),
            "units": line.units,
            "diagnosis_pointers": ";".join(str(p) for p in line.diagnosis_pointers),
        }
        for i, line in enumerate(result.lines, 1)
    ]


class ResultWriter:
    """Writes results in the output's format; JSON Lines keeps the contract's shape."""

    def __init__(self, path: Path, fmt: str, *, header: bool = True) -> None:
        self.path = path
        self.fmt = fmt
        self._fh: IO[str] | None = None
        self._csv: Any = None
        self._parquet: Any = None
        if fmt in ("jsonl", "csv"):
            self._fh = path.open("w", encoding="utf-8", newline="")
            if fmt == "csv":
                self._csv = csv.DictWriter(self._fh, fieldnames=RESULT_COLUMNS)
                if header:
                    self._csv.writeheader()

    def write_json(self, lines: Iterable[str]) -> None:
        assert self._fh is not None
        for text in lines:
            self._fh.write(text)
            self._fh.write("\n")

    def write_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.fmt == "csv":
            self._csv.writerows(rows)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(list(rows), schema=_parquet_schema())
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.path, table.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self.fmt == "parquet":
            if self._parquet is None:  # no rows: still leave a valid, empty file
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist([], schema=_parquet_schema()), self.path)
            else:
                self._parquet.close()


def join_csv_parts(parts: Sequence[Path], dest: Path) -> None:
    """A CSV output from the parts the workers wrote, in order, under one header (the
    parts have none)."""
    with dest.open("wb") as out:
        out.write((",".join(RESULT_COLUMNS) + "\r\n").encode())
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)


def _parquet_schema() -> Any:
    import pyarrow as pa

    ints = {"row", "line", "units", "errors", "warnings"}
    return pa.schema([(c, pa.int64() if c in ints else pa.string()) for c in RESULT_COLUMNS])


ERROR_COLUMNS = ["row", "claim_id", "field", "reason"]


def output_problem(path: Path, label: str) -> str | None:
    """Why an output file cannot be written at ``path``, or None: said before any work. A
    file is made and removed beside it, so a read-only or full place is found now."""
    if path.is_dir():
        return f"{path}: the {label} is a folder; give a file name"
    if not path.parent.is_dir():
        return f"{path}: the {label}'s folder {path.parent} does not exist; create it first"
    if not os.access(path.parent, os.W_OK):
        return f"{path}: cannot write in {path.parent} (permission denied)"
    probe = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.probe")
    try:
        with probe.open("xb") as fh:
            fh.write(b"\n")
    except OSError as exc:
        return f"{path}: cannot write the {label} in {path.parent}: {exc.strerror or exc}"
    finally:
        probe.unlink(missing_ok=True)
    return None


def is_special_file(path: Path) -> bool:
    """A place to write to, not a file to replace: a device (/dev/null), a pipe, or a
    name under /dev or /proc (/dev/stdout is a link to whatever the shell redirected it
    to). Written through, appended to, never replaced or removed."""
    where = str(path.absolute())
    if where.startswith(("/dev/", "/proc/")) and not where.startswith("/dev/shm/"):
        return True  # /dev/shm holds ordinary files (a memory-backed folder)
    return path.exists() and not path.is_file() and not path.is_dir()


def _open_stream(path: Path) -> IO[str]:
    """A stream to write to. This process's own stdout or stderr is used through its open
    descriptor: opened again by name, /dev/stdout would empty the file the shell
    redirected it to, or write over what the process itself prints there."""
    where = str(path)
    fd = {"/dev/stdout": 1, "/dev/stderr": 2}.get(where)
    if fd is None and where.startswith("/dev/fd/") and where[8:].isdigit():
        fd = int(where[8:])
    if fd is not None:
        return os.fdopen(os.dup(fd), "w", encoding="utf-8", newline="")
    return path.open("a", encoding="utf-8", newline="")


class ErrorWriter:
    """The rows that could not be coded: row number, claim id, field and reason.

    Written as CSV for a .csv path, JSON Lines otherwise, to a hidden file beside
    ``path`` that ``commit`` puts in place at the end of a run: a run that fails or is
    interrupted leaves the previous errors file as it was, like the results. A clean run
    leaves none behind (a stale one would mislead). A path that is not a regular file
    (/dev/null, a pipe) is written to directly and never replaced or removed."""

    def __init__(self, path: Path, spool: Path) -> None:
        self.path = path
        self.count = 0
        self._direct = is_special_file(path)
        self._spool = path if self._direct else spool
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def write(self, row: int, claim_id: str | None, field: str, reason: str) -> None:
        try:
            self._write(row, claim_id, field, reason)
        except OSError as exc:
            raise write_failure(self.path, "the errors file", exc) from None

    def _write(self, row: int, claim_id: str | None, field: str, reason: str) -> None:
        if self._fh is None:
            self._fh = (
                _open_stream(self.path)
                if self._direct
                else self._spool.open("w", encoding="utf-8", newline="")
            )
            if self.path.suffix.lower() == ".csv":
                self._csv = csv.DictWriter(self._fh, fieldnames=ERROR_COLUMNS)
                self._csv.writeheader()
        record = {"row": row, "claim_id": claim_id, "field": field, "reason": reason}
        if self._csv is not None:
            self._csv.writerow(record)
        else:
            self._fh.write(json.dumps(record) + "\n")
        self.count += 1

    def commit(self) -> None:
        """Put this run's errors file in place (or remove a stale one)."""
        try:
            self._close()
            if self._direct:
                return
            if self.count:
                os.replace(self._spool, self.path)
            else:
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise write_failure(self.path, "the errors file", exc) from None

    def discard(self) -> None:
        """Drop what was written: the run did not finish."""
        with contextlib.suppress(OSError):  # the error that stopped the run is the one to tell
            self._close()
        if not self._direct:
            self._spool.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def encounter_of(raw: RawRow) -> Encounter:
    """A readable row as an encounter; FlatRowError or ContractError say why not."""
    if raw.text is not None:
        return parse_encounter(raw.text)
    assert raw.cells is not None
    return parse_encounter(row_to_encounter(raw.cells))


def claim_id_of(raw: RawRow) -> str | None:
    """The claim id of a row that failed, when it can be told (never patient data)."""
    if raw.cells is not None:
        value = raw.cells.get("claim_id")
        return str(value)[:100] if value not in (None, "") else None
    if raw.text is not None:
        try:
            data = json.loads(raw.text)
        except ValueError:
            return None
        if isinstance(data, dict) and isinstance(data.get("claim_id"), str):
            return str(data["claim_id"])[:100]
    return None
