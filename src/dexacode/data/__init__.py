"""CMS's own files as dexacode data: NCCI PTP and MUE tables, MCD coverage articles, and
ICD-10-CM releases, imported into the user's data folder and used by date of service.

>>> from dexacode.data import import_files, status, with_loaded_data   # doctest: +SKIP
>>> import_files("ncci-ptp", [Path("ccipra-v321r0-f1.txt")])
>>> book = with_loaded_data(load_rulebook())   # the rule book with what is loaded
>>> remove("ncci-ptp", "v32.1r0")               # undo an import

The importers only read and check files; ``overlay`` turns stored editions into rule book
rows, so the engine sees loaded edits exactly as it sees shipped ones.
"""

from __future__ import annotations

import threading
from pathlib import Path

from dexacode.data._catalog import (
    KINDS,
    CatalogError,
    Dataset,
    catalog_dir,
    fingerprint,
    list_datasets,
)
from dexacode.data._files import DataImportError
from dexacode.data.importing import ImportReport, import_files
from dexacode.data.overlay import overlay
from dexacode.data.removing import Removed, remove
from dexacode.data.status import DataStatus, EditionStatus, status
from dexacode.rulebook import RuleBook

__all__ = [
    "KINDS",
    "CatalogError",
    "DataImportError",
    "DataStatus",
    "Dataset",
    "EditionStatus",
    "ImportReport",
    "Removed",
    "import_files",
    "list_datasets",
    "overlay",
    "remove",
    "status",
    "with_loaded_data",
]

_cache: dict[tuple[int, str, tuple[tuple[str, int], ...]], tuple[RuleBook, RuleBook]] = {}
_lock = threading.Lock()


def with_loaded_data(book: RuleBook, data_dir: Path | None = None) -> RuleBook:
    """``book`` with the datasets stored in the data folder, cached until one is imported
    (the same book object back when nothing is loaded)."""
    key = (id(book), str(catalog_dir(data_dir)), fingerprint(data_dir))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is book:
            return hit[1]
    datasets = [d for d in list_datasets(data_dir) if d.kind != "icd10cm"]
    result = overlay(book, datasets) if datasets else book
    with _lock:
        if len(_cache) >= 16:
            _cache.clear()
        _cache[key] = (book, result)
    return result
