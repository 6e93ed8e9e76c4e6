"""Row labels as scanners print them -> the contract's site and region names.

Spine rows are vertebrae or vertebral combinations (``L1-L4``, ``L2-L4``, ``L1,L3``,
``L1-L2,L4``), written in that canonical form. Hip rows are named by region (``Neck``,
``Total``, ``Troch``...) and side (``Left``/``Right``, ``Lt``/``Rt``, ``L``/``R`` before a
hip-only name, or ``Mean``/``Diff.`` for the two hips together), in any order and with
``Femoral Neck (Left)`` or ``Neck - Right`` punctuation; Hologic prints the region on a
line of its own and the sides under it, GE Lunar prints both on the row (``Neck Left``,
``Total Diff.``). Forearm rows are ``1/3`` or ``33%`` (one-third radius), ``UD``
(ultradistal), ``MID`` and ``Total``, with ``R``/``Radius`` or ``U``/``Ulna`` and a side
anywhere in the label (``1/3 Radius``, ``Left Radius 33%``). Spine shorthand ``L1-4`` is
``L1-L4``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dexacode.engine.interpret import vertebrae
from dexacode.iscd import region_name

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
# The words for a side, in row labels and in headings.
SIDE_WORDS = {"left": "left", "lt": "left", "right": "right", "rt": "right"}
_SIDES = {**SIDE_WORDS, "mean": "mean", "diff": "diff", "difference": "diff"}
# A bare 'L' or 'R' is a side only before a hip-only region ('R Total Hip'): in a forearm
# label 'R' is the radius ('R UD', 'R Total').
_LETTER_SIDES = {"l": "left", "r": "right"}
_FOREARM_PART = {
    "1/3": "33",
    "33%": "33",
    "one-third": "33",
    "one third": "33",
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
_BONE_ANYWHERE = ("radius", "ulna")  # 'R', 'U', 'Both' name a bone only as the first word
# Words that name a part of a scanned bone: a row whose label holds one is never dropped
# unsaid, even when the whole label is not understood ('Neck Lft  -2.7').
REGION_WORDS = frozenset(
    {w for name in (*HIP_REGIONS, *_FOREARM_PART) for w in name.split()}
    | set(_BONE_ANYWHERE)
    | {"hip", "femur", "femoral", "spine", "lumbar", "forearm"}
)


@dataclass(frozen=True)
class Label:
    kind: Kind
    region: str
    side: str | None = None  # left | right | mean | diff, when the label says


def canonical_spine(label: str) -> str | None:
    """'l1 - l4' -> 'L1-L4'; 'L1, L3' -> 'L1,L3'; None if the label is not vertebrae."""
    text = re.sub(r"\s*([-,])\s*", r"\1", label.strip().upper())
    text = re.sub(r"\b([LT])(\d{1,2})-(\d{1,2})\b", r"\1\2-\1\3", text)  # L1-4 -> L1-L4
    if not _SPINE.match(text):
        return None
    levels = vertebrae(text)
    if levels is None:
        return text  # thoracic levels (T12) stay as printed
    return region_name(levels)


def _words(label: str) -> list[str]:
    text = label.lower().replace("'", "")
    text = re.sub(r"[|.,:()\[\]]", " ", text)
    return [w for w in text.split() if w.strip("-")]  # a lone dash: 'Neck - Right'


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
    after_letter = " ".join(rest[1:])
    if (
        side is None
        and rest
        and rest[0] in _LETTER_SIDES
        and after_letter in HIP_REGIONS
        and after_letter not in _FOREARM_PART
    ):
        side, name = _LETTER_SIDES[rest[0]], after_letter
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


def names_region(label: str) -> bool:
    """Whether a label names (or mentions) a region, understood or not."""
    if canonical_spine(label) is not None:
        return True
    words = _words(label)
    if any(canonical_spine(w) is not None for w in words):
        return True
    return bool(set(words) & REGION_WORDS) or any(
        isinstance(parse_label(label, context, None), Label) for context in (None, "hip", "forearm")
    )


# Words a label may be shown with besides REGION_WORDS and vertebrae: sides, the two hips
# together, and the one-letter sides and bones ('L Total Hip', 'R UD', 'U 33%').
_SHOWN_WORDS = REGION_WORDS | set(_SIDES) | set(_LETTER_SIDES) | {"u", "ulna", "both"}


def region_words(label: str) -> str:
    """What of a label may be quoted back: its region words only ('Neck Lft' -> 'Neck').

    Any other word may be the patient's name ('WARD, ALEX B'), so it is never shown; a
    label written as a name ('Surname, Given': a comma that is not between vertebrae) is
    not shown at all, even its region-like words.
    """
    if canonical_spine(label) is not None:
        return label
    words = label.split()
    kept = [w for w in words if _shown_word(w)]
    if len(kept) < len(words) and "," in label:
        return ""
    return " ".join(kept)


def _shown_word(word: str) -> bool:
    bare = word.lower().replace("'", "").strip("|.,:;()[]-")
    return bool(bare) and (bare in _SHOWN_WORDS or canonical_spine(bare) is not None)


def is_spine_total(label: str) -> bool:
    return _words(label) == ["total"]


def union_of(regions: list[str]) -> str | None:
    """Hologic's spine 'Total': the vertebrae listed one by one above it ('L1'...'L4' ->
    'L1-L4'); None when fewer than two are listed."""
    levels: set[int] = set()
    for region in regions:
        found = vertebrae(region)
        if found is not None and len(found) == 1:
            levels.update(found)
    if len(levels) < 2:
        return None
    return canonical_spine(",".join(f"L{level}" for level in sorted(levels)))


# The forearm parts no hip region shares ('total' is both): any of them makes a label a
# forearm's, with or without its bone.
_FOREARM_ONLY = tuple(part for part in _FOREARM_PART if part not in HIP_REGIONS)


def _looks_forearm(words: list[str]) -> bool:
    text = f" {' '.join(words)} "
    return any(f" {part} " in text for part in (*_FOREARM_ONLY, *_BONE_ANYWHERE))


def _forearm(words: list[str]) -> Label | str:
    bone = None
    side = None
    part: list[str] = []
    for i, w in enumerate(words):
        if w in SIDE_WORDS and side is None:
            side = SIDE_WORDS[w]
        elif bone is None and w in _FOREARM_BONE and (w in _BONE_ANYWHERE or i == 0):
            bone = _FOREARM_BONE[w]
        else:
            part.append(w)
    name = _FOREARM_PART.get(" ".join(part))
    if name is None:
        return "not a forearm region dexacode knows"
    return Label("forearm", f"{bone or 'radius'}_{name}", side)
