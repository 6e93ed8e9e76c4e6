"""Section headings: which scan, which side, and which tables are not this exam's.

A heading decides the scan and side of the rows under it, so only real headings count:
the scanner's own section lines (Hologic ``Scan Type: f Left Hip``, GE Lunar ``Left Femur
Bone Density``) and short lines made only of heading words (``LEFT HIP``, ``Lumbar
spine:``, ``BILATERAL HIPS``, ``Left hip results``). Prose (``Note: right hip
prosthesis``, ``Right hip not scanned``) never is one.

A heading naming another study (``Prior study results (04/02/2024):``, ``COMPARISON WITH
PRIOR STUDY``) starts a block whose rows are not this exam's; a heading naming a scan
dexacode does not read (``Total Body Bone Density``) starts one whose rows are not read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from dexacode.reports.dates import OTHER_STUDY, other_dates, without_dates
from dexacode.reports.regions import SIDE_WORDS, Kind, canonical_spine

# Heading words -> (scan, side); a scan or a side may be None.
_SCAN_WORDS: dict[str, tuple[Kind | None, str | None]] = {
    "hip": ("hip", None),
    "hips": ("hip", None),
    "femur": ("hip", None),
    "femurs": ("hip", None),
    "femoral": ("hip", None),
    "dualfemur": ("hip", "dual"),
    "dualhip": ("hip", "dual"),
    "spine": ("spine", None),
    "lumbar": ("spine", None),
    "forearm": ("forearm", None),
    "forearms": ("forearm", None),
    "radius": ("forearm", None),
    "arm": ("forearm", None),
    **{word: (None, side) for word, side in SIDE_WORDS.items()},
    "dual": (None, "dual"),
    "bilateral": (None, "dual"),
    "both": (None, "dual"),
}
# Words a heading may carry besides those; anything else makes the line prose.
_FILLER = frozenset(
    [
        "ap",
        "pa",
        "bone",
        "density",
        "densitometry",
        "bmd",
        "dxa",
        "results",
        "result",
        "scan",
        "exam",
        "study",
        "of",
        "the",
        "and",
        "region",
        "regions",
        "measurement",
        "measurements",
    ]
)
# Scans whose tables dexacode does not read: their rows must not fall under the scan above.
OTHER_SCANS = (
    "total body",
    "whole body",
    "body composition",
    "lateral",
    "vfa",
    "vertebral fracture",
    "trabecular",
    "tbs",
    "hand",
    "heel",
    "calcaneus",
)
# Words of a heading over another study's results (or a comparison with one).
PRIOR_WORDS = frozenset(OTHER_STUDY) | {"compared", "comparing", "change", "changes", "trend"}
# Words a prior heading may carry besides those and the heading words
# ('COMPARISON WITH PRIOR STUDY'); any other word makes the line a sentence ('No prior
# studies are available for comparison.', 'This is the baseline study.').
_PRIOR_FILLER = frozenset(["with", "to", "vs", "versus", "from", "studies", "scans", "exams"])
_PRIOR_MAX_WORDS = 6
# Words of a heading that brings the reader back to this exam after a prior block.
CURRENT_WORDS = frozenset(["current", "findings", "today", "todays"])
# A report's own sections ('RESULTS:', 'IMPRESSION'): they end a prior block too.
SECTION_WORDS = frozenset(
    ["results", "result", "impression", "conclusion", "conclusions", "summary", "assessment"]
)

_LUNAR_SECTION = re.compile(r"^\s*(?P<name>\S.*?)\s+Bone\s+Density\s*(?:$|\s{2,})", re.I)
_SCAN_TYPE = re.compile(r"^\s*Scan Type\s*:\s*(?:[a-z]\s+)?(?P<name>.+)$", re.I)
_PARENTHESIS = re.compile(r"\([^)]*\)")
_SIDE = re.compile(r"\b(left|right)\s+(hip|femur|forearm|radius|arm)\b", re.I)
_SCAN_TYPE_WORDS: tuple[tuple[re.Pattern[str], tuple[Kind, str | None]], ...] = (
    (re.compile(r"\bdual\s*(?:hip|femur)\b", re.I), ("hip", "dual")),
    (re.compile(r"\b(?:forearm|radius)\b", re.I), ("forearm", None)),
    (re.compile(r"\b(?:hip|femur)\b", re.I), ("hip", None)),
    (re.compile(r"\bspine\b", re.I), ("spine", None)),
)


@dataclass(frozen=True)
class Heading:
    """``scan``: this exam's spine, hip or forearm table (``kind``, ``side``); ``other``:
    a scan dexacode does not read (``name`` from OTHER_SCANS, never the line's words, or
    '' when the scan is not known);
    ``prior``: another study's table; ``current``: back to this exam's; ``section``: a
    section of the report ('RESULTS:'), which ends a prior block."""

    role: Literal["scan", "other", "prior", "current", "section"]
    kind: Kind | None = None
    side: str | None = None
    name: str = ""
    scanner: bool = False  # the scanner's own section line (Scan Type, Lunar section)


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9%/\-]+", " ", text.lower()).split()


def _other(text: str) -> str | None:
    low = " ".join(_words(text))
    return next((name for name in OTHER_SCANS if re.search(rf"\b{name}\b", low)), None)


def _scan(text: str) -> tuple[Kind, str | None] | None:
    """A line made only of heading words -> (scan, side); None for anything else."""
    kind: Kind | None = None
    sides: set[str] = set()
    for word in _words(_PARENTHESIS.sub(" ", text)):
        if word in _SCAN_WORDS:
            scan, side = _SCAN_WORDS[word]
            kind = scan or kind
            if side:
                sides.add(side)
        elif word not in _FILLER and canonical_spine(word) is None:
            return None
    if kind is None:
        return None
    if "dual" in sides or {"left", "right"} <= sides:
        return kind, "dual"
    return kind, next(iter(sides), None)


def _prior(words: list[str]) -> bool:
    """A short line made only of heading words, one of them naming another study."""
    allowed = PRIOR_WORDS | _PRIOR_FILLER | _FILLER | _SCAN_WORDS.keys()
    return (
        bool(set(words) & PRIOR_WORDS)
        and len(words) <= _PRIOR_MAX_WORDS
        and all(w in allowed or canonical_spine(w) is not None for w in words)
    )


def _classify(text: str, *, scanner: bool) -> Heading | None:
    listed = _words(text)
    words = set(listed)
    if _prior(listed) and not text.rstrip().endswith("."):
        return Heading("prior", scanner=scanner)
    other = _other(text)
    if other is not None:
        return Heading("other", name=other, scanner=scanner)
    scan = _scan(text)
    if scan is not None:
        return Heading("scan", scan[0], scan[1], scanner=scanner)
    if words & CURRENT_WORDS:
        return Heading("current", scanner=scanner)
    if words and words <= SECTION_WORDS | _FILLER:
        return Heading("section", scanner=scanner)
    return None


def scanner_section(line: str, vendor: str | None) -> Heading | None:
    """The scanner's own section line: ``Scan Type: f Left Hip`` (Hologic) or ``Left
    Femur Bone Density`` (GE Lunar, footer words may follow after a wide gap)."""
    match = _SCAN_TYPE.match(line)
    if match:
        name = match.group("name")
        other = _other(name)
        if other is not None:
            return Heading("other", name=other, scanner=True)
        side = _SIDE.search(name)
        if side:
            part = side.group(2).lower()
            kind: Kind = "hip" if part in ("hip", "femur") else "forearm"
            return Heading("scan", kind, side.group(1).lower(), scanner=True)
        for pattern, (scan, dual) in _SCAN_TYPE_WORDS:
            if pattern.search(name):
                return Heading("scan", scan, dual, scanner=True)
        return Heading("other", scanner=True)
    match = _LUNAR_SECTION.match(line)
    if match:
        heading = _classify(match.group("name"), scanner=True)
        if heading is not None:
            return heading
        if vendor != "lunar" or set(_words(match.group("name"))) <= _FILLER:
            return None  # 'DXA Bone Density', 'Riverside Bone Density': a title
        return Heading("other", scanner=True)
    return None


def heading_of(text: str, scan_date: dt.date | None) -> Heading | None:
    """A label-only line as a heading, or None for a title, a field or prose.

    A colon inside the line makes it a field ('Note: right hip prosthesis',
    'COMPARISON: none'); a colon at its end is a heading's ('LUMBAR SPINE:'). A heading
    dated otherwise than the scan ('RESULTS 04/02/2024') is another study's.
    """
    text = text.strip()
    if re.match(r"trends?\b", text, re.I):
        return Heading("prior", name="trend")  # 'Trend: Total': the earlier scans' table
    if ":" in text.rstrip(":"):
        return None
    if other_dates(text, scan_date):
        return Heading("prior")
    return _classify(without_dates(text).rstrip(": "), scanner=False)
