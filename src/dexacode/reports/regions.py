"""Row labels as scanners print them -> the contract's site and region names.

Spine rows are vertebrae or vertebral combinations (``L1-L4``, ``L2-L4``, ``L1,L3``,
``L1-L2,L4``), written in that canonical form. Hip rows are named by region (``Neck``,
``Total``, ``Troch``...) and side (``Left``/``Right``, or ``Mean``/``Diff.`` for the two hips
together); Hologic prints the region on a line of its own and the sides under it, GE Lunar
prints both on the row (``Neck Left``, ``Total Diff.``). Forearm rows are ``1/3`` or
``33%`` (one-third radius), ``UD`` (ultradistal), ``MID`` and ``Total``, optionally prefixed
by ``R``/``Radius`` or ``U``/``Ulna``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dexacode.engine.interpret import vertebrae

Kind = Literal["spine", "hip", "forearm"]

_SPINE = re.compile(r"^(?:[LT]\d{1,2}(?:-[LT]\d{1,2})?)(?:,[LT]\d{1,2}(?:-[LT]\d{1,2})?)*$")

HIP_REGIONS = {
    "neck": "femoral_neck",
    "femoral neck": "femoral_neck",
    "fn": "femoral_neck",
    "total": "total_hip",
    "total hip": "total_hip",
    "total femur": "total_hip",
    "troch": "trochanter",
    "trochanter": "trochanter",
    "inter": "intertrochanter",
    "intertrochanter": "intertrochanter",
    "wards": "wards",
    "ward": "wards",
    "upper neck": "upper_neck",
    "lower neck": "lower_neck",
    "shaft": "shaft",
}
_SIDES = {
    "left": "left",
    "right": "right",
    "mean": "mean",
    "diff": "diff",
    "difference": "diff",
}
_FOREARM_PART = {
    "1/3": "33",
    "33%": "33",
    "one-third": "33",
    "33": "33",
    "ud": "ultradistal",
    "ultradistal": "ultradistal",
    "ultra-distal": "ultradistal",
    "mid": "mid",
    "total": "total",
}
_FOREARM_BONE = {
    "r": "radius",
    "radius": "radius",
    "u": "ulna",
    "ulna": "ulna",
    "both": "radius_ulna",
}


@dataclass(frozen=True)
class Label:
    kind: Kind
    region: str
    side: str | None = None  # left | right | mean | diff, when the label says


def canonical_spine(label: str) -> str | None:
    """'l1 - l4' -> 'L1-L4'; 'L1, L3' -> 'L1,L3'; None if the label is not vertebrae."""
    text = re.sub(r"\s*([-,])\s*", r"\1", label.strip().upper())
    if not _SPINE.match(text):
        return None
    levels = vertebrae(text)
    if levels is None:
        return text  # thoracic levels (T12) stay as printed
    runs: list[list[int]] = []
    for level in levels:
        if runs and level == runs[-1][-1] + 1:
            runs[-1].append(level)
        else:
            runs.append([level])
    return ",".join(f"L{r[0]}" if len(r) == 1 else f"L{r[0]}-L{r[-1]}" for r in runs)


def _words(label: str) -> list[str]:
    text = label.lower().replace("|", " ").replace("'", "").replace(".", " ")
    return [w for w in text.split() if w]


def parse_label(label: str, context: Kind | None, group: str | None) -> Label | str:
    """The region a row label names, or a sentence saying why it could not be placed.

    ``context`` is the scan the table belongs to (from the report's headings) and ``group``
    a region printed on a line of its own just above (Hologic: ``Neck`` then ``Left``...).
    """
    spine = canonical_spine(label)
    if spine is not None:
        return Label("spine", spine)
    words = _words(label)
    if not words:
        return "the row has no label"
    if context == "forearm" or _looks_forearm(words):
        return _forearm(words)
    if context == "spine":
        if words == ["total"]:
            return (
                "a spine 'Total' row does not say which vertebrae it includes; the "
                "Lx-Ly rows are read instead"
            )
        return "not a spine region dexacode knows"
    side = None
    rest = []
    for w in words:
        if w in _SIDES and side is None:
            side = _SIDES[w]
        else:
            rest.append(w)
    name = " ".join(rest)
    if not name:
        if group is None:
            return "a hip side without its region (Neck, Total...)"
        name = group
    region = HIP_REGIONS.get(name)
    if region is None:
        return "not a region dexacode knows"
    if context is None and side is None:
        return "cannot tell which scan this row belongs to (no heading names it)"
    return Label("hip", region, side)


def hip_group(label: str) -> str | None:
    """A Hologic region heading inside the hip table ('Neck', 'Total'), or None."""
    name = " ".join(_words(label))
    return name if name in HIP_REGIONS else None


def _looks_forearm(words: list[str]) -> bool:
    return any(w in ("1/3", "33%", "one-third", "ud", "ultradistal", "mid") for w in words) or (
        words[0] in ("radius", "ulna")
    )


def _forearm(words: list[str]) -> Label | str:
    bone = "radius"
    if len(words) > 1 and words[0] in _FOREARM_BONE:
        bone = _FOREARM_BONE[words[0]]
        words = words[1:]
    part = _FOREARM_PART.get(" ".join(words))
    if part is None:
        return "not a forearm region dexacode knows"
    return Label("forearm", f"{bone}_{part}")


_HEADING_SIDE = re.compile(r"\b(left|right)\s+(hip|femur|forearm|radius|arm)\b", re.I)
_HEADING_DUAL = re.compile(r"\bdual\s*(?:hip|femur)\b", re.I)
_HEADING_HIP = re.compile(r"\b(?:hip|femur)\b", re.I)
_HEADING_FOREARM = re.compile(r"\b(?:forearm|radius)\b", re.I)
_HEADING_SPINE = re.compile(r"\b(?:ap\s+spine|lumbar\s+spine|l1-l4\s+spine|spine|lumbar)\b", re.I)


def heading_words(text: str, *, strict: bool = True) -> tuple[Kind, str | None] | None:
    """A section heading ('AP Spine', 'Left Femur', 'DualFemur') -> its scan and side.

    ``strict`` headings are short lines (a long line mentioning a spine is a footnote).
    """
    if strict and (len(text.split()) > 5 or re.search(r"\d\.\d", text)):
        return None
    match = _HEADING_SIDE.search(text)
    if match:
        kind: Kind = "hip" if match.group(2).lower() in ("hip", "femur") else "forearm"
        return kind, match.group(1).lower()
    if _HEADING_DUAL.search(text):
        return "hip", "dual"
    if _HEADING_FOREARM.search(text):
        return "forearm", None
    if _HEADING_HIP.search(text):
        return "hip", None
    if _HEADING_SPINE.search(text):
        return "spine", None
    return None
