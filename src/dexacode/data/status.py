"""``status``: what is loaded, the stretch of dates each edition governs, and what is stale."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from dexacode.data import ptp_editions
from dexacode.data._catalog import (
    KINDS,
    Dataset,
    Unreadable,
    catalog_dir,
    data_root,
    scan_datasets,
)
from dexacode.data.overlay import governing

# CMS replaces these tables every quarter: an edition is meant for three months.
_QUARTERLY = ("ncci-ptp", "mue")


@dataclass(frozen=True)
class EditionStatus:
    kind: str
    edition: str
    governs_from: dt.date
    governs_to: dt.date | None  # None: until a newer edition is loaded
    meant_until: dt.date | None  # the last day the edition was published for
    rows_kept: int
    rows_read: int
    files: tuple[str, ...]
    payer: str | None = None
    article: str | None = None
    notes: tuple[str, ...] = ()
    # PTP: an edition speaking for a part answers for every date, by its rows' own dates.
    dates_before: bool = False
    ends: dt.date | None = None  # its own last day (an article version's end date)
    parts: tuple[str, ...] = ()  # PTP: the parts of the table it holds (f1 ...)
    speaks_for: tuple[str, ...] = ()  # PTP: the parts whose rows are used from it
    lacks: tuple[str, ...] = ()  # PTP: parts an older edition has and it lacks
    superseded_by: str | None = None  # PTP: the newer edition used instead of it


@dataclass(frozen=True)
class DataStatus:
    day: dt.date
    catalog: Path
    editions: tuple[EditionStatus, ...]
    icd10cm_years: tuple[int, ...]  # the releases indexed in the data folder
    warnings: tuple[str, ...]
    icd10cm_shipped: int | None = None  # the release shipped with dexacode
    icd10cm_loaded: tuple[int, ...] = ()  # the releases loaded with `data import icd10cm`
    unreadable: tuple[Unreadable, ...] = ()

    def of(self, kind: str) -> list[EditionStatus]:
        return [e for e in self.editions if e.kind == kind]


def status(day: dt.date | None = None, data_dir: Path | None = None) -> DataStatus:
    """The loaded editions and a warning for each kind whose newest edition ends before
    ``day`` (default: today), the date of service you are about to check."""
    day = day or dt.date.today()
    datasets, unreadable = scan_datasets(data_dir)
    groups: dict[tuple[str, str | None], list[Dataset]] = defaultdict(list)
    for d in datasets:
        if d.kind != "icd10cm":
            groups[(d.kind, d.payer)].append(d)
    rows: list[EditionStatus] = []
    warnings: list[str] = []
    for (kind, payer), group in sorted(
        groups.items(), key=lambda g: (KINDS.index(g[0][0]), g[0][1] or "")
    ):
        if kind == "ncci-ptp":
            found, said = _ptp(group, day)
            rows += found
            warnings += said
            continue
        windows = governing(group)
        rows += [_row(dataset, start, end, payer=payer) for dataset, (start, end) in windows]
        newest = windows[-1][0]
        warnings += _stale(newest, day)
        if kind == "mue" and day < windows[0][1][0]:
            warnings.append(
                f"mue: {day.isoformat()} falls before the oldest edition loaded "
                f"({windows[0][0].edition}); the shipped values are used for it"
            )
    years = _icd_years(data_dir)
    shipped = _shipped_icd_year()
    known = sorted({*years, *([shipped] if shipped else [])})
    fiscal = day.year + 1 if day.month >= 10 else day.year
    if known and fiscal > max(known):
        warnings.append(
            f"icd10cm: {day.isoformat()} is in FY{fiscal}, after the newest release dexacode "
            f"has (FY{max(known)}); claims of that date are checked against FY{max(known)} "
            f"with ICD10-VINTAGE: load the FY{fiscal} release"
        )
    warnings += [f"{u.kind}: {u.reason}" for u in unreadable]
    return DataStatus(
        day=day,
        catalog=catalog_dir(data_dir),
        editions=tuple(rows),
        icd10cm_years=tuple(years),
        warnings=tuple(warnings),
        icd10cm_shipped=shipped,
        icd10cm_loaded=tuple(sorted(int(d.edition[2:]) for d in datasets if d.kind == "icd10cm")),
        unreadable=tuple(unreadable),
    )


def _row(
    dataset: Dataset,
    start: dt.date,
    end: dt.date | None,
    *,
    payer: str | None = None,
) -> EditionStatus:
    quarterly = dataset.kind in _QUARTERLY
    return EditionStatus(
        kind=dataset.kind,
        edition=dataset.edition,
        governs_from=start,
        governs_to=end,
        meant_until=_quarter_end(dataset.effective) if quarterly else None,
        rows_kept=dataset.rows_kept,
        rows_read=dataset.rows_read,
        files=tuple(dataset.files),
        payer=payer,
        article=dataset.article,
        notes=dataset.notes,
        ends=dataset.ends,
    )


def _ptp(group: list[Dataset], day: dt.date) -> tuple[list[EditionStatus], list[str]]:
    """PTP editions by the part each speaks for (see ``ptp_editions``), and warnings for
    an edition that lacks parts an older one has."""
    chosen = ptp_editions.plan(group)
    rows: list[EditionStatus] = []
    warnings = _stale(chosen.newest, day)
    for dataset in sorted(group, key=lambda d: d.effective):
        speaks = chosen.speaks_for(dataset)
        lacks = chosen.lacks(dataset) if speaks else {}
        superseded = chosen.superseded_by(dataset)
        rows.append(
            replace(
                _row(dataset, dataset.effective, None),
                dates_before=bool(speaks),
                parts=chosen.parts_of(dataset),
                speaks_for=speaks,
                lacks=tuple(lacks),
                superseded_by=superseded.edition if superseded else None,
            )
        )
        for part, stand_in in lacks.items():
            warnings.append(
                f"ncci-ptp: edition {dataset.edition} is INCOMPLETE: it lacks part {part}, "
                f"which {stand_in.edition} has; the pairs of that part are checked against "
                f"{stand_in.edition}'s rows, which miss any change since, and every result "
                f"says so; load {ptp_editions.missing_file(dataset, part)}"
            )
    return rows, warnings


def _stale(newest: Dataset, day: dt.date) -> list[str]:
    if newest.kind not in _QUARTERLY or day <= _quarter_end(newest.effective):
        return []
    return [
        f"{newest.kind}: {day.isoformat()} falls after the newest edition loaded "
        f"({newest.edition}, published for {newest.effective.isoformat()} to "
        f"{_quarter_end(newest.effective).isoformat()}); claims of that date are "
        "checked against it: load the current quarter's files"
    ]


def _quarter_end(start: dt.date) -> dt.date:
    month = start.month + 3
    year = start.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, 1) - dt.timedelta(days=1)


def _icd_years(data_dir: Path | None) -> list[int]:
    from dexacode.icd10 import Icd10Library

    return Icd10Library([data_root(data_dir) / "icd10cm"]).years()


def _shipped_icd_year() -> int | None:
    """The fiscal year of the release shipped with dexacode (read from its tabular XML's
    first bytes: nothing is indexed for it)."""
    from dexacode.icd10 import _shipped_tabular, _xml_version

    try:
        return _xml_version(_shipped_tabular())
    except (OSError, RuntimeError, AttributeError):
        return None
