"""Which of the files given are the table: CMS's zips hold more than the table's text form.

A quarterly NCCI PTP zip holds the tab-separated ``.TXT`` beside the same table as an
``.xlsx`` (and sometimes a read-me or a PDF); the MUE zip holds the ``.csv`` beside an
``.xlsx``. dexacode reads the text form and skips the rest of a zip, saying which members
it skipped and why. A spreadsheet named on its own is refused: the text form CMS publishes
beside it holds the same rows (reading ``.xlsx`` would need a dependency dexacode does not
carry). Files named on their own are otherwise read as given, so a wrong file is refused
with the reason rather than skipped without a word.

Two files with the same bytes (a download saved twice, ``... (1).txt``) are read once.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from dexacode.data._catalog import part_of
from dexacode.data._files import DataImportError, InputFile

SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".xlsb", ".ods")
_DOCUMENTS = (".pdf", ".doc", ".docx", ".rtf", ".htm", ".html", ".xsd", ".md")
# Text files in a download that are about the table, not the table.
_READ_ME_RE = re.compile(
    r"read[\s_-]*me|disclaimer|notice|licen[cs]e|copyright|layout|changes", re.IGNORECASE
)
# The text form of each kind's table, and how it looks (for messages).
TEXT_FORM: dict[str, tuple[tuple[str, ...], str]] = {
    "ncci-ptp": ((".txt",), "the tab-separated text file (ccipra-v321r0-f1.txt)"),
    "mue": ((".csv",), "the CSV file (MCR_MUE_PractitionerServices_Eff_04-01-2026.csv)"),
    "mcd-article": ((".csv",), "the CSV tables (article_x_icd10_covered.csv ...)"),
}


@dataclass(frozen=True)
class Skipped:
    """A file given (or a zip's member) that was not read, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where} ({self.reason})"


def same_bytes(files: Sequence[InputFile]) -> tuple[list[InputFile], list[Skipped]]:
    """The files with their repeats (same bytes, any name) left out."""
    seen: dict[str, InputFile] = {}
    kept: list[InputFile] = []
    skipped: list[Skipped] = []
    for file in files:
        digest = hashlib.sha256(file.data).hexdigest()
        first = seen.get(digest)
        if first is not None:
            skipped.append(Skipped(file.where, f"the same bytes as {first.where}, read once"))
            continue
        seen[digest] = file
        kept.append(file)
    return kept, skipped


def choose(kind: str, files: Sequence[InputFile]) -> tuple[list[InputFile], list[Skipped]]:
    """The files that hold ``kind``'s table in its text form, and the zip members skipped.

    Raises DataImportError for a spreadsheet named on its own, and for a zip that holds
    nothing in the text form (naming what it does hold)."""
    extensions, looks = TEXT_FORM[kind]
    kept: list[InputFile] = []
    skipped: list[Skipped] = []
    for file in files:
        if file.archive is None:
            if file.suffix in SPREADSHEETS:
                text = file.name.rsplit(".", 1)[0] + extensions[0]
                raise DataImportError(
                    f"{file.where}: the spreadsheet form of the table, which dexacode does not "
                    f"read; import the text form CMS publishes beside it in the same download "
                    f"({text}: {looks.removeprefix('the ')}), which holds the same rows"
                )
            kept.append(file)
            continue
        reason = _skip_reason(file, extensions)
        if reason is None:
            kept.append(file)
        else:
            skipped.append(Skipped(file.where, reason))
    archives = {f.archive for f in files if f.archive is not None}
    for archive in sorted(archives):
        if not any(f.archive == archive for f in kept):
            members = ", ".join(s.where.split(":", 1)[1] for s in skipped if _in(s, archive))
            raise DataImportError(
                f"{archive}: holds no {kind} table in its text form ({looks}); it holds "
                f"{members or 'nothing'}; download the text form CMS publishes and import it"
            )
    return kept, skipped


def _in(skipped: Skipped, archive: str) -> bool:
    return skipped.where.startswith(f"{archive}:")


def is_documentation(file: InputFile) -> bool:
    """A PDF, a schema, a read-me: about the table, not the table."""
    return file.suffix in _DOCUMENTS or (
        file.suffix in (".txt", ".csv") and _READ_ME_RE.search(file.name) is not None
    )


def _skip_reason(file: InputFile, extensions: tuple[str, ...]) -> str | None:
    if file.suffix in SPREADSHEETS:
        return "the spreadsheet copy of the table; the text form beside it is read"
    if file.suffix in _DOCUMENTS:
        return "documentation, not the table"
    if is_documentation(file):
        return "a read-me, not the table"
    if file.suffix not in extensions:
        return f"not a {' or '.join(extensions)} file"
    return None


def one_file_a_part(kind: str, files: Sequence[InputFile]) -> None:
    """Two different files for one part of the table cannot both be right (the same bytes
    were read once already, see ``same_bytes``)."""
    by_part: dict[str, list[InputFile]] = defaultdict(list)
    for file in files:
        by_part[part_of(kind, file.name)].append(file)
    for part, given in by_part.items():
        if len(given) > 1:
            what = "the MUE table" if kind == "mue" else f"part {part} of the PTP table"
            raise DataImportError(
                f"{' and '.join(f.where for f in given)} are both {what}, with different "
                "rows; import the one you mean (a later import of the same part replaces "
                "the earlier one)"
            )
