"""The store's plain values: a study row, a refused row, an import report, the error type."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

__all__ = ["HistoryFileError", "ImportReport", "RowProblem", "StoreError", "StudyRow"]


class StoreError(Exception):
    """The history store cannot do what was asked; the message is one sentence for a person."""


class HistoryFileError(StoreError):
    """A history file could not be opened at all (missing, a folder, unreadable, unknown kind)."""


@dataclass(frozen=True)
class StudyRow:
    """One prior DXA study billed for a patient: the unit of the claim-history store.

    ``provider`` is the billing or rendering provider's id when known; two rows that differ
    only by provider are two claims. ``covered`` is False when the payer denied the study.
    ``payer_family`` is the family of the payer it was billed to ("medicare" for every
    Medicare-family payer, else the payer's name: "commercial", "medicaid", ...), or None
    when unknown (imported claims files, rows stored before schema version 2): a study one
    family paid is not covered for a claim to another (``as_seen_by``).
    ``claim_id`` is the claim the study was billed on, when known (``scrub --record`` always
    knows it; an imported file may give it). The store keeps one version of a claim: adding
    rows of a claim id already stored for the patient replaces its earlier rows, and a
    claim is never checked against its own earlier version.
    ``billed`` is what the claim billed of the study (schema version 4): ``global``,
    ``professional`` (26), ``technical`` (TC) or ``institutional`` (a facility's claim),
    known for studies ``scrub --record`` adds. A later claim of the same date and payer
    family that bills an overlapping part is a duplicate (``claims_of_date``).
    ``covered_stated`` is False when the row's source did not say whether the study was
    covered (a history file without a ``covered`` column, a JSON line without the field):
    the row is stored as covered, but never changes the coverage of a study already stored.
    It is not part of a row's value (rows that differ only by it compare equal).
    """

    patient_id: str
    date_of_service: datetime.date
    cpt: str
    provider: str | None = None
    covered: bool = True
    payer_family: str | None = None
    claim_id: str | None = None
    billed: str | None = None
    covered_stated: bool = field(default=True, compare=False)


@dataclass(frozen=True)
class RowProblem:
    """A row that was refused, or (``row == 0``) a problem with the file as a whole.

    ``row`` counts data rows from 1: in a CSV file the header is not counted, so row 1 is the
    line after the header; in a JSON Lines file row N is line N. ``reason`` never repeats a
    value from the row (patient ids and dates identify people); it names the field instead.
    """

    row: int
    reason: str

    @property
    def whole_file(self) -> bool:
        return self.row == 0


@dataclass(frozen=True)
class ImportReport:
    """What ``HistoryStore.add`` did. ``read`` counts every row offered (valid or refused):
    ``read == added + updated + duplicates + (refused rows)``, so no row goes unaccounted
    for. ``updated``: rows already stored whose ``covered`` (or, for the same claim, payer
    family) changed. ``replaced``: stored rows of the same claims (patient and claim id)
    that the new version no longer has, removed."""

    read: int
    added: int
    duplicates: int
    problems: list[RowProblem] = field(default_factory=list)
    updated: int = 0
    replaced: int = 0

    @property
    def refused(self) -> int:
        return sum(1 for p in self.problems if p.row > 0)

    @property
    def unreadable(self) -> bool:
        """True when the file as a whole could not be read (empty, no header, ...)."""
        return any(p.row == 0 for p in self.problems)
