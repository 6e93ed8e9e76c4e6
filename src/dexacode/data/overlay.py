"""Loaded datasets as rule book rows: the engine stays pure and reads them like any rule.

- NCCI PTP: for each part of the table (``-f1`` ... ``-f4``), the newest loaded edition
  that has it speaks on every date: its rows, with their own effective and deletion
  dates, replace the shipped rows of every pair it mentions (modifier indicator 9 = no
  edit); pairs no speaking part mentions keep the shipped rows (CPT conventions and CMS's
  XU placement that NCCI does not hold). Why the newest and not the quarter's own: see
  ``ptp_editions`` (a newer file restates the edits' history, back-dated corrections
  included).
- MUE: each edition governs from its first day until the next edition; its value replaces
  each known code's shipped one. MUE rows carry no dates, so before the oldest edition the
  shipped values stand.
- MCD article: each governs from its first day until the next one loaded for the same
  payer; its covered list replaces the payer profile's list for the payer it was loaded
  for; "must be billed with" rules come with it. An article version with an end date
  (``article_end_date``: retired or superseded) governs nothing after it: the profile's own
  list applies again, and with none, COVERED-DX-UNKNOWN.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from dexacode.data import ptp_editions
from dexacode.data._catalog import Dataset
from dexacode.rulebook import (
    CoveredAttachment,
    CoveredCode,
    CoveredListInfo,
    Edition,
    PairingRule,
    Procedure,
    PtpPair,
    RuleBook,
)

Span = tuple[dt.date, dt.date | None]  # first and last day (None: open-ended)
_DAY = dt.timedelta(days=1)


def overlay(book: RuleBook, datasets: Sequence[Dataset]) -> RuleBook:
    """``book`` with the datasets' rows in force on the dates each edition governs."""
    by_kind: dict[str, list[Dataset]] = defaultdict(list)
    for dataset in datasets:
        by_kind[dataset.kind].append(dataset)
    if not any(by_kind.get(k) for k in ("ncci-ptp", "mue", "mcd-article")):
        return book
    editions: list[Edition] = []
    changes: dict[str, Any] = {}
    ptp = by_kind.get("ncci-ptp", [])
    if ptp:
        changes["ptp"], used = _ptp(book, ptp)
        editions += used
    mue = by_kind.get("mue", [])
    if mue:
        windows = governing(mue)
        changes["procedures"] = _mue(book, windows)
        editions += _editions(windows, "MUE")
    articles = by_kind.get("mcd-article", [])
    if articles:
        lists: list[CoveredListInfo] = []
        codes: list[CoveredCode] = []
        pairings: list[PairingRule] = []
        attachments: list[CoveredAttachment] = []
        by_payer: dict[str, list[Dataset]] = defaultdict(list)
        for article in articles:
            if article.payer in book.payers:
                by_payer[str(article.payer)].append(article)
        for payer, loaded in sorted(by_payer.items()):
            windows = governing(loaded)
            editions += _editions(windows, "MCD article", for_payer=payer)
            for dataset, span in windows:
                _article_rows(dataset, span, lists, codes, pairings, attachments)
        changes["covered_lists"] = (*book.covered_lists, *lists)
        changes["covered_codes"] = (*book.covered_codes, *codes)
        changes["pairings"] = (*book.pairings, *pairings)
        changes["covered_attachments"] = (*book.covered_attachments, *attachments)
    changes["editions"] = (*book.editions, *editions)
    return dataclasses.replace(book, **changes)


def governing(
    editions: Sequence[Dataset], first_from: dt.date | None = None
) -> list[tuple[Dataset, Span]]:
    """Each edition with the stretch it governs: from its first day to the day before the
    next one's (the newest: open-ended), or to its own last day when it has one (an MCD
    article version's end date); ``first_from`` extends the oldest backwards."""
    ordered = sorted(editions, key=lambda d: d.effective)
    out: list[tuple[Dataset, Span]] = []
    for i, dataset in enumerate(ordered):
        start = dataset.effective
        if i == 0 and first_from is not None:
            start = min(start, first_from)
        end = ordered[i + 1].effective - _DAY if i + 1 < len(ordered) else None
        if dataset.ends is not None and (end is None or dataset.ends < end):
            end = dataset.ends  # an article version that ended governs nothing after
        if end is None or end >= start:
            out.append((dataset, (start, end)))
    return out


def clip(a: Span, b: Span) -> Span | None:
    start = max(a[0], b[0])
    ends = [e for e in (a[1], b[1]) if e is not None]
    end = min(ends) if ends else None
    return None if end is not None and end < start else (start, end)


def subtract(span: Span, holes: Iterable[Span]) -> list[Span]:
    """``span`` minus every hole: what is left, in order."""
    pieces = [span]
    for hole in holes:
        nxt: list[Span] = []
        for start, end in pieces:
            if clip((start, end), hole) is None:
                nxt.append((start, end))
                continue
            if start < hole[0]:
                nxt.append((start, hole[0] - _DAY))
            if hole[1] is not None and (end is None or end > hole[1]):
                nxt.append((hole[1] + _DAY, end))
        pieces = nxt
    return pieces


def _dated(row: Any, span: Span) -> Any:
    if (row.effective, row.ends) == span:
        return row
    return row.model_copy(update={"effective": span[0], "ends": span[1]})


def _editions(
    windows: list[tuple[Dataset, Span]], what: str, for_payer: str | None = None
) -> list[Edition]:
    suffix = f" for {for_payer}" if for_payer else ""
    return [
        Edition(
            kind=dataset.kind,
            label=f"{what} {dataset.edition}{suffix}",
            effective=span[0],
            ends=span[1],
            source=_SOURCE[dataset.kind],
            payer=for_payer,
        )
        for dataset, span in windows
    ]


