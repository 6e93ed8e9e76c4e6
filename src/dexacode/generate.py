"""Synthetic DXA encounters for benchmarks and demos (``dexacode generate``).

Every value is made up: patient ids are ``P-`` and six or more digits from a seeded
permutation, birth dates are drawn, names and free text never name a person. The same
``(count, seed)`` gives the same encounters and byte-identical files: each block of
``BLOCK`` rows has its own ``random.Random`` seeded from (seed, block) (no clock, no global
random state, no iteration over sets), and who is which patient and a patient's fixed
traits come from an integer hash of the seed; so blocks can be made in parallel and the
file does not depend on the number of worker processes. It does depend on the shipped rule
book and ICD-10-CM release (never on the user's payer folders or config).

Proportions (approximate, over many rows; the module's tables below are the truth):

- payer: by age. 65 and over: medicare 72 %, medicare_advantage 21 %, commercial 5 %,
  medicaid 2 %; under 65: commercial 55 %, medicaid 20 %, medicare 17 % (disability),
  medicare_advantage 8 %. Overall about medicare 55 %, medicare_advantage 17 %,
  commercial 20 %, medicaid 7-8 %.
- sex: women 85 %, men 15 %. Age on the first day of the window 30-95, weighted to 60-85
  (30-39 2 %, 40-49 4 %, 50-59 12 %, 60-64 12 %, 65-69 18 %, 70-74 18 %, 75-79 15 %,
  80-84 11 %, 85-89 6 %, 90-95 2 %). Menopausal status (women): under 45 premenopausal
  93 %, perimenopausal 4 %, unknown (null) 3 %; 45-54 premenopausal 20 %, perimenopausal
  30 %, postmenopausal 45 %, null 5 %; 55 and over postmenopausal 96 %, null 4 %. Men:
  always null.
- patients: about 10 % of encounters share the patient of another encounter (within
  20,000 rows), so about count x 0.9 distinct patients (about 10 % of them twice, 0.5 %
  three times); in the default one-year window two visits are always less than 23 months
  apart.
- sites: lumbar spine + one hip (left 70 %) 56 %, spine + both hips 11 %, spine alone 3 %,
  one hip 4 %, both hips 1.5 %, spine + hip + forearm (same-day axial and peripheral) 7 %,
  forearm alone 3.5 %, heel alone 2 %, hand alone 0.5 %, VFA alone 2 %, VFA + forearm 0.5 %.
  VFA is added to about 9.7 % of axial exams (about 8 % of all encounters).
- results follow the sites: one lumbar region (L1-L4 85 %, else L2-L4, L1-L3, L3-L4,
  L1-L2, "L1,L3", "L2,L4"), plus another vertebral row 10 % of the time; femoral_neck and
  total_hip per hip (trochanter 15 %); radius_33 per forearm (radius_ultradistal 30 %);
  calcaneus, phalanges. 1 % of density exams have no results. T-scores: a per-patient
  latent value around an age- and sex-typical mean (women -0.1 - 0.05 per year over 50,
  men -0.1 - 0.03 per year over 50; -0.5 for monitoring and diagnostic orders) plus
  region offsets; 2.5 % of regions sit exactly on a border (-1.0, -2.5, -2.45, -1.05,
  -0.95). 85 % of scanners report 1 decimal, 15 % 2 decimals. Z-scores follow the T-score
  corrected for age; BMD = young-adult mean + T x SD, clamped to 0.4-1.4 g/cm2 (3 decimals).
  BMD is left out 2 %, Z-score 3 %.
- order reason (50 and over): screening 60 %, monitoring 20 %, diagnostic 12 %,
  glucocorticoid_monitoring 6 %, confirm_baseline 2 %; under 50: screening 20 %,
  diagnostic 45 %, glucocorticoid_monitoring 25 %, monitoring 10 %.
- risk factors: none 45 %, one 35 %, two 15 %, three 5 %, from the facts.toml vocabulary
  (family history and prior fracture most common); glucocorticoid_monitoring adds
  glucocorticoid_therapy 85 % of the time. Vocabularies (risk factors, drugs and their
  classes, site groups, procedure codes, the component of a billing arrangement) are read
  from the rule book; this module keeps only how often each is drawn.
- medications: monitoring orders carry an osteoporosis drug (bisphosphonates 55 %,
  denosumab 20 %, then raloxifene, teriparatide, estrogens, ...), completed 20 % of the
  time; other orders 10 %; aromatase inhibitors 4 % of women; a glucocorticoid with most
  glucocorticoid risk factors; an unrecognised name (a supplement, a brand) 1.5 %.
- conditions: M81.0 (sometimes undotted M810) for a quarter of monitoring patients,
  Z87.310 with a third of prior fractures, a history code for half the completed-therapy
  follow-ups, M80.08XA 1.5 %, the wrong M85.80 1 %.
- billing: institutional 10 %; professional claims: global 72 %, 26 (equipment_owner
  other) 18 %, TC 9.7 %, nothing to bill 0.3 %, the component written out 15 % of the
  time; discontinued 1.2 %, reduced 0.8 %; substitute physician 1.5 % (Q6 60 %, Q5 40 %,
  1-90 days); ABN signed 12 % on medicare, 2 % elsewhere.
- history: about 40 % (screening 32 %, monitoring 75 %, diagnostic 30 %, glucocorticoid
  monitoring 60 %, confirm_baseline 90 %) have a prior study 12-60 months before (1-6
  months for a confirmatory baseline), a second one 25 % of the time; 5 % of rows are
  covered: false.
- submitted claims: 25 % of encounters; half are what the engine gives (``dexacode.engine``
  with the shipped rule book and ICD-10-CM, loaded once per process: lines, modifiers,
  units, diagnoses), half carry one typical mistake chosen among those that fit the claim:
  77080 + 77086 instead of 77085, 2 units, 26 or TC missing, 59 instead of XU on the
  Medicare family, the distinct-service modifier missing, Z13.820 alone, M85.80 instead
  of M85.8x, undotted diagnosis codes (harmless: codes are normalized), an extra 77081.
  The engine codes each encounter alone: a batch scrub, which also shows a repeat visit the
  patient's earlier visits in the file, may find a correct claim of such a visit due for
  an ABN modifier (frequency).
- duplicates: 0.2 % of rows are the row before them sent again under their own claim id
  (the same study billed twice; a batch scrub finds SAME-DATE-DUPLICATE on both).
- malformed rows at ``malformed_rate`` (default 0.2 %): a ``Malformed`` carrying both a
  broken JSON line and a broken flat row (see its docstring).
- claim ids ``C-<seed>-<n>`` (n from 1), dates of service uniform in 2025-10-01..2026-09-30.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import multiprocessing
import os
import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import NormalDist
from typing import Any, Final, Generic, TypeVar

from dexacode.contract import parse_encounter
from dexacode.engine import code_encounter
from dexacode.formats.flat import COLUMNS, RESULT_FIELDS, encounter_to_row
from dexacode.formats.naming import format_by_ending, format_by_name
from dexacode.icd10 import Icd10Library, open_library
from dexacode.rulebook import DrugClass, RuleBook, RuleBookError, RuleSet, load_rulebook

__all__ = [
    "BLOCK",
    "DEFAULT_END",
    "DEFAULT_START",
    "FLAT_COLUMNS",
    "FORMATS",
    "MAX_RESULTS",
    "Malformed",
    "format_for",
    "generate_encounters",
    "prepare",
    "write_generated",
]

DEFAULT_START: Final = dt.date(2025, 10, 1)
DEFAULT_END: Final = dt.date(2026, 9, 30)
# The generator never writes more results than this (the flat files' result columns).
MAX_RESULTS: Final = 10
FLAT_COLUMNS: Final[tuple[str, ...]] = (
    *COLUMNS,
    *(f"result{i}_{f}" for i in range(1, MAX_RESULTS + 1) for f in RESULT_FIELDS),
)
FORMATS: Final = ("jsonl", "csv", "parquet")
# Rows are made in blocks of this many, each from its own seeded random stream, so that
# blocks can be made in parallel and the output never depends on the number of workers.
BLOCK: Final = 20_000
# Rows that repeat the row before them under their own claim id (a claim sent twice).
DUPLICATE_RATE: Final = 0.002

T = TypeVar("T")


@dataclass(frozen=True)
class Malformed:
    """A deliberately broken row, refused by the contract (or the flat reader).

    ``text`` is the JSON Lines form (one line, no newline), ``row`` the flat form (cells of
    ``FLAT_COLUMNS``). Both break the same encounter, in the way ``kind`` names when the
    format can carry it (a truncated line or an unknown field has no flat equivalent with
    a fixed header: the flat row then loses its claim_id or gets sex "X").
    """

    kind: str
    text: str
    row: dict[str, str]


class _Table(Generic[T]):
    """A weighted choice, precomputed: ``pick`` costs one random() and one bisect."""

    __slots__ = ("cum", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = [v for v, _ in pairs]
        total = sum(w for _, w in pairs)
        running = 0.0
        self.cum: list[float] = []
        for _, weight in pairs:
            running += weight
            self.cum.append(running / total)
        self.cum[-1] = float("inf")  # u in [0, 1) always lands on a value

    def at(self, u: float) -> T:
        """The value at quantile ``u`` in [0, 1)."""
        return self.values[bisect(self.cum, u)]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect(self.cum, rng.random())]


# --- tables ------------------------------------------------------------------------------

_AGE_BRACKETS = (
    (30, 39, 2),
    (40, 49, 4),
    (50, 59, 12),
    (60, 64, 12),
    (65, 69, 18),
    (70, 74, 18),
    (75, 79, 15),
    (80, 84, 11),
    (85, 89, 6),
    (90, 95, 2),
)
_AGES = _Table(
    [(age, w / (hi - lo + 1)) for lo, hi, w in _AGE_BRACKETS for age in range(lo, hi + 1)]
)
_PAYER_65 = _Table(
    [("medicare", 72), ("medicare_advantage", 21), ("commercial", 5), ("medicaid", 2)]
)
_PAYER_UNDER_65 = _Table(
    [("commercial", 55), ("medicaid", 20), ("medicare", 17), ("medicare_advantage", 8)]
)
_REASON_50 = _Table(
    [
        ("screening", 60),
        ("monitoring", 20),
        ("diagnostic", 12),
        ("glucocorticoid_monitoring", 6),
        ("confirm_baseline", 2),
    ]
)
_REASON_YOUNG = _Table(
    [
        ("screening", 20),
        ("diagnostic", 45),
        ("glucocorticoid_monitoring", 25),
        ("monitoring", 10),
    ]
)
_RISK_COUNT = _Table([(0, 45), (1, 35), (2, 15), (3, 5)])
# How often each risk factor is drawn, for (women, men): the generator's proportions. The
# names are the rule book's (facts.toml [[risk_factor]]): a name it does not know fails at
# load, one it adds is drawn with weight 1.
_RISK_WEIGHTS: Final[dict[str, tuple[float, float]]] = {
    "family_history_osteoporosis": (20, 14),
    "fragility_fracture_history": (12, 14),
    "low_calcium_intake": (8, 6),
    "small_thin_frame": (10, 6),
    "bilateral_oophorectomy": (4, 0),
    "unilateral_oophorectomy": (2, 0),
    "ovarian_failure": (2, 0),
    "primary_hyperparathyroidism": (3, 3),
    "loss_of_height": (8, 10),
    "vertebral_abnormality_on_xray": (4, 6),
    "bone_loss_condition": (8, 12),
    "high_risk_medication": (8, 14),
    "glucocorticoid_therapy": (6, 10),
    "glucocorticoid_therapy_planned": (2, 3),
}
# How often each drug is written within its group: the generator's proportions. Names and
# classes are the rule book's (facts.toml [[drug]], [[drug_class]]), and so are the groups,
# by class: osteoporosis therapy (monitoring orders), a drug confirmed by a risk factor
# (glucocorticoids), another bone-loss drug (aromatase inhibitors, for women). A name the
# book does not know fails at load; a drug it adds is written with weight 1. "Alendronate"
# is alendronate as a chart may spell it (names are case-insensitive).
_DRUG_WEIGHTS: Final[dict[str, float]] = {
    "alendronate": 30,
    "risedronate": 10,
    "ibandronate": 6,
    "zoledronic acid": 9,
    "denosumab": 20,
    "raloxifene": 6,
    "bazedoxifene": 1,
    "teriparatide": 5,
    "abaloparatide": 2,
    "romosozumab": 2,
    "estradiol": 4,
    "conjugated estrogens": 1.5,
    "estrogen": 1,
    "calcitonin": 1,
    "Alendronate": 1.5,
    "anastrozole": 50,
    "letrozole": 35,
    "exemestane": 15,
    "prednisone": 70,
    "prednisolone": 8,
    "methylprednisolone": 8,
    "dexamethasone": 8,
    "hydrocortisone": 6,
}
# Names outside the drug table (DRUG-UNRECOGNISED): supplements, brands, other drugs; a
# name the book knows fails at load.
_UNKNOWN_DRUGS = _Table(
    [
        ("vitamin d3", 30),
        ("calcium carbonate", 25),
        ("levothyroxine", 15),
        ("omeprazole", 15),
        ("Fosamax", 10),
        ("Prolia", 5),
    ]
)
_SITE_PATTERNS = _Table(
    [
        ("spine_hip", 56),
        ("spine_both_hips", 11),
        ("spine", 3),
        ("hip", 4),
        ("both_hips", 1.5),
        ("spine_hip_forearm", 7),
        ("forearm", 3.5),
        ("heel", 2),
        ("hand", 0.5),
        ("vfa_alone", 2),
        ("vfa_forearm", 0.5),
    ]
)
_AXIAL_VFA = 0.097
_LUMBAR_REGIONS = _Table(
    [
        ("L1-L4", 85),
        ("L2-L4", 5),
        ("L1-L3", 4),
        ("L3-L4", 1.5),
        ("L1-L2", 1),
        ("L1,L3", 2),
        ("L2,L4", 1.5),
    ]
)
_EXTRA_LUMBAR = ("L2-L4", "L1-L3", "L3", "L2", "L3-L4")
_PERIPHERAL_WITH_AXIAL = (
    "primary hyperparathyroidism: forearm measured as ISCD recommends",
    "hip hardware: the replaced hip could not be measured",
    "degenerative changes make the lumbar spine unreadable",
)
_PERIPHERAL_ALONE = (
    "weight over the table limit of the axial scanner",
    "bilateral hip replacement and lumbar fusion",
)
# Per region kind: offset from the patient's latent T-score (mean, SD) and the young-adult
# reference (mean g/cm2, SD) for BMD = mean + T x SD (men +0.08).
_REGION_KIND: Final = {
    "lumbar": (0.2, 0.6, 1.047, 0.110),
    "femoral_neck": (-0.3, 0.35, 0.858, 0.120),
    "total_hip": (0.0, 0.3, 0.942, 0.122),
    "trochanter": (0.2, 0.3, 0.740, 0.100),
    "radius_33": (-0.2, 0.6, 0.780, 0.060),
    "radius_ultradistal": (-0.1, 0.6, 0.500, 0.060),
    "calcaneus": (0.0, 0.7, 0.560, 0.090),
    "phalanges": (0.0, 0.7, 0.600, 0.070),
}
# Border values a scanner prints now and then (1-decimal and 2-decimal scanners).
_BORDERS_1 = (-1.0, -2.5)
_BORDERS_2 = (-1.0, -2.5, -2.45, -1.05, -0.95, -1.95)
# 4096 quantiles of the standard normal: a normal draw is one getrandbits(12).
_NORMAL: Final = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))
_HISTORY_P: Final = {
    "screening": 0.32,
    "monitoring": 0.75,
    "diagnostic": 0.30,
    "glucocorticoid_monitoring": 0.60,
    "confirm_baseline": 0.90,
}
# Prior studies by the code's role in procedures.toml [choice].
_HISTORY_CHOICE = _Table(
    [("axial", 85), ("axial_with_vfa", 8), ("peripheral", 5), ("vfa_alone", 2)]
)
_ARRANGEMENT = _Table(
    [
        (("billing_provider", True), 72),
        (("other", True), 18),
        (("billing_provider", False), 9.7),
        (("other", False), 0.3),
    ]
)
_STATUS = _Table([("completed", 98), ("discontinued", 1.2), ("reduced", 0.8)])
_MISTAKES: Final = {
    "axial_plus_vfa": 30,  # 77080 + 77086 instead of 77085
    "two_units": 12,
    "component_missing": 14,
    "59_not_xu": 14,
    "distinct_missing": 14,
    "z13820_alone": 14,
    "m8580": 12,
    "undotted": 6,
    "extra_77081": 8,
}
# The distinct-procedure modifier coders reach for out of habit (the mistake 59_not_xu).
_GENERIC_DISTINCT: Final = "59"
_MALFORMED_KINDS = (
    "truncated",
    "wrong_type",
    "unknown_site",
    "impossible_date",
    "unknown_field",
    "bad_sex",
    "man_with_status",
    "nothing_done",
    "bad_bool",
    "born_after_service",
    "date_format",
)

_MASK: Final = (1 << 64) - 1
_SHARE: Final = 7406  # 11.3 % of 65536: x (1 - 11.3 %) gives 10 % return visits


def _mix(x: int) -> int:
    """splitmix64: a cheap, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True, slots=True)
