"""``remove``: take one stored edition out of the data folder (undo a wrong import).

The edition is named as ``dexacode data status`` shows it: its label (``v32.1r0``,
``practitioner 2026-04-01``, ``A57132 v12``, ``FY2027``), its first day (``2026-04-01``),
or its stored name (the file name without ``.json``, which is what status shows for a
dataset it cannot read). Each stored file goes in one step (a rename, then an unlink), so a
claim checked meanwhile sees the edition or its absence, never part of it. The files the
user imported from are not touched: importing them again undoes the removal.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dexacode.data._catalog import KINDS, Dataset, data_root, path_of, scan_datasets
from dexacode.data._common import start_from_label
from dexacode.data._files import DataImportError


@dataclass(frozen=True)
class Removed:
    kind: str
    edition: str  # its label (its stored name when it could not be read)
    paths: tuple[Path, ...]


def remove(
    kind: str, edition: str, *, payer: str | None = None, data_dir: Path | None = None
) -> Removed:
    """Remove the stored edition of ``kind`` that ``edition`` names; DataImportError (one
    sentence listing what is stored) when it names none, or more than one."""
    if kind not in KINDS:
        raise DataImportError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if payer is not None and kind != "mcd-article":
        raise DataImportError("--payer applies to mcd-article only")
    datasets, broken = scan_datasets(data_dir)
    mine = [d for d in datasets if d.kind == kind and (payer is None or d.payer == payer)]
    wanted = edition.strip()
    found = [d for d in mine if _names(d, wanted)]
    gone_broken = [b for b in broken if b.kind == kind and b.name == wanted]
    if len(found) + len(gone_broken) > 1:
        raise DataImportError(
            f"{wanted!r} names more than one stored {kind} edition "
            f"({'; '.join(_shown(d) for d in found)}); give --payer, or the stored name "
            f"({', '.join(path_of(d, data_dir).stem for d in found)})"
        )
    if gone_broken:
        target = gone_broken[0].path
        _unlink_atomic(target)
        return Removed(kind, wanted, (target,))
    if not found:
        stored = "; ".join(_shown(d) for d in mine) or "none"
        raise DataImportError(
            f"no stored {kind} edition is named {wanted!r} (stored: {stored}); "
            "`dexacode data status` lists them"
        )
    dataset = found[0]
    paths = [path_of(dataset, data_dir)]
    if kind == "icd10cm":
        paths.insert(0, data_root(data_dir) / "icd10cm" / f"icd10cm-{dataset.edition}.sqlite")
    for path in paths:
        _unlink_atomic(path)
    return Removed(kind, dataset.edition, tuple(paths))


def _names(dataset: Dataset, wanted: str) -> bool:
    day = start_from_label(wanted)
    return (
        dataset.edition.casefold() == wanted.casefold()
        or f"{dataset.edition} for {dataset.payer}".casefold() == wanted.casefold()
        or dataset.slug == wanted
        or (day is not None and day == dataset.effective)
    )


def _shown(dataset: Dataset) -> str:
    who = f" for {dataset.payer}" if dataset.payer else ""
    return f"{dataset.edition}{who} from {dataset.effective.isoformat()}"


def _unlink_atomic(path: Path) -> None:
    """Gone in one step: renamed to a hidden name in its folder, then deleted."""
    if not path.exists():
        return
    fd, hidden = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".gone", dir=path.parent)
    os.close(fd)
    os.replace(path, hidden)
    with contextlib.suppress(OSError):
        os.unlink(hidden)
