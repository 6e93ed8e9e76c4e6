"""Results -> WHO / ISCD reading: which regions decide, the scale, and the category."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from dexacode.contract import Encounter, Result
from dexacode.engine.facts import Facts
from dexacode.engine.findings import FindingSink
from dexacode.rulebook import Category, RuleSet

_VERTEBRA = re.compile(r"^L([1-5])(?:-L([1-5]))?$")
_TENTH = Decimal("0.1")
Scale = Literal["t_score", "z_score"]


@functools.lru_cache(maxsize=4096)  # scores repeat: round each value once
def round_score(value: float) -> float:
    """One decimal, half away from zero, on the decimal value as written.

    ``repr`` gives the shortest text that reads back as the same float, which is what
    the scanner printed (-1.95 stays -1.95 and rounds to -2.0, not -1.9).
    """
    return float(Decimal(repr(value)).quantize(_TENTH, rounding=ROUND_HALF_UP))


@functools.lru_cache(maxsize=1024)
def vertebrae(region: str) -> tuple[int, ...] | None:
    """'L1-L4' -> (1, 2, 3, 4); 'L2,L4' -> (2, 4); anything else -> None."""
    found: set[int] = set()
    for part in region.replace(" ", "").upper().split(","):
        match = _VERTEBRA.match(part)
        if not match:
            return None
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            return None
        found.update(range(first, last + 1))
    return tuple(sorted(found))


class Scored(NamedTuple):
    # A named tuple, not a frozen dataclass: four of these are made for every encounter,
    # and a frozen dataclass takes three times as long to build.
    result: Result
    t_score: float | None
    z_score: float | None


class Reading(NamedTuple):  # one per encounter: a named tuple builds fastest
    scale: Scale
    category: str | None
    label: str | None
    basis: Scored | None
    diagnostic: tuple[Scored, ...]
    low_bone_mass_bones: tuple[str, ...]  # skeletal sites with T below the threshold


def choose_scale(facts: Facts, rules: RuleSet) -> Scale:
    if facts.sex == "F" and facts.menopausal_status is not None:
        in_t = facts.menopausal_status in rules.scale.t_score_menopausal_statuses
        return "t_score" if in_t else "z_score"
    return "t_score" if facts.age >= rules.scale.t_score_from_age else "z_score"


def diagnostic_results(enc: Encounter, rules: RuleSet, scale: str) -> list[Scored]:
    """The results that may decide: one lumbar region, hip regions, one-third radius."""
    regions = rules.regions
    scored = [
        Scored(
            r,
            None if r.t_score is None else round_score(r.t_score),
            None if r.z_score is None else round_score(r.z_score),
        )
        for r in enc.results
    ]
    usable = [s for s in scored if getattr(s, scale) is not None]
    chosen: list[Scored] = []

    lumbar: list[tuple[Scored, tuple[int, ...]]] = []
    for s in usable:
        if s.result.site == regions.lumbar_site:
            verts = vertebrae(s.result.region)
            if verts is not None and len(verts) >= regions.lumbar_min_vertebrae:
                lumbar.append((s, verts))
    if lumbar:
        preferred = vertebrae(regions.lumbar_preferred)
        best = [item for item in lumbar if item[1] == preferred]
        if not best:
            # Most vertebrae first; among equals the one starting higher (L1-L3 before L2-L4).
            best = sorted(lumbar, key=lambda item: (-len(item[1]), item[1][0]))
        chosen.append(best[0][0])

    for s in usable:
        r = s.result
        hip = r.region in regions.hip_regions and r.site in regions.hip_sites
        forearm = r.region in regions.forearm_regions and r.site in regions.forearm_sites
        if hip or forearm:
            chosen.append(s)
    return chosen


def category_for(rows: Sequence[Category], score: float, fracture: bool) -> Category | None:
    """The first WHO / ISCD category row the score falls in (rows that need a fragility
    fracture count only with one)."""
    for row in rows:
        if row.needs_fragility_fracture and not fracture:
            continue
        if row.holds(score):
            return row
    return None


def read(enc: Encounter, facts: Facts, rules: RuleSet, sink: FindingSink) -> Reading:
    scale = choose_scale(facts, rules)
    if facts.sex == "F" and facts.menopausal_status is None:
        sink.add("MENOPAUSE-UNKNOWN", scale=scale.replace("_", "-"))
    chosen = diagnostic_results(enc, rules, scale)
    if not chosen:
        if enc.exam.sites:  # a VFA-only study has no density to read
            sink.add("NO-RESULTS", scale_label=scale.replace("_", "-"))
        return Reading(scale, None, None, None, (), ())

    basis = min(chosen, key=lambda s: getattr(s, scale))
    score: float = getattr(basis, scale)
    rows = rules.t_categories if scale == "t_score" else rules.z_categories
    category = category_for(rows, score, facts.fragility_fracture)

    bones: list[str] = []
    if category is not None and category.name in rules.reading.by_site_categories:
        threshold = rules.reading.low_bone_mass_threshold
        for s in chosen:
            if s.t_score is not None and s.t_score < threshold:
                site = rules.sites.get(s.result.site)
                if site is not None and site.bone not in bones:
                    bones.append(site.bone)

    if scale == "t_score" and category is not None:
        gaps = rules.seed_gaps
        if score in gaps.exactly or score > gaps.above:
            sink.add("WHO-BORDER", t_score=f"{score:+.1f}", label=category.label)

    return Reading(
        scale=scale,
        category=category.name if category else None,
        label=category.label if category else None,
        basis=basis,
        diagnostic=tuple(chosen),
        low_bone_mass_bones=tuple(bones),
    )
