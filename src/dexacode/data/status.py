"""``status``: what is loaded, the stretch of dates each edition governs, and what is stale."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dexacode.data._catalog import KINDS, Dataset, catalog_dir, data_root, list_datasets
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
    # PTP rows carry their own dates, so the oldest edition also answers for earlier dates.
    dates_before: bool = False


@dataclass(frozen=True)
class DataStatus:
    day: dt.date
    catalog: Path
    editions: tuple[EditionStatus, ...]
    icd10cm_years: tuple[int, ...]
    warnings: tuple[str, ...]

    def of(self, kind: str) -> list[EditionStatus]:
        return [e for e in self.editions if e.kind == kind]


def status(day: dt.date | None = None, data_dir: Path | None = None) -> DataStatus:
    """The loaded editions and a warning for each kind whose newest edition ends before
    ``day`` (default: today), the date of service you are about to check."""
    day = day or dt.date.today()
    datasets = list_datasets(data_dir)
    groups: dict[tuple[str, str | None], list[Dataset]] = defaultdict(list)
    for d in datasets:
        if d.kind != "icd10cm":
            groups[(d.kind, d.payer)].append(d)
    rows: list[EditionStatus] = []
    warnings: list[str] = []
    for (kind, payer), group in sorted(
        groups.items(), key=lambda g: (KINDS.index(g[0][0]), g[0][1] or "")
    ):
        windows = governing(group)
        for dataset, (start, end) in windows:
            rows.append(
                EditionStatus(
                    kind=kind,
                    edition=dataset.edition,
                    governs_from=start,
                    governs_to=end,
                    meant_until=_quarter_end(dataset.effective) if kind in _QUARTERLY else None,
                    rows_kept=dataset.rows_kept,
                    rows_read=dataset.rows_read,
                    files=tuple(dataset.files),
                    payer=payer,
                    article=dataset.article,
                    notes=dataset.notes,
                    dates_before=kind == "ncci-ptp" and dataset is windows[0][0],
                )
            )
        newest = windows[-1][0]
        if kind in _QUARTERLY and day > _quarter_end(newest.effective):
            warnings.append(
                f"{kind}: {day.isoformat()} falls after the newest edition loaded "
                f"({newest.edition}, published for {newest.effective.isoformat()} to "
                f"{_quarter_end(newest.effective).isoformat()}); claims of that date are "
                "checked against it: load the current quarter's files"
            )
        if kind == "mue" and day < windows[0][1][0]:
            warnings.append(
                f"mue: {day.isoformat()} falls before the oldest edition loaded "
                f"({windows[0][0].edition}); the shipped values are used for it"
            )
    years = _icd_years(data_dir)
    fiscal = day.year + 1 if day.month >= 10 else day.year
    if years and fiscal > max(years):
        warnings.append(
            f"icd10cm: {day.isoformat()} is in FY{fiscal}, after the newest release loaded "
            f"(FY{max(years)}); load the FY{fiscal} release"
        )
    return DataStatus(
        day=day,
        catalog=catalog_dir(data_dir),
        editions=tuple(rows),
        icd10cm_years=tuple(years),
        warnings=tuple(warnings),
    )


def _quarter_end(start: dt.date) -> dt.date:
    month = start.month + 3
    year = start.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, 1) - dt.timedelta(days=1)


def _icd_years(data_dir: Path | None) -> list[int]:
    from dexacode.icd10 import Icd10Library

    return Icd10Library([data_root(data_dir) / "icd10cm"]).years()
