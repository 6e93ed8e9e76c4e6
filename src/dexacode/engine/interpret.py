"""Results -> WHO / ISCD reading: which regions decide, the scale, and the category."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from dexacode.contract import Encounter, Result
from dexacode.engine.facts import Facts
from dexacode.engine.findings import FindingSink, listing
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


def measured_results(enc: Encounter) -> list[tuple[Result, bool]]:
    """Each result, and whether its site was measured in this exam (in ``exam.sites``).
    An input that cannot carry the sites (an 837 claim) has placeholders there: all
    count as measured."""
    if "exam.sites" in enc.unknown:
        return [(r, True) for r in enc.results]
    sites = enc.exam.sites
    return [(r, r.site in sites) for r in enc.results]


class Selection(NamedTuple):
    chosen: list[Scored]  # the results that decide
    lumbar_unscored: str | None  # the lumbar region that counts, when it lacks the score
    unmeasured: tuple[str, ...]  # sites with results that exam.sites does not list


def diagnostic_results(enc: Encounter, rules: RuleSet, scale: str) -> Selection:
    """The results that may decide: one lumbar region, hip regions, one-third radius.

    Only results of the sites measured in this exam (``exam.sites``) are read; the others
    are named in ``unmeasured``. The lumbar region is chosen among the regions reported,
    whatever their scores: L1-L4 when present, else the most vertebrae. When that region
    has no score on the scale, the spine does not decide and a shorter combination does
    not stand in for it (``lumbar_unscored`` names it).
    """
    regions = rules.regions
    scored: list[Scored] = []
    unmeasured: list[str] = []
    for r, was_measured in measured_results(enc):
        if not was_measured:
            if r.site not in unmeasured:
                unmeasured.append(r.site)
            continue
        scored.append(
            Scored(
                r,
                None if r.t_score is None else round_score(r.t_score),
                None if r.z_score is None else round_score(r.z_score),
            )
        )
    chosen: list[Scored] = []

    lumbar: list[tuple[Scored, tuple[int, ...]]] = []
    for s in scored:
        if s.result.site == regions.lumbar_site:
            verts = vertebrae(s.result.region)
            if verts is not None and len(verts) >= regions.lumbar_min_vertebrae:
                lumbar.append((s, verts))
    lumbar_unscored: str | None = None
    if lumbar:
        region = vertebrae(regions.lumbar_preferred)
        if all(verts != region for _, verts in lumbar):
            # Most vertebrae first; among equals the one starting higher (L1-L3 before L2-L4),
            # then vertebra by vertebra (L1-L3 before L1,L2,L4), so that the order of the
            # input never decides.
            region = min(lumbar, key=lambda item: (-len(item[1]), item[1]))[1]
        rows = [s for s, verts in lumbar if verts == region]
        with_score = [s for s in rows if getattr(s, scale) is not None]
        if with_score:
            chosen.append(with_score[0])
        else:
            lumbar_unscored = rows[0].result.region

    for s in scored:
        if getattr(s, scale) is None:
            continue
        r = s.result
        hip = r.region in regions.hip_regions and r.site in regions.hip_sites
        forearm = r.region in regions.forearm_regions and r.site in regions.forearm_sites
        if hip or forearm:
            chosen.append(s)
    return Selection(chosen, lumbar_unscored, tuple(unmeasured))


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
    scale_label = scale.replace("_", "-")
    if facts.sex == "F" and facts.menopausal_status is None:
        sink.add("MENOPAUSE-UNKNOWN", scale=scale_label)
    chosen, lumbar_unscored, unmeasured = diagnostic_results(enc, rules, scale)
    if unmeasured:
        sink.add(
            "RESULT-SITE-NOT-MEASURED",
            sites=listing(list(unmeasured)),
            measured=listing(list(enc.exam.sites)) or "no site",
        )
    if lumbar_unscored is not None:
        sink.add("LUMBAR-SCORE-MISSING", region=lumbar_unscored, scale_label=scale_label)
    if not chosen:
        if enc.exam.sites:  # a VFA-only study has no density to read
            sink.add("NO-RESULTS", scale_label=scale_label)
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
