"""Properties that hold for ANY valid encounter, whatever its mix of facts.

Hypothesis draws encounters across payers, sexes, ages, menopausal statuses, risk factors,
drugs (known and unknown names), documented conditions (real codes, a header, junk),
reasons, sites and VFA, exam status, billing arrangements, results on every kind of
region, history and submitted claims. Whatever comes in, the claim that comes out must be
one a payer could accept in shape: one unit a line, modifiers that make sense together and
in order, no code pair the edits forbid, pointers into the list, and findings a coder can
act on and trace to a source. The run is derandomized and database-less so CI is stable.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dexacode.contract import CodingResult, dump_result, parse_encounter
from dexacode.icd10 import normalize
from dexacode.rulebook import RuleBook, vocabulary

PAYERS = ("medicare", "medicare_advantage", "medicaid", "commercial")
SITES = vocabulary()["sites"]
RISK_FACTORS = vocabulary()["risk_factors"]
KNOWN_DRUGS = (
    "alendronate",
    "Risedronate",
    "ZOLEDRONIC ACID",
    "raloxifene",
    "bazedoxifene",
    "anastrozole",
    "letrozole",
    "exemestane",
    "estrogen",
    "denosumab",
    "teriparatide",
    "abaloparatide",
    "romosozumab",
    "calcitonin",
    "prednisone",
    "methylprednisolone",
    "dexamethasone",
)
UNKNOWN_DRUGS = ("aspirin", "metformin", "vitamin d3")
CONDITIONS = (
    "M80.08XA",
    "M8008XA",
    "M81.0",
    "m810",
    "M85.80",
    "M85.851",
    "M85.8",  # a header, not billable
    "Z87.310",
    "E21.0",
    "R29.890",
    "Z13.820",
    "Z78.0",
    "ZZZ",
    "Q99.9X",
)
REGIONS = (
    "L1-L4",
    "L2-L4",
    "L1-L3",
    "L2,L4",
    "L3",
    "total_hip",
    "femoral_neck",
    "trochanter",
    "radius_33",
    "radius_ultradistal",
    "wards",
)
CPTS = ("77080", "77081", "77085", "77086", "77078", "76977", "G0130", "99213")
SUBMITTED_MODIFIERS = ("26", "TC", "52", "53", "59", "XU", "XS", "Q5", "Q6", "GA", "GZ", "LT")

# domain-rules §2: pricing, then status, then distinct service, then substitute, then liability.
MODIFIER_RANK = {
    "26": 1,
    "TC": 1,
    "52": 2,
    "53": 2,
    "59": 3,
    "XU": 3,
    "XE": 3,
    "XS": 3,
    "XP": 3,
    "Q5": 4,
    "Q6": 4,
    "GA": 5,
    "GZ": 5,
}
AXIAL_GROUP = {"77078", "77080", "77085"}
PERIPHERAL_GROUP = {"77081", "76977", "G0130"}
SITE_SPECIFIC_LOW_MASS = re.compile(r"^M85\.8[1-9]")

FIRST_DAY = dt.date(2015, 10, 1)
LAST_DAY = dt.date(2027, 12, 31)

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# -6.00 .. 3.00 at two decimals, drawn evenly (not clustered at 0), and the WHO/ISCD borders.
BORDER_SCORES = (-1.0, -1.04, -1.05, -1.1, -2.0, -1.95, -1.94, -2.5, -2.45, -2.44, -2.4)
score = st.one_of(
    st.sampled_from(range(-600, 301)).map(lambda n: n / 100), st.sampled_from(BORDER_SCORES)
)
scores = st.one_of(score, score, score, st.none())
# Regions as scanners report them per site (most results), plus any site with any region.
REGIONS_BY_SITE = {
    "lumbar_spine": ("L1-L4", "L2-L4", "L1-L3", "L2,L4", "L3"),
    "left_hip": ("total_hip", "femoral_neck", "trochanter", "wards"),
    "right_hip": ("total_hip", "femoral_neck", "trochanter", "wards"),
    "left_forearm": ("radius_33", "radius_ultradistal"),
    "right_forearm": ("radius_33", "radius_ultradistal"),
}
coherent_site_region = st.sampled_from(
    [(site, region) for site, regions in REGIONS_BY_SITE.items() for region in regions]
)
any_site_region = st.tuples(st.sampled_from(SITES), st.sampled_from(REGIONS))
FY2026 = (dt.date(2025, 10, 1), dt.date(2026, 9, 30))  # the ICD-10-CM release loaded


@st.composite
def encounters(draw: st.DrawFn, always_submitted: bool = False) -> dict[str, Any]:
    dos = draw(st.one_of(st.dates(*FY2026), st.dates(FIRST_DAY, LAST_DAY)))
    age = draw(st.integers(20, 100))
    birth = draw(
        st.dates(
            _years_before(dos, age + 1) + dt.timedelta(days=1),
            _years_before(dos, age),
        )
    )
    sex = draw(st.sampled_from(["F", "M"]))
    status = (
        None
        if sex == "M"
        else draw(st.sampled_from([None, "premenopausal", "perimenopausal", "postmenopausal"]))
    )
    medications = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(KNOWN_DRUGS + UNKNOWN_DRUGS),
                    "status": st.sampled_from(["current", "completed"]),
                }
            ),
            max_size=3,
        )
    )
    sites = draw(st.lists(st.sampled_from(SITES), unique=True, max_size=4))
    vfa = True if not sites else draw(st.booleans())
    results = []
    for site, region in draw(
        st.lists(
            st.one_of(
                coherent_site_region, coherent_site_region, coherent_site_region, any_site_region
            ),
            min_size=draw(st.sampled_from([0, 1, 1, 2])),
            max_size=5,
        )
    ):
        results.append(
            {
                "site": site,
                "region": region,
                "bmd": draw(st.one_of(st.none(), st.integers(300, 1500).map(lambda n: n / 1000))),
                "t_score": draw(scores),
                "z_score": draw(scores),
            }
        )
    history = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "date_of_service": st.dates(FIRST_DAY, dos).map(dt.date.isoformat),
                    "cpt": st.sampled_from(CPTS),
                    "covered": st.booleans(),
                }
            ),
            max_size=3,
        )
    )
    submitted = draw(
        st.one_of(
            st.nothing() if always_submitted else st.none(),
            st.fixed_dictionaries(
                {
                    "lines": st.lists(
                        st.fixed_dictionaries(
                            {
                                "cpt": st.sampled_from(CPTS),
                                "modifiers": st.lists(
                                    st.sampled_from(SUBMITTED_MODIFIERS), max_size=5
                                ),
                                "units": st.integers(1, 3),
                            }
                        ),
                        min_size=1,
                        max_size=3,
                    ),
                    "diagnoses": st.lists(st.sampled_from(CONDITIONS), max_size=4),
                }
            ),
        )
    )
    return {
        "claim_id": "PROP-1",
        "date_of_service": dos.isoformat(),
        "payer": draw(st.sampled_from(PAYERS)),
        "patient": {
            "id": "P-PROP",
            "sex": sex,
            "birth_date": birth.isoformat(),
            "menopausal_status": status,
            "risk_factors": draw(st.lists(st.sampled_from(RISK_FACTORS), unique=True, max_size=4)),
            "medications": medications,
            "conditions": draw(st.lists(st.sampled_from(CONDITIONS), max_size=3)),
        },
        "order": {
            "reason": draw(
                st.sampled_from(
                    [
                        "screening",
                        "diagnostic",
                        "monitoring",
                        "glucocorticoid_monitoring",
                        "confirm_baseline",
                    ]
                )
            )
        },
        "exam": {
            "sites": sites,
            "vfa": vfa,
            "status": draw(st.sampled_from(["completed", "discontinued", "reduced"])),
            "will_repeat": draw(st.booleans()),
            "peripheral_reason": draw(st.sampled_from([None, "hardware in both hips"])),
        },
        "billing": {
            "claim_form": draw(st.sampled_from(["professional", "institutional"])),
            "component": draw(st.sampled_from([None, "global", "professional", "technical"])),
            "equipment_owner": draw(st.sampled_from(["billing_provider", "other"])),
            "interprets": draw(st.booleans()),
            "substitute": draw(st.sampled_from([None, "fee_for_time", "reciprocal"])),
            "substitute_days": draw(st.one_of(st.none(), st.integers(0, 120))),
            "abn_signed": draw(st.booleans()),
        },
        "results": results,
        "history": history,
        "submitted": submitted,
    }


def _check_lines(enc: dict[str, Any], result: CodingResult) -> None:
    institutional = enc["billing"]["claim_form"] == "institutional"
    n_dx = len(result.diagnoses)
    for line in result.lines:
        mods = line.modifiers
        where = f"{line.cpt} {mods}"
        assert line.units == 1, where
        assert len(mods) <= 4, where
        assert all(m in MODIFIER_RANK for m in mods), where
        ranks = [MODIFIER_RANK[m] for m in mods]
        # Strictly increasing: the order is right and no two of one kind share a line
        # (never 26 with TC, 52 with 53, Q5 with Q6, GA with GZ, or 59 with an X modifier).
        assert ranks == sorted(set(ranks)), where
        assert not {"26", "TC"} <= set(mods), where
        assert not ("59" in mods and any(m.startswith("X") for m in mods)), where
        assert not ("TC" in mods and {"Q5", "Q6"} & set(mods)), where
        if institutional:
            assert not {"26", "TC", "Q5", "Q6"} & set(mods), where
            assert line.diagnosis_pointers == [], where
        else:
            # Each professional line points to the first four diagnoses, in list order.
            assert line.diagnosis_pointers == list(range(1, min(n_dx, 4) + 1)), where
            assert all(1 <= p <= n_dx for p in line.diagnosis_pointers), where

    codes = [line.cpt for line in result.lines]
    assert len(codes) == len(set(codes)), codes
    assert not {"77080", "77086"} <= set(codes), codes
    assert not ("77085" in codes and {"77080", "77086"} & set(codes)), codes
    assert len(AXIAL_GROUP & set(codes)) <= 1, codes
    assert len(PERIPHERAL_GROUP & set(codes)) <= 1, codes

    liability = [m for line in result.lines for m in line.modifiers if m in ("GA", "GZ")]
    assert result.coverage.abn_advised == bool(liability)
    if liability:
        assert enc["payer"] == "medicare"


def _check_diagnoses(enc: dict[str, Any], result: CodingResult) -> None:
    dx = result.diagnoses
    ids = {f.id for f in result.findings}
    assert len(dx) == len(set(dx)), dx
    assert all(normalize(code) == code for code in dx), dx
    if dx == ["Z13.820"]:
        assert any(f.id == "Z13820-ALONE" and f.severity == "error" for f in result.findings)
    if not dx and result.lines:
        assert "NO-DIAGNOSIS" in ids

    conditions = [normalize(c) for c in enc["patient"]["conditions"]]
    documented_osteoporosis = any(c.startswith(("M80", "M81")) for c in conditions)
    reading_low_mass = (
        result.interpretation.category == "low_bone_mass"
        and result.interpretation.scale == "t_score"
        and not documented_osteoporosis
    )
    if reading_low_mass:
        site_specific = [c for c in dx if SITE_SPECIFIC_LOW_MASS.match(c)]
        assert site_specific, dx
        assert "M85.80" not in dx, dx


def _check_findings(result: CodingResult, book: RuleBook) -> None:
    for f in result.findings:
        assert f.message.strip(), f.id
        assert f.severity in ("error", "warning", "info"), f.id
        assert f.sources, f.id
        assert all(key in book.sources for key in f.sources), (f.id, f.sources)
    nothing = any(f.id == "NOTHING-TO-BILL" for f in result.findings)
    assert nothing == (not result.lines)


@SETTINGS
@given(enc=encounters())
def test_any_valid_encounter_codes_to_a_well_formed_claim(
    enc: dict[str, Any], code: Callable[..., CodingResult], book: RuleBook
) -> None:
    parse_encounter(enc)  # the strategy only makes valid encounters
    result = code(enc)  # never raises for a shipped payer and a date from 2015-10-01 on

    _check_lines(enc, result)
    _check_diagnoses(enc, result)
    _check_findings(result, book)

    text = dump_result(result)
    assert CodingResult.model_validate_json(text) == result
    assert dump_result(code(enc)) == text  # deterministic


@settings(SETTINGS, max_examples=150)
@given(enc=encounters(always_submitted=True))
def test_a_submitted_claim_never_changes_the_corrected_claim(
    enc: dict[str, Any], code: Callable[..., CodingResult]
) -> None:
    """`lines` and `diagnoses` are the claim the rules give; the submitted claim only adds
    findings about what differs (contract: Output)."""
    checked = code(enc)
    fresh = code({**enc, "submitted": None})
    assert checked.lines == fresh.lines
    assert checked.diagnoses == fresh.diagnoses
    assert checked.interpretation == fresh.interpretation
    assert checked.coverage == fresh.coverage
    fresh_ids = [(f.id, f.line) for f in fresh.findings]
    assert all(item in [(f.id, f.line) for f in checked.findings] for item in fresh_ids)