class _Person:
    number: int
    sex: str
    birth: dt.date
    birth_iso: str
    u_status: float
    bone: float  # latent T-score offset, standard normal


# --- the rule book: vocabularies, and the engine that codes the submitted claims ---------


@cache
def _book() -> RuleBook:
    """The shipped rule book, once per process. No user payer folders or config: the file
    a (count, seed) gives must not depend on the machine."""
    return load_rulebook()


@cache
def _library() -> Icd10Library:
    """The ICD-10-CM releases, once per process (the shipped one indexed if missing)."""
    return open_library()


@dataclass(frozen=True)
class _Vocab:
    """The generator's draws over the rule book's vocabularies."""

    therapy_drugs: _Table[str]  # osteoporosis therapy (monitoring orders)
    risk_drugs: _Table[str]  # other bone-loss drugs (aromatase inhibitors), women
    steroid_drugs: _Table[str]  # drugs a risk factor confirms (glucocorticoids)
    risks_f: _Table[str]
    risks_m: _Table[str]
    steroid_risk: str  # the risk factor that confirms them (glucocorticoid_therapy)
    steroid_risks: frozenset[str]  # its Medicare category's risk factors (current, planned)
    axial_sites: frozenset[str]


def _weighted(names: Sequence[str], weights: dict[str, float]) -> _Table[str]:
    """``names`` drawn by ``weights``: in the weights' order, then a name without a weight
    (weight 1); a weight of 0 is never drawn."""
    ordered = [n for n in weights if n in names] + [n for n in names if n not in weights]
    pairs = [(n, weights.get(n, 1.0)) for n in ordered]
    return _Table([(n, w) for n, w in pairs if w > 0])


