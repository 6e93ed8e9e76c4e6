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

KIND = "icd10cm"
_YEAR_RE = re.compile(r"(20\d\d)")
_XML_VERSION_RE = re.compile(rb"<version>\s*(\d{4})\s*</version>")


def pick(files: Sequence[InputFile]) -> tuple[InputFile, InputFile]:
    """The order file and the tabular XML among the files given (zips opened)."""
    orders = [f for f in files if f.name.lower().endswith(".txt") and "order" in f.name.lower()]
    tabulars = [f for f in files if f.name.lower().endswith(".xml") and "tabular" in f.name.lower()]
    if len(orders) != 1 or len(tabulars) != 1:
        raise DataImportError(
            "an ICD-10-CM release needs exactly one order file (icd10cm-order-YYYY.txt) and "
            f"one tabular XML (icd10cm-tabular-YYYY.xml); found {len(orders)} and "
            f"{len(tabulars)}"
        )
    return orders[0], tabulars[0]


def fiscal_year(order: InputFile, tabular: InputFile, options: ImportOptions) -> int:
    if options.edition:
        m = _YEAR_RE.search(options.edition)
        if m is None:
            raise DataImportError(f"--edition {options.edition!r} names no fiscal year (FY2027)")
        return int(m.group(1))
    m_xml = _XML_VERSION_RE.search(tabular.data[:4096])
    if m_xml is not None:
        return int(m_xml.group(1))
    m_name = _YEAR_RE.search(order.name)
    if m_name is not None:
        return int(m_name.group(1))
    raise DataImportError("cannot tell the release's fiscal year; give --edition FY2027")


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
