"""``import_files``: check a kind's files whole, then store them as one edition.

Nothing is written until every line of every file has been read and found good; the
edition is then written in one atomic step. An edition already stored with the same label
gains the new files (CMS splits the PTP table over several files, which may be imported
one at a time); a different label for the same first day replaces it (a corrected
release). Importing the same files twice writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dexacode.data import icd10cm, mcd_article, mue, ncci_ptp
from dexacode.data._catalog import (
    KINDS,
    Dataset,
    path_of,
    read_dataset,
    write_dataset,
)
from dexacode.data._common import ImportOptions
from dexacode.data._files import DataImportError, InputFile, read_inputs
from dexacode.rulebook import RuleBook

_READERS: dict[str, Callable[[Sequence[InputFile], ImportOptions, Collection[str]], Dataset]] = {
    "ncci-ptp": ncci_ptp.read,
    "mue": mue.read,
    "mcd-article": mcd_article.read,
}


@dataclass(frozen=True)
class ImportReport:
    """What an import did, for the command to say."""

    kind: str
    edition: str
    effective: dt.date
    path: Path
    changed: bool
    rows_read: int
    rows_kept: int
    files: tuple[str, ...]
    notes: tuple[str, ...] = ()
    replaced: str | None = None  # the label of an edition this one replaced


def import_files(
    kind: str,
    paths: Sequence[Path],
    *,
    edition: str | None = None,
    effective: dt.date | None = None,
    article: str | None = None,
    payer: str | None = None,
    data_dir: Path | None = None,
    book: RuleBook | None = None,
) -> ImportReport:
    """Import CMS files of one kind (see KINDS); raises DataImportError, naming the file
    and line, when anything is wrong, and then nothing has been stored."""
    if kind not in KINDS:
        raise DataImportError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not paths:
        raise DataImportError("name at least one file to import")
    if kind != "mcd-article" and (article is not None or payer is not None):
        raise DataImportError("--article and --payer apply to mcd-article only")
    if book is None:
        from dexacode.coding import configured_payer_dirs
        from dexacode.rulebook import load_rulebook

        book = load_rulebook(configured_payer_dirs())
    if payer is not None and payer not in book.payers:
        raise DataImportError(
            f"unknown payer profile {payer!r}; expected one of {', '.join(book.payer_names())}"
        )
    options = ImportOptions(edition=edition, effective=effective, article=article, payer=payer)
    files = read_inputs(paths)
    if not files:
        raise DataImportError("the files given hold nothing to import")
    if kind == "icd10cm":
        return _import_icd10cm(files, options, data_dir)
    known = frozenset(p.cpt for p in book.procedures)
    dataset = _READERS[kind](files, options, known)
    replaced: str | None = None
    target = path_of(dataset, data_dir)
    if target.is_file() and kind in ("ncci-ptp", "mue"):
        stored = read_dataset(target)
        if stored.edition == dataset.edition:
            dataset = replace(
                dataset,
                files={**stored.files, **dataset.files},
                tables={**stored.tables, **dataset.tables},
            )
        else:
            replaced = stored.edition
    elif target.is_file():
        stored = read_dataset(target)
        replaced = stored.edition if stored.edition != dataset.edition else None
    path, changed = write_dataset(dataset, data_dir)
    return _report(dataset, path, changed=changed, replaced=replaced)


def _import_icd10cm(
    files: Sequence[InputFile], options: ImportOptions, data_dir: Path | None
) -> ImportReport:
    from dexacode.data._catalog import data_root

    order, tabular = icd10cm.pick(files)
    year = icd10cm.fiscal_year(order, tabular, options)
    index_dir = data_root(data_dir) / "icd10cm"
    index = index_dir / f"icd10cm-FY{year}.sqlite"
    record = icd10cm.record(order, tabular, year, 0)
    target = path_of(record, data_dir)
    if target.is_file() and index.is_file():
        stored = read_dataset(target)
        if {n: f.sha256 for n, f in stored.files.items()} == {
            n: f.sha256 for n, f in record.files.items()
        }:
            return _report(stored, target, changed=False)
    codes = icd10cm.build(order, tabular, year, index_dir)
    record = icd10cm.record(order, tabular, year, codes)
    path, _ = write_dataset(record, data_dir)
    return _report(record, path, changed=True)


def _report(
    record: Dataset, path: Path, *, changed: bool, replaced: str | None = None
) -> ImportReport:
    return ImportReport(
        kind=record.kind,
        edition=record.edition,
        effective=record.effective,
        path=path,
        changed=changed,
        rows_read=record.rows_read,
        rows_kept=record.rows_kept,
        files=tuple(record.files),
        notes=record.notes,
        replaced=replaced,
    )