@cache
def _vocab() -> _Vocab:
    book = _book()
    classes = {c.name: c for c in book.drug_classes}
    class_of = {d.name.lower(): classes[d.drug_class] for d in book.drugs}
    risk_names = list(dict.fromkeys(r.name for r in book.risk_factors))
    unknown = [n for n in _DRUG_WEIGHTS if n.lower() not in class_of]
    unknown += [n for n in _RISK_WEIGHTS if n not in risk_names]
    known = [n for n in _UNKNOWN_DRUGS.values if n.lower() in class_of]
    confirms = [c.confirm_with_risk_factor for c in classes.values() if c.confirm_with_risk_factor]
    if unknown or known or not confirms:
        raise RuleBookError(
            "the generator's tables do not match the rule book: "
            + "; ".join(
                [f"{n!r} is not in facts.toml" for n in unknown]
                + [f"{n!r} is in facts.toml's drug table" for n in known]
                + ([] if confirms else ["no drug class is confirmed by a risk factor"])
            )
        )
    weighted = {n.lower() for n in _DRUG_WEIGHTS}
    drugs = [*_DRUG_WEIGHTS, *dict.fromkeys(d for d in class_of if d not in weighted)]

    def group(test: Callable[[DrugClass], bool]) -> _Table[str]:
        return _weighted([d for d in drugs if test(class_of[d.lower()])], _DRUG_WEIGHTS)

    steroid_risk = confirms[0]
    kin = [c.risk_factors for c in book.medicare_categories if steroid_risk in c.risk_factors]
    return _Vocab(
        therapy_drugs=group(lambda c: c.osteoporosis_therapy),
        risk_drugs=group(
            lambda c: (
                c.bone_loss_risk and not c.osteoporosis_therapy and not c.confirm_with_risk_factor
            )
        ),
        steroid_drugs=group(lambda c: c.confirm_with_risk_factor is not None),
        risks_f=_weighted(risk_names, {n: w for n, (w, _) in _RISK_WEIGHTS.items()}),
        risks_m=_weighted(risk_names, {n: w for n, (_, w) in _RISK_WEIGHTS.items()}),
        steroid_risk=steroid_risk,
        steroid_risks=frozenset([steroid_risk, *(kin[0] if kin else ())]),
        axial_sites=frozenset(s.name for s in book.sites if s.group == "axial"),
    )


