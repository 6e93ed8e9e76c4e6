"""GE Lunar enCORE reports ("Densitometry: USA ...").

Layout (research/clinical.md section 6): a header block (``Measured:``, ``Analyzed:``),
a section per scan (``AP Spine``, ``DualFemur``, ``Left Femur``, ``Left Forearm``) with
``Region  BMD (g/cm²)  YA (%)  YA T-score  AM (%)  AM Z-score`` (older versions:
``Young-Adult (%)  T-Score  Age-Matched (%)  Z-Score``), rows like ``L1-L4``, ``Neck Left``,
``Total Mean``, ``Total Diff.``; "ANCILLARY RESULTS" tables add BMC, Area, Width and
Height and every contiguous vertebral combination; a footer names the scanner
(``Lunar Prodigy DF+500475``) and the page.
"""

from __future__ import annotations

import re

_MARKERS = (
    re.compile(r"^\s*Densitometry\s*:", re.I | re.M),
    re.compile(r"\bYA\s+T-?\s?score", re.I),
    re.compile(r"\bAM\s+Z-?\s?score", re.I),
    re.compile(r"\benCORE\b", re.I),
    re.compile(r"\bLunar\b", re.I),
)
_MODEL = re.compile(r"\b(Lunar\s+(?:Prodigy|iDXA|DPX)[\w+-]*(?:\s+(?:Advance|Pro|Primo))?)", re.I)


def score(text: str) -> int:
    """How many GE Lunar markers the text carries."""
    return sum(1 for m in _MARKERS if m.search(text))


def scanner(text: str) -> str | None:
    match = _MODEL.search(text)
    if match:
        return f"GE {match.group(1).strip()}"
    return "GE Lunar" if re.search(r"\bLunar\b", text, re.I) else None
