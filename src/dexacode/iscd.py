"""The ISCD reading of a DXA study: the lumbar vertebrae to use, the lowest diagnostic
region, comparison with a prior study against the least significant change, the VFA
indication, and the BHOF treatment thresholds for FRAX probabilities the user supplies.

Thresholds are data (``rules/iscd.toml``, each row dated and sourced); the diagnostic
regions and WHO / Z-score categories come from the rule book (``interpretation.toml``).
Everything here is pure except ``load_iscd_rules``, which reads the shipped table.

References: ISCD Adult Official Positions 2019 and 2023 (vertebral exclusion, fewer than
four vertebrae, forearm, precision and LSC, VFA); BHOF clinician's guide 2022 (FRAX
thresholds). FRAX itself is not computed.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dexacode.contract import Encounter, Result
from dexacode.engine.facts import gather
from dexacode.engine.interpret import category_for, choose_scale, round_score, vertebrae
from dexacode.rulebook import Category, Dated, RuleBookError, RuleSet

Scale = Literal["t_score", "z_score"]
Verdict = Literal["significant_loss", "significant_gain", "stable", "not_judged"]
ForearmReason = Literal["hip_or_spine_unusable", "hyperparathyroidism", "over_table_weight_limit"]

M = TypeVar("M", bound=Dated)

# --- rule rows -----------------------------------------------------------------------------


class ExclusionRule(Dated):
    max_t_difference: float = Field(gt=0)
    min_vertebrae: int = Field(ge=2)
    vertebrae: tuple[int, ...]


class ForearmRule(Dated):
    when: tuple[ForearmReason, ...]


class LscRule(Dated):
    multiplier: float = Field(gt=0)
    confidence_percent: int = Field(gt=0, lt=100)


class PrecisionDefault(Dated):
    region: str
    percent: float | None = Field(default=None, gt=0)
    g_cm2: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_unit(self) -> PrecisionDefault:
        if (self.percent is None) == (self.g_cm2 is None):
            raise ValueError("give exactly one of percent or g_cm2")
        return self


class VfaRule(Dated):
    t_score_below: float
    women_from_age: int
    men_from_age: int
    height_loss_above_cm: float
    glucocorticoid_mg_per_day_from: float
    glucocorticoid_months_from: float
    # Risk factors of the encounter that mean glucocorticoids at or above that dose for at
    # least that long (the contract's glucocorticoid_therapy).
    glucocorticoid_risk_factors: tuple[str, ...] = ()


class FraxRule(Dated):
    hip_from_percent: float
    major_from_percent: float
    categories: tuple[str, ...]


@dataclass(frozen=True)
class IscdRules:
    """The rows in force on one day."""

    day: dt.date
    exclusion: ExclusionRule
    forearm: ForearmRule
    lsc: LscRule
    precision: Mapping[str, PrecisionDefault]
    vfa: VfaRule
    frax: FraxRule


@dataclass(frozen=True)
class IscdBook:
    exclusion: tuple[ExclusionRule, ...]
    forearm: tuple[ForearmRule, ...]
    lsc: tuple[LscRule, ...]
    precision: tuple[PrecisionDefault, ...]
    vfa: tuple[VfaRule, ...]
    frax: tuple[FraxRule, ...]

    def in_force(self, day: dt.date) -> IscdRules:
        return IscdRules(
            day=day,
            exclusion=_one(self.exclusion, day, "vertebral_exclusion"),
            forearm=_one(self.forearm, day, "forearm"),
            lsc=_one(self.lsc, day, "lsc"),
            precision={p.region: p for p in self.precision if p.in_force(day)},
            vfa=_one(self.vfa, day, "vfa"),
            frax=_one(self.frax, day, "frax"),
        )

    def rows(self) -> Iterable[Dated]:
        yield from (*self.exclusion, *self.forearm, *self.lsc)
        yield from (*self.precision, *self.vfa, *self.frax)


def _one(rows: Sequence[M], day: dt.date, what: str) -> M:
    live = [r for r in rows if r.in_force(day)]
    if len(live) != 1:
        state = "no version" if not live else f"{len(live)} versions"
        raise RuleBookError(f"rules/iscd.toml [{what}]: {state} in force on {day.isoformat()}")
    return live[0]


_TABLES: tuple[tuple[str, type[Dated]], ...] = (
    ("vertebral_exclusion", ExclusionRule),
    ("forearm", ForearmRule),
    ("lsc", LscRule),
    ("precision", PrecisionDefault),
    ("vfa", VfaRule),
    ("frax", FraxRule),
)


def parse_iscd_rules(
    data: Mapping[str, Any], known_sources: Iterable[str], covers_from: dt.date
) -> IscdBook:
    """Validate the table's rows (a broken row fails loudly, naming it)."""
    label = "rules/iscd.toml"
    tables: dict[str, tuple[Dated, ...]] = {}
    for key, model in _TABLES:
        raw = data.get(key)
        if raw is None:
            raise RuleBookError(f"{label}: no [{key}] table")
        items = raw if isinstance(raw, list) else [raw]
        rows = []
        for n, item in enumerate(items, 1):
            try:
                rows.append(model.model_validate(item))
            except ValidationError as exc:
                problem = "; ".join(
                    f"field '{'.'.join(str(p) for p in e['loc']) or '(row)'}': {e['msg']}"
                    for e in exc.errors()
                )
                raise RuleBookError(f"{label}: [{key}] row {n}: {problem}") from None
        tables[key] = tuple(rows)
    known = set(known_sources)
    for key, table in tables.items():
        for row in table:
            for src in row.source:
                if src not in known:
                    raise RuleBookError(f"{label}: [{key}] cites unknown source {src!r}")
            if row.ends is not None and row.ends < row.effective:
                raise RuleBookError(f"{label}: [{key}] row ends before it takes effect")
    book = IscdBook(
        exclusion=tables["vertebral_exclusion"],  # type: ignore[arg-type]
        forearm=tables["forearm"],  # type: ignore[arg-type]
        lsc=tables["lsc"],  # type: ignore[arg-type]
        precision=tables["precision"],  # type: ignore[arg-type]
        vfa=tables["vfa"],  # type: ignore[arg-type]
        frax=tables["frax"],  # type: ignore[arg-type]
    )
    borders = {covers_from}
    for row in book.rows():
        borders.add(row.effective)
        if row.ends is not None:
            borders.add(row.ends + dt.timedelta(days=1))
    for day in sorted(d for d in borders if d >= covers_from):
        book.in_force(day)  # every singleton must have exactly one version on every day
    return book


