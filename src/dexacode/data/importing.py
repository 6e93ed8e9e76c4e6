"""``import_files``: check a kind's files whole, then store them as one edition.

Nothing is written until every line of every file has been read and found good; the
edition is then written in one atomic step.

What a new import does to what is stored, by content (SHA-256 of the bytes), never by
file name:

- a file whose bytes are already stored in the edition changes nothing, whatever its name;
- a file for a part already stored (NCCI splits the PTP table over ``-f1`` ... ``-f4``; an
  MUE edition is one table) with other bytes REPLACES that part (a corrected file saved as
  ``... (1).csv``); the other parts stay;
- a different release for the same first day (``v32.1r1`` after ``v32.1r0``) replaces the
  whole edition;
- a stored edition that cannot be read (written by a newer dexacode, damaged) is replaced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dexacode.data import icd10cm, mcd_article, mue, ncci_ptp, ptp_editions
from dexacode.data._catalog import (
    KINDS,
    CatalogError,
    Dataset,
    path_of,
    read_dataset,
    scan_datasets,
    write_dataset,
)
from dexacode.data._common import ImportOptions
from dexacode.data._files import DataImportError, InputFile, read_inputs
from dexacode.data._members import Skipped, choose, same_bytes
from dexacode.rulebook import RuleBook

_READERS: dict[str, Callable[[Sequence[InputFile], ImportOptions, Collection[str]], Dataset]] = {
    "ncci-ptp": ncci_ptp.read,
    "mue": mue.read,
    "mcd-article": mcd_article.read,
}
# Kinds whose edition is a table in parts, each replaced on its own.
_PARTED = ("ncci-ptp", "mue")


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
    replaced: tuple[str, ...] = ()  # what this import replaced, in words
    skipped: tuple[str, ...] = ()  # files given (or zip members) not read, with why
    ends: dt.date | None = None


def import_files(
    kind: str,
    paths: Sequence[Path],
    *,
    edition: str | None = None,
    effective: dt.date | None = None,
    article: str | None = None,
    payer: str | None = None,
    force: bool = False,
    data_dir: Path | None = None,
    book: RuleBook | None = None,
) -> ImportReport:
    """Import CMS files of one kind (see KINDS); raises DataImportError, naming the file
    and line, when anything is wrong, and then nothing has been stored."""
    options = ImportOptions(
        edition=edition, effective=effective, article=article, payer=payer, force=force
    )
    _check_options(kind, paths, options)
    if book is None:
        from dexacode.coding import configured_payer_dirs
        from dexacode.rulebook import load_rulebook

        book = load_rulebook(configured_payer_dirs())
    if payer is not None and payer not in book.payers:
        raise DataImportError(
            f"unknown payer profile {payer!r}; expected one of {', '.join(book.payer_names())}"
        )
    files, skipped = same_bytes(read_inputs(paths))
    if not files:
        raise DataImportError("the files given hold nothing to import")
    if kind == "icd10cm":
        return _import_icd10cm(files, options, data_dir, skipped)
    files, more = choose(kind, files)
    skipped += more
    known = frozenset(p.cpt for p in book.procedures)
    dataset = _READERS[kind](files, options, known)
    target = path_of(dataset, data_dir)
    stored, replaced = _stored(target)
    merged, more_replaced = _merge(stored, dataset)
    replaced += more_replaced
    if merged is None:  # every file's bytes are stored already
        assert stored is not None
        return _report(stored, target, changed=False, skipped=skipped)
    path, changed = write_dataset(merged, data_dir)
    notes = [*merged.notes, *_incomplete(merged, data_dir), *_others_unreadable(path, data_dir)]
    return _report(merged, path, changed=changed, replaced=replaced, skipped=skipped, notes=notes)


def _check_options(kind: str, paths: Sequence[Path], options: ImportOptions) -> None:
    """Options a kind does not use are refused, never silently ignored."""
    if kind not in KINDS:
        raise DataImportError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not paths:
        raise DataImportError("name at least one file to import")
    if kind != "mcd-article" and (options.article is not None or options.payer is not None):
        raise DataImportError("--article and --payer apply to mcd-article only")
    if kind == "icd10cm" and options.effective is not None:
        raise DataImportError(
            "--effective does not apply to icd10cm: a release governs its fiscal year, from "
            "1 October (give --edition FY2027 if the files do not say their year)"
        )
    if options.force and options.edition is None and options.effective is None:
        raise DataImportError(
            "--force only lets --edition or --effective override what the files say; give "
            "one of them, or drop --force"
        )


def _stored(target: Path) -> tuple[Dataset | None, list[str]]:
    """The edition stored where the new one goes; an unreadable one is to be replaced."""
    if not target.is_file():
        return None, []
    try:
        return read_dataset(target), []
    except CatalogError as exc:
        return None, [f"the stored dataset that could not be read ({exc.detail or exc})"]


def _merge(stored: Dataset | None, new: Dataset) -> tuple[Dataset | None, list[str]]:
    """What to store, and what it replaces (in words); None when nothing changes."""
    if stored is None:
        return new, []
    stored_shas = {info.sha256 for info in stored.files.values()}
    if stored.edition != new.edition:
        return new, [f"edition {stored.edition} (from {', '.join(sorted(stored.files))})"]
    if all(info.sha256 in stored_shas for info in new.files.values()):
        return None, []
    if new.kind not in _PARTED:
        return new, []  # the same article version, loaded again from other files
    files = dict(stored.files)
    tables = dict(stored.tables)
    replaced: list[str] = []
    for name, info in new.files.items():
        if info.sha256 in stored_shas:
            continue  # the same bytes, maybe under another name: kept as stored
        old = sorted(n for n, i in stored.files.items() if i.part == info.part)
        for gone in old:
            files.pop(gone)
            tables.pop(gone, None)
        if old:
            what = (
                "the table" if new.kind == "mue" else f"part {info.part}"
            ) + f" of edition {stored.edition}"
            replaced.append(f"{what} (from {', '.join(old)}, loaded earlier)")
        files[name] = info
        tables[name] = new.tables[name]
    return replace(new, files=files, tables=tables), replaced


def _incomplete(dataset: Dataset, data_dir: Path | None) -> list[str]:
    """For a PTP edition: the parts an older loaded edition shows the table has, and this
    one lacks (their pairs are checked against the older rows until they are loaded)."""
    if dataset.kind != "ncci-ptp":
        return []
    loaded, _ = scan_datasets(data_dir)
    chosen = ptp_editions.plan([d for d in loaded if d.kind == "ncci-ptp"])
    mine = next((d for d in chosen.editions if d.slug == dataset.slug), None)
    if mine is None:
        return []
    return [
        f"edition {mine.edition} is INCOMPLETE: it lacks part {part}, which {older.edition} "
        f"has; until you load {ptp_editions.missing_file(mine, part)}, the pairs of that "
        f"part are checked against {older.edition}'s rows, and every result says so"
        for part, older in chosen.lacks(mine).items()
    ]


def _others_unreadable(written: Path, data_dir: Path | None) -> list[str]:
    _, broken = scan_datasets(data_dir)
    return [
        f"another stored {b.kind} dataset cannot be read, and claims cannot be checked until "
        f"it is replaced or removed: {b.reason}"
        for b in broken
        if b.path != written
    ]


def _import_icd10cm(
    files: Sequence[InputFile],
    options: ImportOptions,
    data_dir: Path | None,
    skipped: list[Skipped],
) -> ImportReport:
    from dexacode.data._catalog import data_root

    order, tabular, more = icd10cm.pick(files)
    skipped = [*skipped, *more]
    year = icd10cm.fiscal_year(order, tabular, options)
    index_dir = data_root(data_dir) / "icd10cm"
    index = index_dir / f"icd10cm-FY{year}.sqlite"
    record = icd10cm.record(order, tabular, year, 0)
    target = path_of(record, data_dir)
    stored, replaced = _stored(target)
    shas = {f.sha256 for f in record.files.values()}
    if stored is not None and index.is_file() and {f.sha256 for f in stored.files.values()} == shas:
        return _report(stored, target, changed=False, skipped=skipped)
    codes = icd10cm.build(order, tabular, year, index_dir)
    record = icd10cm.record(order, tabular, year, codes)
    path, _ = write_dataset(record, data_dir)
    return _report(record, path, changed=True, replaced=replaced, skipped=skipped)


def _report(
    record: Dataset,
    path: Path,
    *,
    changed: bool,
    replaced: Sequence[str] = (),
    skipped: Sequence[Skipped] = (),
    notes: Sequence[str] | None = None,
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
        notes=tuple(record.notes if notes is None else notes),
        replaced=tuple(replaced),
        skipped=tuple(map(str, skipped)),
        ends=record.ends,
    )
