"""What reading a scanner report gives: rows as printed, the contract's results, and gaps."""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dexacode.contract import Result

Vendor = Literal["hologic", "lunar"]


class ReportError(ValueError):
    """The text is not a scanner report dexacode can read (one sentence says why)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportRow(_Model):
    """One results row as the scanner printed it, with its place in the contract's vocabulary.

    ``bilateral`` rows (a hip Mean or Diff row) carry ``site`` ``left_hip`` because the
    contract needs a real site; their region ends in ``_mean`` or ``_diff`` and never decides.
    Values are kept as printed (a Diff BMD may be 0.000 here, while ``Result.bmd`` is null).
    ``ancillary`` rows (GE Lunar's T12 beside L1-L4, printed with no score) are part of
    the scan but never a result of their own.
    """

    line: int
    label: str
    site: str
    region: str
    bilateral: Literal["mean", "diff"] | None = None
    area: float | None = None
    bmc: float | None = None
    bmd: float | None = None
    t_score: float | None = None
    z_score: float | None = None
    young_adult_pct: float | None = None
    age_matched_pct: float | None = None
    ancillary: bool = False


class Unread(_Model):
    """Something on the report that was not read, and why (never silently guessed)."""

    line: int | None
    text: str
    reason: str
    # Another study's values (a trend or comparison table): said, but not this exam's
    # result, so never one the coder is asked to enter.
    other_study: bool = False


class ParsedReport(_Model):
    vendor: Vendor | None = None
    scanner: str | None = None
    scan_date: dt.date | None = None
    results: list[Result]
    rows: list[ReportRow]
    reference: list[str] = []
    unread: list[Unread] = []

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False)
