"""Hologic APEX reports ("DXA Results Summary").

Layout (research/clinical.md section 6): a "Scan Information" block with ``Scan Date:``,
``Scan Type:`` (``a Lumbar Spine``, ``f Left Hip``, ``x Dual Hip``...) and ``Model:``;
then ``DXA Results Summary:`` with ``Region  Area(cm²)  BMC(g)  BMD(g/cm²)  T-score
Z-score``, optionally ``PR (%)`` and ``AM (%)`` columns. Spine rows list every vertebral
combination; a dual hip prints ``Neck`` and ``Total`` on lines of their own with ``Left``,
``Right``, ``Mean`` and ``|Diff.|`` rows under each. The ``Scan Type:`` line is read as a
section heading in headings.py.
"""

from __future__ import annotations

import re

_MARKERS = (
    re.compile(r"DXA Results Summary", re.I),
    re.compile(r"\bHologic\b", re.I),
    re.compile(r"\bAPEX\b"),
    re.compile(r"^\s*Scan Type\s*:", re.I | re.M),
    re.compile(r"\bPR\s*\(%\)"),
)
_MODEL = re.compile(r"^\s*Model\s*:\s*(.+?)\s*(?:\(S/N.*)?$", re.I | re.M)


def score(text: str) -> int:
    """How many Hologic markers the text carries."""
    return sum(1 for m in _MARKERS if m.search(text))


def scanner(text: str) -> str | None:
    match = _MODEL.search(text)
    if match:
        model = match.group(1).strip()
        return model if model.lower().startswith("hologic") else f"Hologic {model}"
    return "Hologic" if re.search(r"\bHologic\b", text, re.I) else None
