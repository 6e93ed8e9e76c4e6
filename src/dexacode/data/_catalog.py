"""The dataset catalog: one JSON file per dataset edition under ``<data dir>/cms/<kind>/``.

Each file holds the edition's label, the first day it governs, where it came from (file
names and SHA-256 of their bytes) and the rows dexacode keeps. Files are written whole to a
temporary name and moved into place, so a reader sees the old edition or the new one,
never half of either; writing bytes equal to what is there is skipped, so importing the
same files twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexacode.rulebook import RuleBookError

FORMAT = 1
KINDS = ("ncci-ptp", "mue", "mcd-article", "icd10cm")
# The kinds that become rule book rows (ICD-10-CM releases are indexes of their own).
OVERLAID = ("ncci-ptp", "mue", "mcd-article")


class CatalogError(RuleBookError):
    """A stored dataset cannot be read: dexacode's own data is broken (exit status 3)."""


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    rows_read: int
    rows_kept: int


@dataclass(frozen=True)
class Dataset:
    """One edition of one kind of CMS data, as stored."""

    kind: str
    edition: str
    effective: dt.date  # the first day this edition governs
    files: Mapping[str, FileInfo]
    tables: Mapping[str, list[list[Any]]]
    payer: str | None = None
    article: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        if self.kind == "mcd-article":
            return f"{self.article}-{self.payer}-{self.effective.isoformat()}"
        return self.effective.isoformat()

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files.values())

    @property
    def rows_kept(self) -> int:
        return sum(f.rows_kept for f in self.files.values())

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "kind": self.kind,
            "edition": self.edition,
            "effective": self.effective.isoformat(),
            "payer": self.payer,
            "article": self.article,
            "meta": dict(self.meta),
            "notes": list(self.notes),
            "files": {
                name: {"sha256": f.sha256, "rows_read": f.rows_read, "rows_kept": f.rows_kept}
                for name, f in self.files.items()
            },
            "tables": dict(self.tables),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Dataset:
        try:
            body = json.loads(text)
            if body.get("format") != FORMAT:
                raise CatalogError(
                    f"{where}: dataset format {body.get('format')!r}, this dexacode reads "
                    f"{FORMAT}; import the files again"
                )
            return cls(
                kind=str(body["kind"]),
                edition=str(body["edition"]),
                effective=dt.date.fromisoformat(body["effective"]),
                payer=body.get("payer"),
                article=body.get("article"),
                meta={str(k): str(v) for k, v in body.get("meta", {}).items()},
                notes=tuple(str(n) for n in body.get("notes", [])),
                files={
                    str(name): FileInfo(str(f["sha256"]), int(f["rows_read"]), int(f["rows_kept"]))
                    for name, f in body["files"].items()
                },
                tables={str(k): list(v) for k, v in body["tables"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CatalogError(f"{where}: not a readable dexacode dataset ({exc})") from exc


def data_root(data_dir: Path | None = None) -> Path:
    """``data_dir``, else $DEXACODE_DATA_DIR, else the per-user data folder."""
    if data_dir is not None:
        return Path(data_dir)
    from dexacode.paths import data_dir as default_data_dir

    return default_data_dir()


def catalog_dir(data_dir: Path | None = None) -> Path:
    return data_root(data_dir) / "cms"


def path_of(dataset: Dataset, data_dir: Path | None = None) -> Path:
    return catalog_dir(data_dir) / dataset.kind / f"{dataset.slug}.json"


def read_dataset(path: Path) -> Dataset:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot be read ({exc.strerror})") from exc
    return Dataset.from_json(text, str(path))


def list_datasets(data_dir: Path | None = None) -> list[Dataset]:
    """Every stored edition, by kind then first day."""
    root = catalog_dir(data_dir)
    found: list[Dataset] = []
    for kind in KINDS:
        folder = root / kind
        if folder.is_dir():
            found += [read_dataset(p) for p in sorted(folder.glob("*.json"))]
    return sorted(found, key=lambda d: (KINDS.index(d.kind), d.effective, d.slug))


def fingerprint(data_dir: Path | None = None) -> tuple[tuple[str, int], ...]:
    """Changes whenever an edition is added or replaced (a rename touches its folder).

    Called before every encounter coded through ``dexacode.code``: plain string paths and
    ``os.stat`` keep it to a few microseconds.
    """
    root = str(catalog_dir(data_dir))
    marks: list[tuple[str, int]] = []
    for kind in OVERLAID:
        try:
            marks.append((kind, os.stat(f"{root}/{kind}").st_mtime_ns))
        except OSError:
            continue
    return tuple(marks)


def write_dataset(dataset: Dataset, data_dir: Path | None = None) -> tuple[Path, bool]:
    """Store the edition atomically; returns its path and whether anything changed."""
    path = path_of(dataset, data_dir)
    text = dataset.to_json()
    try:
        if path.read_text(encoding="utf-8") == text:
            return path, False
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text)
    return path, True


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared data folder from others
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
