"""``icd10cm``: a CMS ICD-10-CM release (the order file and the tabular XML).

CMS publishes each fiscal year's code set (1 October to 30 September) as a zip holding,
among others, ``icd10cm-order-2027.txt`` (fixed-width: order number, code, billable flag,
short and long descriptions) and ``icd10cm-tabular-2027.xml`` (the tabular list with its
notes). The index is built by ``dexacode.icd10.build_index_from_cms``, which checks every
line of the order file before it writes anything; the catalog keeps a record of the two
files so that loading the same release twice does nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dexacode.data._catalog import Dataset, FileInfo
from dexacode.data._common import ImportOptions, sha256
from dexacode.data._files import DataImportError, InputFile
from dexacode.data._members import SPREADSHEETS, Skipped, is_documentation

KIND = "icd10cm"
_YEAR_RE = re.compile(r"(20\d\d)")
_XML_VERSION_RE = re.compile(rb"<version>\s*(\d{4})\s*</version>")


def pick(files: Sequence[InputFile]) -> tuple[InputFile, InputFile, list[Skipped]]:
    """The order file and the tabular XML among the files given (zips opened), and the
    others, skipped with the reason: CMS's "Code Descriptions" zip holds the order file
    beside its addenda and the plain code list, the "Table and Index" zip the tabular
    beside the index and a schema."""
    orders: list[InputFile] = []
    tabulars: list[InputFile] = []
    skipped: list[Skipped] = []
    for file in files:
        low = file.name.lower()
        if file.suffix in SPREADSHEETS:
            reason = "a spreadsheet, not part of the release dexacode reads"
        elif "addenda" in low:
            reason = "the year's changes, not the release itself"
        elif is_documentation(file):
            reason = "documentation, not the release itself"
        elif file.suffix == ".txt" and "order" in low:
            orders.append(file)
            continue
        elif file.suffix == ".xml" and "tabular" in low:
            tabulars.append(file)
            continue
        elif file.suffix == ".xml" and ("index" in low or "drug" in low or "neoplasm" in low):
            reason = "an alphabetic index; dexacode reads the tabular list"
        elif file.suffix == ".txt" and "code" in low:
            reason = "the plain code list; the order file holds the same codes and more"
        else:
            reason = "not the order file or the tabular XML"
        skipped.append(Skipped(file.where, reason))
    problems = [
        _count(found, what)
        for found, what in (
            (orders, "order file (icd10cm-order-YYYY.txt)"),
            (tabulars, "tabular XML (icd10cm-tabular-YYYY.xml)"),
        )
        if len(found) != 1
    ]
    if problems:
        also = f"; skipped: {', '.join(map(str, skipped))}" if skipped else ""
        raise DataImportError(
            "an ICD-10-CM release needs exactly one order file and one tabular XML, from the "
            f"same fiscal year: {' and '.join(problems)}{also}"
        )
    return orders[0], tabulars[0], skipped


def _count(found: Sequence[InputFile], what: str) -> str:
    if not found:
        return f"found no {what}"
    return (
        f"found {len(found)} files that look like the {what}: "
        f"{', '.join(f.where for f in found)}; import one release at a time"
    )


def fiscal_year(order: InputFile, tabular: InputFile, options: ImportOptions) -> int:
    """The release's fiscal year: what the tabular XML (else the order file's name) says;
    --edition only where they say nothing, or with --force."""
    said: tuple[int, str] | None = None
    m_xml = _XML_VERSION_RE.search(tabular.data[:4096])
    m_name = _YEAR_RE.search(order.name)
    if m_xml is not None:
        year = m_xml.group(1).decode("ascii")
        said = int(year), f"{tabular.where} says <version>{year}</version>"
    elif m_name is not None:
        said = int(m_name.group(1)), f"the order file's name says {m_name.group(1)}"
    wanted: int | None = None
    if options.edition:
        m = _YEAR_RE.search(options.edition)
        if m is None:
            raise DataImportError(f"--edition {options.edition!r} names no fiscal year (FY2027)")
        wanted = int(m.group(1))
    if said is None:
        if wanted is None:
            raise DataImportError("cannot tell the release's fiscal year; give --edition FY2027")
        return wanted
    if wanted is not None and wanted != said[0] and not options.force:
        raise DataImportError(
            f"--edition {options.edition} disagrees with the files: {said[1]} (FY{said[0]}); "
            "drop --edition, or add --force to store the release as "
            f"FY{wanted} anyway"
        )
    return wanted if wanted is not None else said[0]


def record(order: InputFile, tabular: InputFile, year: int, codes: int) -> Dataset:
    return Dataset(
        kind=KIND,
        edition=f"FY{year}",
        effective=dt.date(year - 1, 10, 1),
        files={
            order.name: FileInfo(sha256(order), codes, codes),
            tabular.name: FileInfo(sha256(tabular), 0, 0),
        },
        tables={},
    )


def build(order: InputFile, tabular: InputFile, year: int, index_dir: Path) -> int:
    """Build the year's index from the two files; returns the number of codes."""
    from dexacode.icd10 import build_index_from_cms

    with tempfile.TemporaryDirectory(prefix="dexacode-icd10cm-") as folder:
        order_path = Path(folder) / order.name
        tabular_path = Path(folder) / tabular.name
        order_path.write_bytes(order.data)
        tabular_path.write_bytes(tabular.data)
        try:
            build_index_from_cms(order_path, tabular_path, year, index_dir)
        except ValueError as exc:
            message = str(exc).replace(str(order_path), order.where)
            message = message.replace(str(tabular_path), tabular.where)
            raise DataImportError(f"{message}; nothing was imported") from exc
    return sum(1 for line in order.data.splitlines() if line.strip())