_SOURCE = {"ncci-ptp": ("ncci-ptp",), "mue": ("ncci-mue",), "mcd-article": ("mcd-article",)}


def _ptp(book: RuleBook, editions: Sequence[Dataset]) -> tuple[tuple[PtpPair, ...], list[Edition]]:
    """The loaded PTP rows and the editions they come from (see ``ptp_editions``: for
    each part of the table, the newest edition that has it, on every date)."""
    # A shipped row's finding and replacement say what a pair means (e.g. "report 77085");
    # they carry over when NCCI lists the pair in the same column order with indicator 0.
    meaning = {
        (p.column1, p.column2): (p.finding, p.replace_with)
        for p in sorted(book.ptp, key=lambda p: p.effective)
        if p.finding is not None
    }
    chosen = ptp_editions.plan(editions)
    everything: Span = (book.covers_from, None)
    speaking = [
        (dataset, rows)
        for dataset in chosen.editions  # newest first
        for name, rows in sorted(dataset.tables.items())
        if chosen.speaker.get(dataset.files[name].part) is dataset
    ]
    owner: dict[frozenset[str], Dataset] = {}  # per pair: the newest edition naming it
    for dataset, rows in speaking:
        for row in rows:
            owner.setdefault(frozenset(row[:2]), dataset)
    loaded: list[PtpPair] = []
    for dataset, rows in speaking:
        for column1, column2, _prior, effective, deletion, modifier, _why in rows:
            if owner[frozenset((column1, column2))] is not dataset or modifier == 9:
                continue  # a newer edition names the pair too; 9: never in force
            end = dt.date.fromisoformat(deletion) if deletion else None
            span = clip((dt.date.fromisoformat(effective), end), everything)
            if span is None:
                continue
            finding, replace_with = (None, None)
            if modifier == 0:
                finding, replace_with = meaning.get((column1, column2), ("PTP-NCCI", None))
            loaded.append(
                PtpPair(
                    column1=column1,
                    column2=column2,
                    modifier_indicator=modifier,
                    finding=finding,
                    replace_with=replace_with,
                    effective=span[0],
                    ends=span[1],
                    source=("ncci-ptp",),
                )
            )
    shipped = [row for row in book.ptp if frozenset((row.column1, row.column2)) not in owner]
    used = [d for d in chosen.editions if chosen.speaks_for(d)]
    return (*shipped, *loaded), [_ptp_edition(chosen, d, everything) for d in used]


def _ptp_edition(chosen: ptp_editions.PtpPlan, dataset: Dataset, span: Span) -> Edition:
    label = f"NCCI PTP {dataset.edition}"
    lacks = chosen.lacks(dataset)
    if lacks:
        label += f" (INCOMPLETE: lacks part {', '.join(lacks)})"
    elif chosen.speaks_for(dataset) != chosen.parts_of(dataset) or dataset is not chosen.newest:
        label += f" (part {', '.join(chosen.speaks_for(dataset))})"
    return Edition(
        kind=dataset.kind, label=label, effective=span[0], ends=span[1], source=("ncci-ptp",)
    )


def _mue(book: RuleBook, windows: list[tuple[Dataset, Span]]) -> tuple[Procedure, ...]:
    # A stored row: code, MUE value, adjudication indicator (1-3), its text, rationale.
    values = [
        (
            {str(row[0]): (int(row[1]), int(row[2])) for rows in d.tables.values() for row in rows},
            span,
        )
        for d, span in windows
    ]
    out: list[Procedure] = []
    for row in book.procedures:
        own: Span = (row.effective, row.ends)
        holes: list[Span] = []
        for by_code, window in values:
            value = by_code.get(row.cpt)
            span = clip(own, window) if value is not None else None
            if span is None or value is None:
                continue
            holes.append(window)
            mue, indicator = value
            update = {"mue": mue, "mue_indicator": indicator, "effective": span[0], "ends": span[1]}
            out.append(row.model_copy(update=update))
        out += [_dated(row, span) for span in subtract(own, holes)]
    return tuple(out)


def _article_rows(
    dataset: Dataset,
    span: Span,
    lists: list[CoveredListInfo],
    codes: list[CoveredCode],
    pairings: list[PairingRule],
    attachments: list[CoveredAttachment],
) -> None:
    name = f"mcd-{dataset.slug}"
    dates = {"effective": span[0], "ends": span[1], "source": ("mcd-article",)}
    title = dataset.meta.get("title", "")
    label = f"article {dataset.article} version {dataset.meta.get('version', '?')}"
    lists.append(
        CoveredListInfo(
            name=name,
            label=f"{label} ({title})" if title else label,
            procedures=tuple(row[0] for row in dataset.tables.get("hcpcs", [])),
            **dates,
        )
    )
    for table, noncovered in (("covered", False), ("noncovered", True)):
        for code, group, *_ in dataset.tables.get(table, []):
            codes.append(
                CoveredCode.model_validate(
                    {"list": name, "code": code, "group": group, "noncovered": noncovered, **dates}
                )
            )
    for group, subject, partners, text in dataset.tables.get("pairings", []):
        pairings.append(
            PairingRule.model_validate(
                {
                    "list": name,
                    "group": group,
                    "codes": subject,
                    "with_codes": partners,
                    "text": text,
                    **dates,
                }
            )
        )
    attachments.append(CoveredAttachment(payer=str(dataset.payer), list_name=name, **dates))