def prepare() -> None:
    """Load the rule book and open the ICD-10-CM library for this process (indexing the
    shipped release if it is missing). Generating does it on first need; call it first to
    meet a broken rule book (``RuleBookError``) or index (``OSError``, ``ValueError``,
    ``LookupError``) before any file is written."""
    _vocab()
    _library()


def _coded_claim(enc: dict[str, Any], rules: RuleSet) -> dict[str, Any] | None:
    """The claim the engine gives for ``enc`` coded alone (lines with their modifiers and
    units, diagnoses), or None when there is nothing to bill."""
    parsed = parse_encounter(enc)
    release, exact = _library().for_date(parsed.date_of_service)
    result = code_encounter(parsed, rules, release, icd_exact=exact)
    if not result.lines:
        return None
    return {
        "lines": [
            {"cpt": line.cpt, "modifiers": list(line.modifiers), "units": line.units}
            for line in result.lines
        ],
        "diagnoses": list(result.diagnoses),
    }


# --- the generator -----------------------------------------------------------------------


class _Generator:
    def __init__(self, seed: int, count: int, start: dt.date, end: dt.date) -> None:
        if end < start:
            raise ValueError("the date window ends before it starts")
        self.count = count
        self.window = min(20_000, count // 2)
        self.seed = seed
        self.rng = random.Random(seed)  # replaced by each block's own stream
        self.key = _mix(seed & _MASK)
        self.visit_key = _mix(self.key ^ 0x5DEECE66D)
        self.start = start.toordinal()
        self.days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        self.iso = [d.isoformat() for d in self.days]
        self.book = _book()
        self.vocab = _vocab()

    def patient_of(self, i: int) -> int:
        """The patient of encounter ``i`` (0-based), as an encounter index.

        About one encounter in ten shares the patient of another encounter up to 20,000
        rows before or after it, unless that one shares too (visits do not snowball onto a
        few patients: about 10 % of patients come twice, 0.5 % three times). Decided by a
        hash, not the random stream, so that blocks stay independent.
        """
        h = _mix(self.visit_key ^ i)
        if (h & 0xFFFF) >= _SHARE or self.window < 1:
            return i
        offset = 1 + (h >> 16) % self.window
        other = i - offset if (h >> 60) & 1 else i + offset
        if not 0 <= other < self.count:
            other = 2 * i - other
        if (_mix(self.visit_key ^ other) & 0xFFFF) < _SHARE:
            return i
        return other

    def person(self, index: int) -> _Person:
        """A patient's fixed traits, from a hash of (seed, index): the same on every visit."""
        h = _mix(self.key ^ ((index * 0xD1B54A32D192ED03) & _MASK))
        sex = "F" if (h & 0xFFFF) < 55706 else "M"  # 85 % of 65536
        age = _AGES.at(((h >> 16) & 0xFFFF) / 65536.0)
        birth = dt.date.fromordinal(self.start - age * 365 - age // 4 - (h >> 32) % 365 - 1)
        # A bijection on [0, 10**6), then on each further decade: ids never collide.
        if index < 10**6:
            number = (index * 7919 + self.key) % 10**6
        else:
            low = 10 ** (len(str(index)) - 1)
            number = low + ((index - low) * 7919 + self.key) % (9 * low)
        return _Person(
            number,
            sex,
            birth,
            birth.isoformat(),
            ((h >> 41) & 0x3FF) / 1024.0,
            _NORMAL[(h >> 52) & 0xFFF],
        )

    def encounter(self, n: int) -> dict[str, Any]:
        rng = self.rng
        rand = rng.random
        who = self.person(self.patient_of(n - 1))
        day_index = int(rand() * len(self.days))
        dos = self.days[day_index]
        born = who.birth
        age = dos.year - born.year - ((dos.month, dos.day) < (born.month, born.day))
        woman = who.sex == "F"

        status: str | None = None
        if woman:
            u = who.u_status
            if age < 45:
                status = "premenopausal" if u < 0.93 else "perimenopausal" if u < 0.97 else None
            elif age < 55:
                if u < 0.2:
                    status = "premenopausal"
                elif u < 0.5:
                    status = "perimenopausal"
                elif u < 0.95:
                    status = "postmenopausal"
            elif u < 0.96:
                status = "postmenopausal"

        payer = (_PAYER_65 if age >= 65 else _PAYER_UNDER_65).pick(rng)
        reason = (_REASON_50 if age >= 50 else _REASON_YOUNG).pick(rng)
        rules = self.book.in_force(dos, payer)
        vocab = self.vocab

        # risk factors
        risks: list[str] = []
        table = vocab.risks_f if woman else vocab.risks_m
        for _ in range(_RISK_COUNT.pick(rng)):
            name = table.pick(rng)
            if name not in risks:
                risks.append(name)
        on_steroids, steroid_risks = vocab.steroid_risk, vocab.steroid_risks
        if reason == "glucocorticoid_monitoring" and rand() < 0.85:
            if on_steroids not in risks:
                risks.append(on_steroids)
            risks = [r for r in risks if r == on_steroids or r not in steroid_risks]

        # medications
        meds: list[dict[str, str]] = []
        completed = False
        if reason == "monitoring" or rand() < 0.10:
            completed = reason == "monitoring" and rand() < 0.2
            meds.append(
                {
                    "name": vocab.therapy_drugs.pick(rng),
                    "status": "completed" if completed else "current",
                }
            )
        if woman and rand() < 0.04:
            meds.append({"name": vocab.risk_drugs.pick(rng), "status": "current"})
        steroid = any(r in steroid_risks for r in risks)
        # Most steroid risk factors come with the drug; 1 % of others take one unconfirmed.
        if rand() < (0.7 if steroid else 0.01):
            meds.append({"name": vocab.steroid_drugs.pick(rng), "status": "current"})
        if rand() < 0.015:
            meds.append({"name": _UNKNOWN_DRUGS.pick(rng), "status": "current"})

        # conditions
        conditions: list[str] = []
        if reason == "monitoring" and rand() < 0.25:
            conditions.append("M810" if rand() < 0.2 else "M81.0")
        if "fragility_fracture_history" in risks and rand() < 0.33:
            conditions.append("Z87.310")
        if completed and rand() < 0.5:
            code = "Z92.89" if rand() < 0.5 else "Z87.310"
            if code not in conditions:
                conditions.append(code)
        u = rand()
        if u < 0.015 and not conditions:
            conditions.append("M80.08XA")
        elif u >= 0.99:
            conditions.append("M85.80")

        # exam and results
        sites, vfa, peripheral_reason = self._sites(_SITE_PATTERNS.pick(rng))
        results = self._results(sites, who, age, reason) if sites and rand() >= 0.01 else []

        exam_status = "completed"
        will_repeat = False
        u = rand()
        if u < 0.012:
            exam_status = "discontinued"
            will_repeat = u < 0.006
        elif u < 0.02:
            exam_status = "reduced"
            will_repeat = u < 0.0128

        # billing
        u = rand()
        institutional = u < 0.10
        component: str | None = None
        substitute: str | None = None
        substitute_days: int | None = None
        if institutional:
            owner, interprets = "billing_provider", u < 0.01
            if rand() < 0.05:
                component = "technical"
        else:
            owner, interprets = _ARRANGEMENT.pick(rng)
            if rand() < 0.15:
                component = rules.arrangements.get((owner, interprets))
            u = rand()
            if u < 0.015:
                substitute = "fee_for_time" if u < 0.009 else "reciprocal"
                substitute_days = 1 + int(rand() * 90)
        abn = rand() < (0.12 if payer == "medicare" else 0.02)

        # history
        history: list[dict[str, Any]] = []
        if rand() < _HISTORY_P[reason]:
            choice = rules.choice
            if reason == "confirm_baseline":
                back = 30 + int(rand() * 151)
                cpt = choice.peripheral if rand() < 0.5 else choice.axial
            else:
                back = 365 + int(rand() * 1462)
                cpt = getattr(choice, _HISTORY_CHOICE.pick(rng))
            first = dos - dt.timedelta(days=back)
            history.append(
                {"date_of_service": first.isoformat(), "cpt": cpt, "covered": rand() >= 0.05}
            )
            if rand() < 0.25:
                earlier = first - dt.timedelta(days=730 + int(rand() * 366))
                history.insert(
                    0,
                    {
                        "date_of_service": earlier.isoformat(),
                        "cpt": getattr(choice, _HISTORY_CHOICE.pick(rng)),
                        "covered": rand() >= 0.05,
                    },
                )

        enc: dict[str, Any] = {
            "claim_id": f"C-{self.seed}-{n}",
            "date_of_service": self.iso[day_index],
            "payer": payer,
            "patient": {
                "id": f"P-{who.number:06d}",
                "sex": who.sex,
                "birth_date": who.birth_iso,
                "menopausal_status": status,
                "risk_factors": risks,
                "medications": meds,
                "conditions": conditions,
            },
            "order": {"reason": reason},
            "exam": {
                "sites": sites,
                "vfa": vfa,
                "status": exam_status,
                "will_repeat": will_repeat,
                "peripheral_reason": peripheral_reason,
            },
            "billing": {
                "claim_form": "institutional" if institutional else "professional",
                "component": component,
                "equipment_owner": owner,
                "interprets": interprets,
                "substitute": substitute,
                "substitute_days": substitute_days,
                "abn_signed": abn,
            },
            "results": results,
            "history": history,
            "submitted": None,
        }
        if rand() < 0.25:
            claim = _coded_claim(enc, rules)
            if claim is not None:
                if rand() < 0.5:
                    claim = _with_mistake(claim, rules, rng)
                enc["submitted"] = claim
        return enc

    def _sites(self, pattern: str) -> tuple[list[str], bool, str | None]:
        rand = self.rng.random
        u = rand()
        hip = "left_hip" if u < 0.7 else "right_hip"
        forearm = "left_forearm" if u < 0.85 else "right_forearm"
        reason: str | None = None
        if pattern == "spine_hip":
            sites = ["lumbar_spine", hip]
        elif pattern == "spine_both_hips":
            sites = ["lumbar_spine", "left_hip", "right_hip"]
        elif pattern == "spine":
            sites = ["lumbar_spine"]
        elif pattern == "hip":
            sites = [hip]
        elif pattern == "both_hips":
            sites = ["left_hip", "right_hip"]
        elif pattern == "spine_hip_forearm":
            sites = ["lumbar_spine", hip, forearm]
            v = rand()
            if v < 0.6:
                reason = _PERIPHERAL_WITH_AXIAL[int(v * 5)]
        elif pattern == "forearm":
            sites = [forearm]
            v = rand()
            if v < 0.5:
                reason = _PERIPHERAL_ALONE[int(v * 4)]
        elif pattern == "heel":
            sites = ["left_heel" if u < 0.5 else "right_heel"]
        elif pattern == "hand":
            sites = ["left_hand" if u < 0.7 else "right_hand"]
        elif pattern == "vfa_forearm":
            return [forearm], True, None
        else:  # vfa_alone
            return [], True, None
        # VFA is added to axial exams (the site groups of sites.toml).
        axial = any(s in self.vocab.axial_sites for s in sites)
        return sites, axial and rand() < _AXIAL_VFA, reason

    def _results(
        self, sites: list[str], who: _Person, age: int, reason: str
    ) -> list[dict[str, Any]]:
        rng = self.rng
        rand = rng.random
        bits = rng.getrandbits
        woman = who.sex == "F"
        mean = -0.1 - (0.05 if woman else 0.03) * max(0, age - 50)
        if reason == "monitoring" or reason == "diagnostic":
            mean -= 0.5
        elif reason == "glucocorticoid_monitoring":
            mean -= 0.3
        base = mean + 0.9 * who.bone
        two = rand() < 0.15
        decimals = 2 if two else 1
        borders = _BORDERS_2 if two else _BORDERS_1
        z_shift = -0.9 * mean
        men = 0.0 if woman else 0.08

        # (site, region, kind, extra noise) in scanner order
        wanted: list[tuple[str, str, str, float]] = []
        second_hip = "right_hip" if "left_hip" in sites and "right_hip" in sites else ""
        for site in sites:
            if site == "lumbar_spine":
                region = _LUMBAR_REGIONS.pick(rng)
                wanted.append((site, region, "lumbar", 0.0))
                if rand() < 0.1:
                    extra = _EXTRA_LUMBAR[bits(12) % len(_EXTRA_LUMBAR)]
                    if extra != region:
                        wanted.append((site, extra, "lumbar", 0.0))
            elif site == "left_hip" or site == "right_hip":
                noise = 0.2 * _NORMAL[bits(12)] if site == second_hip else 0.0
                wanted.append((site, "femoral_neck", "femoral_neck", noise))
                if rand() < 0.15:
                    wanted.append((site, "trochanter", "trochanter", noise))
                wanted.append((site, "total_hip", "total_hip", noise))
            elif site.endswith("_forearm"):
                wanted.append((site, "radius_33", "radius_33", 0.0))
                if rand() < 0.3:
                    wanted.append((site, "radius_ultradistal", "radius_ultradistal", 0.0))
            elif site.endswith("_heel"):
                wanted.append((site, "calcaneus", "calcaneus", 0.0))
            else:
                wanted.append((site, "phalanges", "phalanges", 0.0))

        out: list[dict[str, Any]] = []
        for site, region, kind, noise in wanted:
            off_mean, off_sd, ref_mean, ref_sd = _REGION_KIND[kind]
            u = rand()
            if u < 0.025:
                t = borders[int(u * 40 * len(borders))]
            else:
                t = base + off_mean + off_sd * _NORMAL[bits(12)] + noise
                t = round(-5.5 if t < -5.5 else 3.5 if t > 3.5 else t, decimals)
            z = t + z_shift + 0.15 * _NORMAL[bits(12)]
            z = round(-6.0 if z < -6.0 else 4.0 if z > 4.0 else z, decimals)
            bmd = ref_mean + men + t * ref_sd
            out.append(
                {
                    "site": site,
                    "region": region,
                    "bmd": round(0.4 if bmd < 0.4 else 1.4 if bmd > 1.4 else bmd, 3),
                    "t_score": t + 0.0,  # never -0.0
                    "z_score": z + 0.0,
                }
            )
            v = rand()
            if v < 0.02:
                out[-1]["bmd"] = None
            elif v < 0.05:
                out[-1]["z_score"] = None
        return out

    def malformed(self, enc: dict[str, Any], rng: random.Random) -> Malformed:
        kind = rng.choice(_MALFORMED_KINDS)
        good_text = json.dumps(enc, separators=(",", ":"))
        bad = json.loads(good_text)
        row = encounter_to_row(enc)
        text: str | None = None
        if kind == "truncated":
            text = good_text[: 10 + int(rng.random() * (len(good_text) - 20))]
            row["claim_id"] = ""
        elif kind == "wrong_type":
            bad["results"] = [
                {"site": "lumbar_spine", "region": "L1-L4", "bmd": 0.9, "t_score": "abc"}
            ]
            bad["exam"]["sites"] = ["lumbar_spine"]
            for f in RESULT_FIELDS:
                row[f"result1_{f}"] = ""
            row.update(
                {"sites": "lumbar_spine", "result1_site": "lumbar_spine"},
                result1_region="L1-L4",
                result1_t_score="abc",
            )
        elif kind == "unknown_site":
            bad["exam"]["sites"] = [*bad["exam"]["sites"], "total_body"]
            row["sites"] = ";".join([*enc["exam"]["sites"], "total_body"])
        elif kind == "impossible_date":
            bad["date_of_service"] = row["date_of_service"] = "2026-02-30"
        elif kind == "unknown_field":
            bad["notes"] = "free text the contract does not know"
            row["sex"] = "X"
        elif kind == "bad_sex":
            bad["patient"]["sex"] = row["sex"] = "X"
        elif kind == "man_with_status":
            bad["patient"]["sex"] = row["sex"] = "M"
            bad["patient"]["menopausal_status"] = row["menopausal_status"] = "postmenopausal"
        elif kind == "nothing_done":
            bad["exam"]["sites"], bad["exam"]["vfa"] = [], False
            row["sites"], row["vfa"] = "", "false"
        elif kind == "bad_bool":
            bad["exam"]["vfa"] = "yes"
            row["vfa"] = "maybe"
        elif kind == "born_after_service":
            bad["patient"]["birth_date"] = row["birth_date"] = "2027-01-01"
        else:  # date_format
            born = enc["patient"]["birth_date"]
            us = f"{born[5:7]}/{born[8:10]}/{born[:4]}"
            bad["patient"]["birth_date"] = row["birth_date"] = us
        if text is None:
            text = json.dumps(bad, separators=(",", ":"))
        return Malformed(kind, text, row)


def _with_mistake(claim: dict[str, Any], rules: RuleSet, rng: random.Random) -> dict[str, Any]:
    """The claim with one typical coder's mistake that fits it.

    The codes and modifiers are the rule set's (the procedure choice, the payer's distinct
    modifier, the reading's codes); only the mistakes themselves are spelled here.
    """
    lines: list[dict[str, Any]] = claim["lines"]
    dx: list[str] = claim["diagnoses"]
    choice, reading, payer = rules.choice, rules.reading, rules.payer
    codes = [line["cpt"] for line in lines]
    all_mods = {m for line in lines for m in line["modifiers"]}
    components = {m for m in rules.component_modifier.values() if m}
    distinct = {payer.distinct_modifier, *payer.distinct_modifiers_accepted}
    low_bone = {*reading.low_bone_mass_by_bone.values(), reading.multiple_sites}
    low_bone.add(reading.unspecified)
    screening = rules.encounter_codes.screening
    fits = {
        "axial_plus_vfa": choice.axial_with_vfa in codes,
        "two_units": True,
        "component_missing": bool(all_mods & components),
        # The old generic 59 where the payer takes only its own (XU on the Medicare family).
        "59_not_xu": payer.distinct_modifier in all_mods
        and _GENERIC_DISTINCT not in payer.distinct_modifiers_accepted,
        "distinct_missing": bool(all_mods & distinct),
        "z13820_alone": screening in dx and len(dx) > 1,
        "m8580": any(c in low_bone for c in dx),
        "undotted": any("." in c for c in dx),
        "extra_77081": choice.peripheral not in codes
        and (choice.axial in codes or choice.axial_with_vfa in codes),
    }
    choices = _Table([(k, w) for k, w in _MISTAKES.items() if fits[k]])
    mistake = choices.pick(rng)
    if mistake == "axial_plus_vfa":
        new: list[dict[str, Any]] = []
        for line in lines:
            if line["cpt"] == choice.axial_with_vfa:
                new.append({**line, "cpt": choice.axial})
                new.append({**line, "cpt": choice.vfa_alone})
            else:
                new.append(line)
        lines = new
    elif mistake == "two_units":
        i = int(rng.random() * len(lines))
        lines = [{**line, "units": 2} if j == i else line for j, line in enumerate(lines)]
    elif mistake == "component_missing":
        lines = [
            {**line, "modifiers": [m for m in line["modifiers"] if m not in components]}
            for line in lines
        ]
    elif mistake == "59_not_xu":
        mine = payer.distinct_modifier
        lines = [
            {
                **line,
                "modifiers": [_GENERIC_DISTINCT if m == mine else m for m in line["modifiers"]],
            }
            for line in lines
        ]
    elif mistake == "distinct_missing":
        lines = [
            {**line, "modifiers": [m for m in line["modifiers"] if m not in distinct]}
            for line in lines
        ]
    elif mistake == "z13820_alone":
        dx = [screening]
    elif mistake == "m8580":
        dx = [reading.unspecified if c in low_bone else c for c in dx]
    elif mistake == "undotted":
        dx = [c.replace(".", "") for c in dx]
    else:  # extra_77081
        lines = [*lines, {"cpt": choice.peripheral, "modifiers": [], "units": 1}]
    return {"lines": lines, "diagnoses": dx}


# --- public interface --------------------------------------------------------------------


def _block(
    gen: _Generator, block: int, count: int, malformed_rate: float
) -> Iterator[dict[str, Any] | Malformed]:
    """Rows ``block * BLOCK + 1`` .. (at most) ``count`` from the block's own streams."""
    gen.rng = random.Random(f"dexacode:{gen.seed}:{block}")
    spoil = random.Random(f"dexacode-malformed:{gen.seed}:{block}")
    # Its own stream, so that the other rows stay as they were without duplicates.
    twice = random.Random(f"dexacode-duplicate:{gen.seed}:{block}")
    previous: dict[str, Any] | None = None
    for n in range(block * BLOCK + 1, min(count, (block + 1) * BLOCK) + 1):
        enc = gen.encounter(n)
        if previous is not None and twice.random() < DUPLICATE_RATE:
            # The previous claim sent again under this row's claim number.
            enc = {**copy.deepcopy(previous), "claim_id": enc["claim_id"]}
        previous = enc
        if spoil.random() < malformed_rate:
            yield gen.malformed(enc, spoil)
        else:
            yield enc


def _check(count: int, malformed_rate: float) -> None:
    if count < 0:
        raise ValueError("count must be 0 or more")
    if not 0.0 <= malformed_rate <= 1.0:
        raise ValueError("malformed_rate must be between 0 and 1")


def generate_encounters(
    count: int,
    seed: int,
    *,
    malformed_rate: float = 0.002,
    start: dt.date = DEFAULT_START,
    end: dt.date = DEFAULT_END,
) -> Iterator[dict[str, Any] | Malformed]:
    """``count`` synthetic encounters (dicts in the contract's shape) or ``Malformed`` rows.

    Seeded and reproducible: the same arguments give the same rows. A malformed row
    replaces the encounter it was made from (from a stream of its own), so
    ``malformed_rate`` leaves the other rows as they were.
    """
    _check(count, malformed_rate)
    gen = _Generator(seed, count, start, end)
    for block in range(-(-count // BLOCK)):
        yield from _block(gen, block, count, malformed_rate)


def format_for(path: Path, fmt: str | None = None) -> str:
    """``jsonl``, ``csv`` or ``parquet``: ``fmt`` if given, else from the file's suffix."""
    if fmt is not None:
        name = format_by_name(fmt, FORMATS)
        if name is None:
            raise ValueError(f"unknown format {fmt!r}; expected jsonl, csv or parquet")
        return name
    found = format_by_ending(path, FORMATS)
    if found is None:
        raise ValueError(
            f"cannot tell the format from the file name {path.name!r}: name it .jsonl, "
            ".ndjson, .csv or .parquet, or give the format"
        )
    return found


# One block, rendered in the format's own form: a worker process's whole job.
_Task = tuple[str, int, int, int, float, dt.date, dt.date]


def _render(task: _Task) -> Any:
    kind, seed, block, count, rate, start, end = task
    rows = _block(_Generator(seed, count, start, end), block, count, rate)
    if kind == "jsonl":
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        return "".join(
            (item.text if isinstance(item, Malformed) else dumps(item)) + "\n" for item in rows
        )
    flat = (item.row if isinstance(item, Malformed) else encounter_to_row(item) for item in rows)
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([row.get(c, "") for c in FLAT_COLUMNS] for row in flat)
        return buffer.getvalue()
    import pyarrow as pa

    columns: list[list[str | None]] = [[] for _ in FLAT_COLUMNS]
    for row in flat:
        for column, name in zip(columns, FLAT_COLUMNS, strict=True):
            column.append(row.get(name) or None)
    return pa.RecordBatch.from_arrays(
        [pa.array(c, type=pa.string()) for c in columns], schema=_arrow_schema()
    )


def _arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(c, pa.string()) for c in FLAT_COLUMNS])


def _rendered(tasks: list[_Task], workers: int) -> Iterator[Any]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_render, tasks)
        return
    # spawn, not fork: the caller may run threads (a progress bar), which fork breaks.
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(_render, tasks)


def write_generated(
    path: Path,
    count: int,
    seed: int,
    *,
    fmt: str | None = None,
    malformed_rate: float = 0.002,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> int:
    """Write ``count`` generated rows to ``path``; returns the number of rows written.

    JSON Lines (``.jsonl``/``.ndjson``): one contract encounter per line, compact. CSV and
    Parquet: the flat layout (``dexacode.formats.flat``) with the columns ``FLAT_COLUMNS``
    (CSV with a header; Parquet all string columns, empty cells null, one row group per
    block of ``BLOCK`` rows so memory stays flat). ``progress`` is called with the number
    of rows written so far after each block. ``workers`` > 1 makes blocks in that many
    processes (``spawn``: call it from an ``if __name__ == "__main__"`` guarded script, as
    the command line does); the file is the same byte for byte whatever the number.
    """
    kind = format_for(path, fmt)
    _check(count, malformed_rate)
    tasks: list[_Task] = [
        (kind, seed, block, count, malformed_rate, DEFAULT_START, DEFAULT_END)
        for block in range(-(-count // BLOCK))
    ]
    if tasks:
        prepare()  # before the file, and before worker processes would each index ICD-10-CM
    # Written beside the file and moved into place when complete: a full disk or an
    # interruption never leaves a cut-short file that looks whole (a device such as
    # /dev/stdout is written to directly).
    direct = _is_device(path)
    spool = path if direct else path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        written = _write_blocks(spool, kind, tasks, workers, count, progress)
        if not direct:
            os.replace(spool, path)
    finally:
        if not direct:
            spool.unlink(missing_ok=True)
    return written


def _is_device(path: Path) -> bool:
    """A place written through rather than replaced: a device or pipe (/dev/stdout)."""
    where = str(path.absolute())
    if where.startswith(("/dev/", "/proc/")) and not where.startswith("/dev/shm/"):
        return True
    return path.exists() and not path.is_file() and not path.is_dir()


def _write_blocks(
    path: Path,
    kind: str,
    tasks: list[_Task],
    workers: int,
    count: int,
    progress: Callable[[int], None] | None,
) -> int:
    written = 0
    if kind == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, _arrow_schema()) as writer:
            for batch in _rendered(tasks, workers):
                writer.write_batch(batch)
                written += batch.num_rows
                if progress is not None:
                    progress(written)
        return written
    with path.open("w", encoding="utf-8", newline="") as out:
        if kind == "csv":
            csv.writer(out, lineterminator="\n").writerow(FLAT_COLUMNS)
        for text in _rendered(tasks, workers):
            out.write(text)
            written = min(count, written + BLOCK)
            if progress is not None:
                progress(written)
    return written