@cache
def load_iscd_rules() -> IscdBook:
    """The shipped ``rules/iscd.toml``, validated against ``rules/sources.toml``."""
    root = resources.files("dexacode") / "rules"
    try:
        data = tomllib.loads((root / "iscd.toml").read_text(encoding="utf-8"))
        sources = tomllib.loads((root / "sources.toml").read_text(encoding="utf-8"))
        book = tomllib.loads((root / "book.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleBookError(f"rules/iscd.toml: cannot be read: {exc}") from exc
    covers_from = book.get("covers_from")
    if not isinstance(covers_from, dt.date):
        raise RuleBookError("rules/book.toml: needs covers_from (a date)")
    return parse_iscd_rules(data, sources, covers_from)


# --- inputs --------------------------------------------------------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Subject:
    """What the reading needs to know about the patient (beyond the results)."""

    scale: Scale = "t_score"
    age: int | None = None
    sex: Literal["F", "M"] | None = None
    fragility_fracture: bool = False
    height_loss_cm: float | None = None
    glucocorticoid_mg_per_day: float | None = None
    glucocorticoid_months: float | None = None
    risk_factors: frozenset[str] = frozenset()  # the encounter's risk factors
    vertebral_fracture_reported: bool = False
    hyperparathyroidism: bool = False
    over_table_weight_limit: bool = False


class Precision(_Input):
    """A facility's precision error for one region: RMS-SD in g/cm² (preferred) or % CV."""

    value: float = Field(gt=0, le=20)
    unit: Literal["g/cm2", "%"] = "g/cm2"
    default: bool = False


class Frax(_Input):
    """FRAX 10-year probabilities in percent, as the user's FRAX tool gave them."""

    major: float | None = Field(default=None, ge=0, le=100)
    hip: float | None = Field(default=None, ge=0, le=100)


@dataclass(frozen=True)
class Prior:
    date: dt.date | None
    results: Sequence[Result]
    scanner: str | None = None  # scanner family (hologic, lunar) when known
    # The device: maker and model, with the serial number when printed
    # ('Hologic Horizon W (S/N 300002M)'); None when not known.
    device: str | None = None


# --- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Excluded:
    vertebra: int
    t_score: float
    neighbours: tuple[tuple[int, float], ...]  # (vertebra, T-score) it was compared with


@dataclass(frozen=True)
class SpineChoice:
    region: str | None  # e.g. "L1-L3", None when no region can be used
    vertebrae: tuple[int, ...]
    excluded: tuple[Excluded, ...]
    result: Result | None
    by_reader: bool = False
    notes: tuple[str, ...] = ()
    excluded_by_reader: tuple[int, ...] = ()  # the reader's exclusions among L1-L4


@dataclass(frozen=True)
class Scored:
    result: Result
    score: float  # rounded, on the reading's scale


@dataclass(frozen=True)
class Change:
    site: str
    region: str
    prior_bmd: float
    current_bmd: float
    change: float | None  # g/cm²; None when the devices do not allow a comparison
    percent: float | None
    lsc_g_cm2: float | None
    lsc_percent: float | None
    precision_default: bool
    verdict: Verdict
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    prior_date: dt.date | None
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    prior_device: str | None = None  # as stated (maker and model), None when not known
    device: str | None = None


def device_words(device: str | None) -> str:
    return device or "not known"


@dataclass(frozen=True)
class VfaIndication:
    indicated: bool | None  # None: no T-score to judge by
    t_score: float | None
    reasons: tuple[str, ...]
    unknown: tuple[str, ...]  # criteria that could not be checked


@dataclass(frozen=True)
class FraxAdvice:
    applies: bool
    threshold_met: bool | None
    sentence: str


@dataclass(frozen=True)
class IscdReading:
    scale: Scale
    spine: SpineChoice
    diagnostic: tuple[Scored, ...]
    lowest: Scored | None
    category: str | None
    label: str | None
    forearm_used: bool
    comparison: Comparison | None
    vfa: VfaIndication
    frax: FraxAdvice
    notes: tuple[str, ...] = ()
    sentences: tuple[str, ...] = field(default=())


# --- the lumbar spine ----------------------------------------------------------------------


def region_name(levels: Sequence[int]) -> str:
    """(1, 2, 4) -> 'L1-L2,L4'; (1, 3) -> 'L1,L3'; (2, 3, 4) -> 'L2-L4'."""
    runs: list[list[int]] = []
    for level in sorted(levels):
        if runs and level == runs[-1][-1] + 1:
            runs[-1].append(level)
        else:
            runs.append([level])
    return ",".join(f"L{r[0]}" if len(r) == 1 else f"L{r[0]}-L{r[-1]}" for r in runs)


def _d(value: float) -> Decimal:
    return Decimal(repr(value))


def choose_spine(
    results: Sequence[Result],
    rule: ExclusionRule,
    *,
    lumbar_site: str = "lumbar_spine",
    excluded_by_reader: Sequence[int] | None = None,
) -> SpineChoice:
    """The lumbar region to use: all of L1-L4 less the vertebrae excluded.

    A vertebra is excluded when its T-score differs by more than ``max_t_difference`` from
    every adjacent vertebra still in use; an inner vertebra flagged by both neighbours goes
    before an end vertebra flagged by its only neighbour, the largest difference first, and
    the neighbours are looked at again after each exclusion. At least ``min_vertebrae``
    stay. ``excluded_by_reader`` (the reader's decision on the image) replaces the rule.
    """
    lumbar = [r for r in results if r.site == lumbar_site]
    by_reader = excluded_by_reader is not None
    reader_out = tuple(v for v in rule.vertebrae if v in set(excluded_by_reader or ()))
    if not lumbar:
        # No spine result (a hip or forearm study): nothing to say about the spine.
        return SpineChoice(None, (), (), None, by_reader)
    singles: dict[int, float] = {}
    for r in lumbar:
        levels = vertebrae(r.region)
        if levels is not None and len(levels) == 1 and r.t_score is not None:
            singles[levels[0]] = round_score(r.t_score)
    notes: list[str] = []
    excluded: list[Excluded] = []
    kept = list(rule.vertebrae)
    if excluded_by_reader is not None:
        kept = [v for v in kept if v not in set(excluded_by_reader)]
        if len(kept) < rule.min_vertebrae:
            return SpineChoice(
                None,
                tuple(kept),
                (),
                None,
                by_reader=True,
                excluded_by_reader=reader_out,
                notes=(
                    f"fewer than {rule.min_vertebrae} vertebrae are left after the reader's "
                    "exclusions: the spine is not used for diagnosis (never a single vertebra)",
                ),
            )
    elif all(v in singles for v in kept):
        limit = _d(rule.max_t_difference)
        while len(kept) > rule.min_vertebrae:
            flagged: list[tuple[int, Decimal, int, list[int]]] = []
            for i, v in enumerate(kept):
                neighbours = [kept[j] for j in (i - 1, i + 1) if 0 <= j < len(kept)]
                diffs = [abs(_d(singles[v]) - _d(singles[n])) for n in neighbours]
                if all(d > limit for d in diffs):
                    flagged.append((len(neighbours), min(diffs), -v, neighbours))
            if not flagged:
                break
            _, _, neg_v, neighbours = max(flagged)
            v = -neg_v
            excluded.append(Excluded(v, singles[v], tuple((n, singles[n]) for n in neighbours)))
            kept.remove(v)
        if len(kept) == rule.min_vertebrae:
            a, b = kept
            if abs(_d(singles[a]) - _d(singles[b])) > limit:
                notes.append(
                    f"L{a} and L{b} still differ by more than {rule.max_t_difference:.1f} in "
                    "T-score; review the image"
                )
    else:
        notes.append(
            "single-vertebra T-scores are not all printed, so the vertebral exclusion rule "
            "could not be checked"
        )
        available = [
            (levels, r)
            for r in lumbar
            if (levels := vertebrae(r.region)) is not None and len(levels) >= rule.min_vertebrae
        ]
        full = [r for levels, r in available if list(levels) == kept]
        if not full and available:
            levels, _ = sorted(available, key=lambda a: (-len(a[0]), a[0][0]))[0]
            kept = list(levels)
    wanted = tuple(kept)
    found = next((r for r in lumbar if vertebrae(r.region) == wanted), None)
    name = region_name(kept)
    if found is None:
        if lumbar:
            notes.append(
                f"the report does not print {name}: the spine is not used for diagnosis "
                "(reanalyse those vertebrae on the scanner)"
            )
        return SpineChoice(None, wanted, tuple(excluded), None, by_reader, tuple(notes), reader_out)
    return SpineChoice(name, wanted, tuple(excluded), found, by_reader, tuple(notes), reader_out)


# --- the reading ---------------------------------------------------------------------------


_REGION_WORDS = {
    "femoral_neck": "femoral neck",
    "total_hip": "total hip",
    "radius_33": "one-third radius",
    "radius_ultradistal": "ultradistal radius",
}


def describe(site: str, region: str) -> str:
    """'left_hip', 'femoral_neck' -> 'left femoral neck'; bilateral rows say so."""
    if site in ("lumbar_spine", "thoracic_spine"):
        return f"{site.replace('_', ' ')} {region}"
    for suffix, word in (("_mean", "mean of both sides"), ("_diff", "difference between sides")):
        if region.endswith(suffix):
            base = region.removesuffix(suffix)
            return f"{_REGION_WORDS.get(base, base.replace('_', ' '))} ({word})"
    side = site.split("_")[0]
    return f"{side} {_REGION_WORDS.get(region, region.replace('_', ' '))}"


def _where(r: Result) -> str:
    return describe(r.site, r.region)


def read_iscd(
    results: Sequence[Result],
    subject: Subject,
    rules: RuleSet,
    iscd: IscdRules,
    *,
    prior: Prior | None = None,
    scanner: str | None = None,
    device: str | None = None,
    precision: Mapping[str, Precision] | None = None,
    frax: Frax | None = None,
    excluded_vertebrae: Sequence[int] | None = None,
) -> IscdReading:
    """The full ISCD reading of one study's results."""
    regions = rules.regions
    scale = subject.scale
    spine = choose_spine(
        results,
        iscd.exclusion,
        lumbar_site=regions.lumbar_site,
        excluded_by_reader=excluded_vertebrae,
    )
    notes: list[str] = []

    def scored(r: Result) -> Scored | None:
        value = getattr(r, scale)
        return None if value is None else Scored(r, round_score(value))

    spine_scored = scored(spine.result) if spine.result is not None else None
    hips = [
        s
        for r in results
        if r.site in regions.hip_sites and r.region in regions.hip_regions
        if (s := scored(r)) is not None
    ]
    forearms = [
        s
        for r in results
        if r.site in regions.forearm_sites and r.region in regions.forearm_regions
        if (s := scored(r)) is not None
    ]
    reasons: list[str] = []
    when = iscd.forearm.when
    if "hip_or_spine_unusable" in when and (spine_scored is None or not hips):
        reasons.append("the hip or the spine cannot be used")
    if "hyperparathyroidism" in when and subject.hyperparathyroidism:
        reasons.append("hyperparathyroidism")
    if "over_table_weight_limit" in when and subject.over_table_weight_limit:
        reasons.append("the patient is over the table's weight limit")
    forearm_used = bool(forearms and reasons)
    if forearms and not reasons:
        notes.append(
            "The one-third radius is shown but not used for the diagnosis: ISCD allows it "
            "only when hip or spine cannot be used, in hyperparathyroidism, or over the "
            "table's weight limit."
        )
    diagnostic = ([spine_scored] if spine_scored else []) + hips
    if forearm_used:
        diagnostic += forearms
    lowest = min(diagnostic, key=lambda s: s.score) if diagnostic else None
    category: Category | None = None
    if lowest is not None:
        rows = rules.t_categories if scale == "t_score" else rules.z_categories
        category = category_for(rows, lowest.score, subject.fragility_fracture)

    comparison = None
    if prior is not None:
        comparison = compare(
            results,
            prior,
            iscd,
            precision=precision or {},
            spine_region=spine.region,
            scanner=scanner,
            device=device,
        )
    lowest_t = min(
        (round_score(s.result.t_score) for s in diagnostic if s.result.t_score is not None),
        default=None,
    )
    vfa = vfa_indication(lowest_t, subject, iscd.vfa)
    advice = frax_advice(category.name if category else None, scale, frax, iscd.frax)
    reading = IscdReading(
        scale=scale,
        spine=spine,
        diagnostic=tuple(diagnostic),
        lowest=lowest,
        category=category.name if category else None,
        label=category.label if category else None,
        forearm_used=forearm_used,
        comparison=comparison,
        vfa=vfa,
        frax=advice,
        notes=tuple(notes),
    )
    return IscdReading(**{**reading.__dict__, "sentences": tuple(sentences(reading, reasons))})


# --- comparison with a prior study ---------------------------------------------------------

_COMPARED = {
    "total_hip": "total_hip",
    "femoral_neck": "femoral_neck",
    "total_hip_mean": "total_hip",
    "radius_33": "radius_33",
}


def precision_for(key: str, given: Mapping[str, Precision], iscd: IscdRules) -> Precision | None:
    """The facility's precision for a region, else the rule book's default, else None."""
    if key in given:
        return given[key]
    default = iscd.precision.get(key)
    if default is None:
        return None
    if default.g_cm2 is not None:
        return Precision(value=default.g_cm2, unit="g/cm2", default=True)
    assert default.percent is not None
    return Precision(value=default.percent, unit="%", default=True)


def _same(one: str | None, other: str | None) -> bool:
    """Two names of one maker or device, as people type them: case and spacing aside."""
    if not one or not other:
        return False
    return " ".join(one.casefold().split()) == " ".join(other.casefold().split())


def compare(
    current: Sequence[Result],
    prior: Prior,
    iscd: IscdRules,
    *,
    precision: Mapping[str, Precision],
    spine_region: str | None,
    scanner: str | None = None,
    device: str | None = None,
) -> Comparison:
    """BMD change at each region measured both times, judged against the LSC.

    A change is judged only on one device: both studies' maker and model (with the serial
    number when printed) known and the same. Otherwise no change figures are given: BMD
    from another device is not comparable without cross-calibration (ISCD).
    """
    notes: list[str] = []
    other_maker = bool(scanner and prior.scanner and not _same(scanner, prior.scanner))
    same_device = not other_maker and _same(device, prior.device)
    why_not = ""
    if other_maker:
        why_not = "another scanner maker"
        notes.append(
            f"The prior study was on another scanner maker ({prior.scanner}, now {scanner}): "
            "BMD is not comparable without cross-calibration, so no change is judged."
        )
    elif not same_device:
        why_not = "the same device is not confirmed"
        notes.append(
            "The same device is not confirmed for both studies (the scanner model, and the "
            "serial number when printed, must be known for both and match): BMD is not "
            "comparable without cross-calibration, so no change is judged."
        )
    before = {(r.site, r.region): r for r in prior.results if r.bmd is not None}
    changes: list[Change] = []
    compared: set[tuple[str, str]] = set()
    left_out: list[str] = []
    mult = _d(iscd.lsc.multiplier)
    for r in current:
        if r.bmd is None:
            continue
        if r.site == "lumbar_spine":
            if r.region != spine_region:
                continue
            key = "lumbar_spine"
        elif r.region in _COMPARED:
            key = _COMPARED[r.region]
        else:
            continue
        old = before.get((r.site, r.region))
        if old is None or old.bmd is None:
            if r.site == "lumbar_spine":
                had = [
                    p.region
                    for p in prior.results
                    if p.site == "lumbar_spine"
                    and p.bmd is not None
                    and len(vertebrae(p.region) or ()) >= iscd.exclusion.min_vertebrae
                ]
                given = f" (it gives {', '.join(had)})" if had else ""
                left_out.append(
                    f"The lumbar spine is not compared: the prior study has no {r.region} "
                    f"value{given}."
                )
            else:
                left_out.append(
                    f"The {describe(r.site, r.region)} is not compared: the prior study has "
                    "no value for it."
                )
            continue
        compared.add((r.site, r.region))
        now, then = _d(r.bmd), _d(old.bmd)
        delta = now - then
        pct = delta / then * 100
        prec = precision_for(key, precision, iscd)
        lsc_g: Decimal | None = None
        lsc_p: Decimal | None = None
        verdict: Verdict = "not_judged"
        note = ""
        if why_not:
            note = why_not
        elif prec is None:
            note = f"no precision error set for {key.replace('_', ' ')}"
        else:
            if prec.unit == "g/cm2":
                lsc_g = mult * _d(prec.value)
                lsc_p = lsc_g / then * 100
                significant = abs(delta) >= lsc_g
            else:
                lsc_p = mult * _d(prec.value)
                lsc_g = lsc_p * then / 100
                significant = abs(pct) >= lsc_p
            if not significant:
                verdict = "stable"
            else:
                verdict = "significant_loss" if delta < 0 else "significant_gain"
            if key == "lumbar_spine" and spine_region != "L1-L4":
                note = (
                    "ISCD 2023: the LSC for fewer than four vertebrae should be recomputed "
                    "from the facility's precision study"
                )
        changes.append(
            Change(
                site=r.site,
                region=r.region,
                prior_bmd=old.bmd,
                current_bmd=r.bmd,
                change=None if why_not else float(delta),
                percent=None if why_not else float(pct),
                lsc_g_cm2=None if lsc_g is None else float(lsc_g),
                lsc_percent=None if lsc_p is None else float(lsc_p),
                precision_default=bool(prec and prec.default and lsc_g is not None),
                verdict=verdict,
                note=note,
            )
        )
    measured_now = {(r.site, r.region) for r in current if r.bmd is not None}
    for site, region in before:
        if site == "lumbar_spine" or region not in _COMPARED:
            continue
        if (site, region) not in compared and (site, region) not in measured_now:
            left_out.append(
                f"The prior study's {describe(site, region)} is not compared: this study "
                "has no value for it."
            )
    if not changes:
        notes.append("No region was measured in both studies, so nothing is compared.")
    notes += left_out
    return Comparison(prior.date, tuple(changes), tuple(notes), prior.device, device)


def _fixed(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _separating(change: float, lsc: float, significant: bool, decimals: int) -> int:
    """The fewest decimals, from ``decimals``, at which the change and the LSC as printed
    agree with the verdict: |change| >= LSC when significant, below it when not."""
    for d in range(decimals, decimals + 6):
        if (_fixed(abs(_d(change)), d) >= _fixed(_d(lsc), d)) == significant:
            return d
    return decimals + 6


@dataclass(frozen=True)
class Figures:
    """A change's figures as printed, never contradicting its verdict."""

    change: str  # '−0.052'; '' when no change is given
    percent: str  # '−5.3'
    lsc_g_cm2: str  # '0.0521'; '' when no LSC is given
    lsc_percent: str


def figures(c: Change) -> Figures:
    """The change and its LSC as printed: g/cm² to 3 decimals and % to 1, with more
    decimals where fewer would make a significant change look smaller than the LSC, or a
    stable one look as large."""
    if c.change is None or c.percent is None:
        return Figures("", "", "", "")

    def signed(value: float, d: int) -> str:
        return f"{_fixed(_d(value), d):+f}".replace("-", "−")

    if c.lsc_g_cm2 is None or c.lsc_percent is None:
        return Figures(signed(c.change, 3), signed(c.percent, 1), "", "")
    significant = c.verdict in ("significant_loss", "significant_gain")
    dg = _separating(c.change, c.lsc_g_cm2, significant, 3)
    dp = _separating(c.percent, c.lsc_percent, significant, 1)
    return Figures(
        signed(c.change, dg),
        signed(c.percent, dp),
        f"{_fixed(_d(c.lsc_g_cm2), dg):f}",
        f"{_fixed(_d(c.lsc_percent), dp):f}",
    )


# --- VFA and FRAX --------------------------------------------------------------------------


def vfa_indication(t_score: float | None, subject: Subject, rule: VfaRule) -> VfaIndication:
    """ISCD: lateral spine imaging when T < -1.0 and one of the clinical criteria holds."""
    if t_score is None:
        return VfaIndication(None, None, (), ("a T-score",))
    reasons: list[str] = []
    unknown: list[str] = []
    if subject.age is None or subject.sex is None:
        unknown.append("age and sex")
    elif subject.sex == "F" and subject.age >= rule.women_from_age:
        reasons.append(f"a woman aged {rule.women_from_age} or more")
    elif subject.sex == "M" and subject.age >= rule.men_from_age:
        reasons.append(f"a man aged {rule.men_from_age} or more")
    if subject.height_loss_cm is None:
        unknown.append("historical height loss")
    elif subject.height_loss_cm > rule.height_loss_above_cm:
        reasons.append(f"height loss of more than {rule.height_loss_above_cm:g} cm")
    if subject.vertebral_fracture_reported:
        reasons.append("a self-reported but undocumented vertebral fracture")
    dose, months = subject.glucocorticoid_mg_per_day, subject.glucocorticoid_months
    # The encounter's glucocorticoid risk factor means that dose for that long; a dose and
    # duration given as such decide instead.
    steroid_risk = bool(subject.risk_factors & set(rule.glucocorticoid_risk_factors))
    if (dose is None or months is None) and not steroid_risk:
        unknown.append("glucocorticoid dose and duration")
    elif (dose is None or months is None) or (
        dose >= rule.glucocorticoid_mg_per_day_from and months >= rule.glucocorticoid_months_from
    ):
        reasons.append(
            f"glucocorticoids of {rule.glucocorticoid_mg_per_day_from:g} mg/day "
            f"prednisone-equivalent or more for {rule.glucocorticoid_months_from:g} months "
            "or more"
        )
    low = _d(t_score) < _d(rule.t_score_below)
    return VfaIndication(low and bool(reasons), t_score, tuple(reasons), tuple(unknown))


def frax_advice(
    category: str | None, scale: Scale, frax: Frax | None, rule: FraxRule
) -> FraxAdvice:
    """BHOF: in low bone mass, treatment is advised when hip >= 3 % or major >= 20 %."""
    if frax is None or (frax.major is None and frax.hip is None):
        return FraxAdvice(False, None, "No FRAX probabilities were given.")
    given = []
    if frax.major is not None:
        given.append(f"major osteoporotic fracture {frax.major:g} %")
    if frax.hip is not None:
        given.append(f"hip fracture {frax.hip:g} %")
    stated = "FRAX 10-year probabilities (as given): " + ", ".join(given) + "."
    if scale != "t_score":
        return FraxAdvice(
            False,
            None,
            f"{stated} The BHOF thresholds apply to postmenopausal women and men aged 50 or "
            "more, so they are not applied.",
        )
    if category not in rule.categories:
        what = (category or "no category").replace("_", " ")
        return FraxAdvice(
            False,
            None,
            f"{stated} The BHOF FRAX thresholds are for low bone mass; this study reads "
            f"{what}, so they are not applied.",
        )
    hip_met = frax.hip is not None and _d(frax.hip) >= _d(rule.hip_from_percent)
    major_met = frax.major is not None and _d(frax.major) >= _d(rule.major_from_percent)
    met = hip_met or major_met
    crossed = []
    if hip_met:
        crossed.append(f"hip ≥ {rule.hip_from_percent:g} %")
    if major_met:
        crossed.append(f"major osteoporotic ≥ {rule.major_from_percent:g} %")
    if met:
        sentence = (
            f"{stated} With low bone mass, this meets the BHOF treatment threshold "
            f"({' and '.join(crossed)})."
        )
    else:
        sentence = (
            f"{stated} With low bone mass, this is below the BHOF treatment thresholds "
            f"(hip ≥ {rule.hip_from_percent:g} % or major osteoporotic ≥ "
            f"{rule.major_from_percent:g} %)."
        )
    return FraxAdvice(True, met, sentence)


# --- plain sentences -----------------------------------------------------------------------


def _signed(value: float) -> str:
    return f"{value:+.1f}".replace("-", "−")


def sentences(reading: IscdReading, forearm_reasons: Sequence[str] = ()) -> list[str]:
    """The reading as a physician would write it, one sentence per point."""
    out: list[str] = []
    spine = reading.spine
    scale_word = "T-score" if reading.scale == "t_score" else "Z-score"
    if spine.region is not None:
        text = f"Lumbar spine: {spine.region} is used"
        if spine.excluded:
            parts = []
            for ex in spine.excluded:
                near = ", ".join(f"L{n} {_signed(t)}" for n, t in ex.neighbours)
                parts.append(f"L{ex.vertebra} (T-score {_signed(ex.t_score)}; adjacent {near})")
            text += (
                "; excluded for a T-score difference of more than 1.0 from the adjacent "
                f"vertebrae: {'; '.join(parts)}. Confirm the exclusion on the image"
            )
        elif spine.by_reader and spine.excluded_by_reader:
            named = ", ".join(f"L{v}" for v in spine.excluded_by_reader)
            text += f" (vertebrae chosen by the reader; {named} excluded by the reader)"
        out.append(text + ".")
    for note in spine.notes:
        out.append(f"Lumbar spine: {note}.")
    if reading.lowest is None:
        out.append(f"No diagnostic region has a {scale_word}, so no category is given.")
    else:
        where = _where(reading.lowest.result)
        label = reading.label or "no category"
        if reading.scale == "t_score":
            out.append(
                f"The lowest T-score among the diagnostic regions is "
                f"{_signed(reading.lowest.score)} at the {where}: {label} (WHO criteria)."
            )
        else:
            out.append(
                f"The lowest Z-score among the diagnostic regions is "
                f"{_signed(reading.lowest.score)} at the {where}: {label}. Z-scores are used "
                "for premenopausal women and men under 50; WHO categories do not apply."
            )
    if reading.forearm_used:
        out.append(
            "The one-third radius is used for the diagnosis because "
            + " and ".join(forearm_reasons)
            + "."
        )
    out += list(reading.notes)
    if reading.comparison is not None:
        out += comparison_sentences(reading.comparison)
    vfa = reading.vfa
    if vfa.indicated:
        out.append(
            f"Vertebral fracture assessment is indicated (T-score {_signed(vfa.t_score or 0)}, "
            f"below −1.0, with {' and '.join(vfa.reasons)})."
        )
    elif vfa.indicated is False and vfa.t_score is not None and vfa.t_score < -1.0:
        missing = f" (not given: {', '.join(vfa.unknown)})" if vfa.unknown else ""
        out.append(f"No ISCD criterion for vertebral fracture assessment is met{missing}.")
    out.append(reading.frax.sentence)
    return out


_VERDICT_WORDS = {
    "significant_loss": "a significant loss",
    "significant_gain": "a significant gain",
    "stable": "no significant change (stable)",
    "not_judged": "not judged",
}


def comparison_sentences(comparison: Comparison) -> list[str]:
    when = comparison.prior_date.isoformat() if comparison.prior_date else "the prior study"
    out = [
        f"Devices: prior study {device_words(comparison.prior_device)}; this study "
        f"{device_words(comparison.device)}."
    ]
    for c in comparison.changes:
        shown = figures(c)
        if not shown.change:
            out.append(
                f"Since {when}, {describe(c.site, c.region)} BMD was {c.prior_bmd:.3f} and is "
                f"{c.current_bmd:.3f} g/cm² now: {_VERDICT_WORDS[c.verdict]} ({c.note})."
            )
            continue
        text = (
            f"Since {when}, {describe(c.site, c.region)} BMD went from {c.prior_bmd:.3f} to "
            f"{c.current_bmd:.3f} g/cm² ({shown.change} g/cm², {shown.percent} %)"
        )
        if shown.lsc_g_cm2:
            default = ", ISCD default precision" if c.precision_default else ""
            text += (
                f"; LSC {shown.lsc_g_cm2} g/cm² ({shown.lsc_percent} %{default}): "
                f"{_VERDICT_WORDS[c.verdict]}"
            )
        else:
            text += f": {_VERDICT_WORDS[c.verdict]} ({c.note})"
            out.append(text + ".")
            continue
        if c.note:
            text += f". {c.note[0].upper()}{c.note[1:]}"
        out.append(text + ".")
    out += list(comparison.notes)
    return out


# --- from an encounter ---------------------------------------------------------------------


def subject_for(enc: Encounter, rules: RuleSet, **extra: Any) -> Subject:
    """The subject of an encounter: scale, age, sex and fracture history from the engine's
    facts; ``extra`` adds what the contract does not carry (height_loss_cm, ...)."""
    facts = gather(enc, rules)
    scale: Scale = "t_score" if choose_scale(facts, rules) == "t_score" else "z_score"
    return Subject(
        scale=scale,
        age=facts.age,
        sex="F" if facts.sex == "F" else "M",
        fragility_fracture=facts.fragility_fracture,
        risk_factors=frozenset(enc.patient.risk_factors),
        **extra,
    )
