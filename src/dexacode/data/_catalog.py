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
import re
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
    """A stored dataset cannot be read: dexacode's own data is broken (exit status 3).

    It is a ``RuleBookError``, so every command that loads the rule book reports it in one
    sentence; the sentence says how to replace or remove the dataset."""

    detail = ""  # the path and what is wrong, without the advice


_PART_RE = re.compile(r"(?:^|[-_ .])f(\d{1,2})(?=$|[-_ .(])", re.IGNORECASE)
_COPY_RE = re.compile(r"\s*\(\d+\)$|\s+-\s*copy$", re.IGNORECASE)


def part_of(kind: str, name: str) -> str:
    """Which part of an edition's table a file holds: CMS splits the PTP table over files
    ``...-f1.txt`` to ``...-f4.txt``; an MUE edition is one table. A later file for the
    same part of the same edition replaces the earlier one, whatever its name."""
    stem = name.rsplit(".", 1)[0]
    if kind == "mue":
        return "table"
    if kind == "ncci-ptp":
        m = _PART_RE.search(stem)
        if m is not None:
            return f"f{int(m.group(1))}"
    return _COPY_RE.sub("", stem).lower()  # "edits (1).txt" is a copy of "edits.txt"


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    rows_read: int
    rows_kept: int
    part: str = ""  # see part_of


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
    ends: dt.date | None = None  # the last day it may govern (an article's end date)

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
            "files": {name: _file_json(f) for name, f in self.files.items()},
            "tables": dict(self.tables),
        }
        if self.ends is not None:
            body["ends"] = self.ends.isoformat()
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Dataset:
        """Raises CatalogError (``where``, then why) when the text is not a dataset this
        dexacode can read."""
        try:
            body = json.loads(text)
            if body.get("format") != FORMAT:
                newer = isinstance(body.get("format"), int) and body["format"] > FORMAT
                raise CatalogError(
                    f"{where}: written by a {'newer' if newer else 'different'} dexacode "
                    f"(dataset format {body.get('format')!r}; this one reads format {FORMAT})"
                )
            kind = str(body["kind"])
            ends = body.get("ends")
            return cls(
                kind=kind,
                edition=str(body["edition"]),
                effective=dt.date.fromisoformat(body["effective"]),
                payer=body.get("payer"),
                article=body.get("article"),
                meta={str(k): str(v) for k, v in body.get("meta", {}).items()},
                notes=tuple(str(n) for n in body.get("notes", [])),
                files={
                    str(name): FileInfo(
                        str(f["sha256"]),
                        int(f["rows_read"]),
                        int(f["rows_kept"]),
                        str(f.get("part") or part_of(kind, str(name))),
                    )
                    for name, f in body["files"].items()
                },
                tables={str(k): list(v) for k, v in body["tables"].items()},
                ends=dt.date.fromisoformat(ends) if ends else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CatalogError(f"{where}: not a readable dexacode dataset ({exc})") from exc


def _file_json(f: FileInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"sha256": f.sha256, "rows_read": f.rows_read, "rows_kept": f.rows_kept}
    if f.part:
        out["part"] = f.part
    return out


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


@dataclass(frozen=True)
class Unreadable:
    """A stored dataset file that cannot be read, named as ``data remove`` takes it."""

    kind: str
    name: str  # the file's stem: its first day (or article-payer-first day)
    path: Path
    reason: str  # CatalogError's sentence

    @property
    def advice(self) -> str:
        return (
            f"import its files again with `dexacode data import {self.kind} FILE...`, or "
            f"remove it with `dexacode data remove {self.kind} {self.name}`"
        )


def read_dataset(path: Path) -> Dataset:
    """The dataset stored at ``path``; CatalogError (saying how to replace or remove it)
    when it cannot be read."""
    try:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CatalogError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from exc
        except OSError as exc:
            raise CatalogError(f"{path}: cannot be read ({exc.strerror})") from exc
        return Dataset.from_json(text, str(path))
    except CatalogError as exc:
        broken = Unreadable(path.parent.name, path.stem, path, str(exc))
        error = CatalogError(f"stored dataset {exc}; {broken.advice}")
        error.detail = str(exc)
        raise error from exc


def scan_datasets(data_dir: Path | None = None) -> tuple[list[Dataset], list[Unreadable]]:
    """Every stored edition (by kind then first day), and the stored files that cannot be
    read, for the commands that must go on without them (status, import, remove)."""
    root = catalog_dir(data_dir)
    found: list[Dataset] = []
    broken: list[Unreadable] = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            try:
                found.append(read_dataset(path))
            except CatalogError as exc:
                broken.append(Unreadable(kind, path.stem, path, str(exc)))
    found.sort(key=lambda d: (KINDS.index(d.kind), d.effective, d.slug))
    return found, broken


def list_datasets(data_dir: Path | None = None) -> list[Dataset]:
    """Every stored edition, by kind then first day; CatalogError if one cannot be read
    (claims are never checked against part of what the user loaded)."""
    found, broken = scan_datasets(data_dir)
    if broken:
        raise CatalogError(broken[0].reason)
    return found


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
