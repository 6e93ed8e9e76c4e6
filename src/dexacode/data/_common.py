"""What the importers share: code shapes, dates, edition labels, file fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from dexacode.data._catalog import FileInfo, part_of
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
    force: bool = False  # let --edition/--effective override what the files say


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


def resolve_edition(
    options: ImportOptions,
    *,
    named: str | None,
    start: dt.date | None,
    said_by: str,
    fallback_label: Callable[[dt.date], str],
    what: str,
    example: str,
) -> tuple[str, dt.date]:
    """The edition's label and first day.

    ``named``/``start`` are what the files say (``said_by`` tells the user where:
    "the file names say v32.1r0, the quarter from 2026-04-01"). The options fill in what
    the files do not say; when they contradict the files they are refused, unless --force,
    so a quarter is never stored as another one by a slip of the keyboard.
    """
    from_label = start_from_label(options.edition) if options.edition else None
    if options.effective and from_label and options.effective != from_label:
        raise DataImportError(
            f"--edition {options.edition} names {from_label.isoformat()} but --effective "
            f"says {options.effective.isoformat()}; give one of them"
        )
    chosen = options.effective or from_label
    if start is None:
        if chosen is None:
            raise DataImportError(
                f"cannot tell which {what} edition these files are from their names (CMS "
                f"names them like {example}); give --effective YYYY-MM-DD or --edition 2026Q2"
            )
        return options.edition or fallback_label(chosen), chosen
    label = named or fallback_label(start)
    clashes: list[str] = []
    if options.effective and options.effective != start:
        clashes.append(f"--effective {options.effective.isoformat()}")
    if options.edition and (
        (from_label is not None and from_label != start)
        or (from_label is None and options.edition.strip().casefold() != label.casefold())
    ):
        named_day = f" (from {from_label.isoformat()})" if from_label else ""
        clashes.append(f"--edition {options.edition!r}{named_day}")
    if not clashes:
        return label, start
    if not options.force:
        raise DataImportError(
            f"{' and '.join(clashes)} {'disagrees' if len(clashes) == 1 else 'disagree'} "
            f"with the files: {said_by}; drop the option "
            "(it is for files that do not say their edition), or add --force to store them "
            "under the option's edition anyway"
        )
    return options.edition or label, chosen or start


def bad_line(file: InputFile, line: int, reason: str) -> DataImportError:
    return DataImportError(f"{file.where}, line {line}: {reason}; nothing was imported")


# A table reader: a file's kept rows (those of the codes dexacode knows) and how many
# rows it read in all.
RowParser = Callable[[InputFile, Collection[str]], tuple[list[list[Any]], int]]


def read_tables(
    kind: str, files: Sequence[InputFile], parse: RowParser, known: Collection[str]
) -> tuple[dict[str, list[list[Any]]], dict[str, FileInfo]]:
    """Each file's kept rows and its FileInfo (hash, rows read and kept, the part it is)."""
    tables: dict[str, list[list[Any]]] = {}
    infos: dict[str, FileInfo] = {}
    for file in files:
        rows, read_count = parse(file, known)
        tables[file.name] = rows
        infos[file.name] = FileInfo(sha256(file), read_count, len(rows), part_of(kind, file.name))
    return tables, infos
