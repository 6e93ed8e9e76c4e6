"""Reading the results (domain-rules §3): score rounding, vertebral ranges, and what the
scenario table (tests/cases/reading.toml) cannot express — the deciding region shown to the
coder (interpretation.basis) and the wording of the findings a coder acts on.

Rounding oracles here use integer arithmetic on the digits as a scanner prints them, not
the engine's Decimal code, so a wrong rounding mode or a binary-float shortcut shows up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dexacode.contract import CodingResult
from dexacode.engine.interpret import round_score, vertebrae
from tests.conftest import make_encounter

Code = Callable[..., CodingResult]
FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def _printed(units: int, decimals: int) -> float:
    """The float a scanner's text gives for ``units`` / 10**decimals (e.g. -245, 2 -> -2.45)."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), int(10**decimals))
    return float(f"{sign}{whole}.{frac:0{decimals}d}")


def _half_away_tenths(units: int, decimals: int) -> float:
    """Independent oracle: round |units| half up to tenths in integers, then restore the sign."""
    step = int(10 ** (decimals - 1))
    tenths = (abs(units) + step // 2) // step
    return (-tenths if units < 0 else tenths) / 10


# --- round_score -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        (-2.45, -2.5),  # osteoporosis, not low bone mass
        (-2.44, -2.4),
        (-1.95, -2.0),  # a binary float would give -1.9
        (-1.94, -1.9),
        (-1.04, -1.0),  # normal
        (-1.05, -1.1),  # low bone mass
        (-2.5, -2.5),
        (-1.0, -1.0),
        (1.05, 1.1),  # away from zero on the positive side too
        (1.04, 1.0),
        (0.05, 0.1),
        (-0.05, -0.1),
        (-0.04, 0.0),
        (0.0, 0.0),
        (-2.449, -2.4),  # only the first dropped digit decides
        (-2.4500001, -2.5),
        (-10.0, -10.0),
        (9.95, 10.0),
    ],
)
def test_round_score_half_away_from_zero_on_the_printed_decimal(
    printed: float, expected: float
) -> None:
    assert round_score(printed) == expected


def test_round_score_does_not_use_bankers_rounding() -> None:
    # Python's round() rounds halves to even: round(0.25, 1) == 0.2, round(-2.25, 1) == -2.2.
    assert round_score(0.25) == 0.3
    assert round_score(-2.25) == -2.3
    assert round_score(-2.35) == -2.4


@FAST
@given(st.integers(min_value=-1000, max_value=1000))
def test_round_score_two_decimals_matches_integer_oracle(hundredths: int) -> None:
    assert round_score(_printed(hundredths, 2)) == _half_away_tenths(hundredths, 2)


@FAST
@given(st.integers(min_value=-10000, max_value=10000))
def test_round_score_three_decimals_matches_integer_oracle(thousandths: int) -> None:
    assert round_score(_printed(thousandths, 3)) == _half_away_tenths(thousandths, 3)


@FAST
@given(st.floats(min_value=-10.0, max_value=10.0, allow_nan=False))
def test_round_score_is_symmetric_idempotent_and_close(x: float) -> None:
    r = round_score(x)
    assert round_score(-x) == -r
    assert round_score(r) == r
    assert abs(r - x) <= 0.05 + 1e-9
    assert r == round(r, 1)


@FAST
@given(
    st.floats(min_value=-10.0, max_value=10.0, allow_nan=False),
    st.floats(min_value=-10.0, max_value=10.0, allow_nan=False),
)
def test_round_score_keeps_order(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert round_score(low) <= round_score(high)


# --- vertebrae -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("L1-L4", (1, 2, 3, 4)),
        ("L1-L3", (1, 2, 3)),
        ("L2-L4", (2, 3, 4)),
        ("L3-L4", (3, 4)),
        ("L2,L4", (2, 4)),
        ("L4,L2", (2, 4)),
        ("L1,L2,L4", (1, 2, 4)),
        ("L1, L3", (1, 3)),
        ("L1,L2-L4", (1, 2, 3, 4)),
        ("L2,L2", (2,)),
        ("L3", (3,)),
        ("l1-l4", (1, 2, 3, 4)),
        ("L5", (5,)),
    ],
)
def test_vertebrae_reads_ranges_and_lists(region: str, expected: tuple[int, ...]) -> None:
    assert vertebrae(region) == expected


@pytest.mark.parametrize(
    "region",
    [
        "",
        "total_hip",
        "femoral_neck",
        "radius_33",
        "L4-L1",  # backwards
        "L0",
        "L6",
        "L1-L6",
        "T12-L4",  # thoracic vertebrae are not lumbar
        "L1-",
        "L1-L4,",
        ",L2",
        "L1-L2-L3",
        "L1 to L4",
    ],
)
def test_vertebrae_rejects_what_is_not_a_lumbar_region(region: str) -> None:
    assert vertebrae(region) is None


@FAST
@given(st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=5))
def test_vertebrae_of_any_range(a: int, b: int) -> None:
    first, last = sorted((a, b))
    assert vertebrae(f"L{first}-L{last}") == tuple(range(first, last + 1))


@FAST
@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=5, unique=True))
def test_vertebrae_of_any_list_in_any_order(numbers: list[int]) -> None:
    region = ",".join(f"L{n}" for n in numbers)
    assert vertebrae(region) == tuple(sorted(numbers))


# --- The deciding region shown to the coder (interpretation.basis) --------------------------


def _basis(result: CodingResult) -> tuple[str, str, float | None, float | None]:
    basis = result.interpretation.basis
    assert basis is not None, "no basis"
    return basis.site, basis.region, basis.t_score, basis.z_score


def _results(*rows: tuple[str, str, float | None, float | None]) -> list[dict[str, Any]]:
    return [{"site": s, "region": r, "t_score": t, "z_score": z} for s, r, t, z in rows]


def test_basis_is_l1_l4_not_a_lower_shorter_combination(code: Code) -> None:
    result = code(
        results=_results(
            ("lumbar_spine", "L2-L4", -2.9, -1.5),
            ("lumbar_spine", "L1-L4", -2.1, -1.0),
            ("lumbar_spine", "L4", -3.5, -2.5),
            ("left_hip", "total_hip", -1.2, 0.1),
        )
    )
    assert _basis(result) == ("lumbar_spine", "L1-L4", -2.1, -1.0)
    assert result.interpretation.category == "low_bone_mass"


def test_basis_without_l1_l4_is_l1_l3_over_l2_l4(code: Code) -> None:
    result = code(
        results=_results(
            ("lumbar_spine", "L2-L4", -2.9, None),
            ("lumbar_spine", "L1-L3", -1.4, None),
        )
    )
    assert _basis(result)[:3] == ("lumbar_spine", "L1-L3", -1.4)


def test_basis_is_the_lowest_diagnostic_region_and_names_its_site(code: Code) -> None:
    result = code(
        exam__sites=["lumbar_spine", "left_hip", "right_hip"],
        results=_results(
            ("lumbar_spine", "L1-L4", -1.3, None),
            ("left_hip", "total_hip", -1.9, None),
            ("right_hip", "femoral_neck", -2.2, None),
            ("right_hip", "trochanter", -3.1, None),
        ),
    )
    assert _basis(result)[:3] == ("right_hip", "femoral_neck", -2.2)
    assert result.diagnoses == ["Z13.820", "M85.89", "Z78.0"]


def test_basis_one_third_radius(code: Code) -> None:
    result = code(
        exam__sites=["left_forearm"],
        results=_results(
            ("left_forearm", "radius_ultradistal", -3.4, None),
            ("left_forearm", "radius_33", -2.6, None),
        ),
    )
    assert _basis(result)[:3] == ("left_forearm", "radius_33", -2.6)
    assert result.interpretation.category == "osteoporosis"


def test_basis_shows_the_rounded_score(code: Code) -> None:
    result = code(results=_results(("lumbar_spine", "L1-L4", -2.45, -1.95)))
    assert _basis(result) == ("lumbar_spine", "L1-L4", -2.5, -2.0)
    assert result.interpretation.category == "osteoporosis"


def test_basis_on_the_z_scale_is_the_lowest_z_not_the_lowest_t(code: Code) -> None:
    result = code(
        patient__menopausal_status="premenopausal",
        patient__birth_date="1981-06-01",
        results=_results(
            ("lumbar_spine", "L1-L4", -2.8, -1.0),
            ("left_hip", "femoral_neck", -1.6, -2.04),
        ),
    )
    assert result.interpretation.scale == "z_score"
    assert _basis(result) == ("left_hip", "femoral_neck", -1.6, -2.0)
    assert result.interpretation.category == "below_expected_range_for_age"
    assert not {"M81.0", "M85.852", "M85.88"} & set(result.diagnoses)


def test_no_basis_without_a_diagnostic_result(code: Code) -> None:
    result = code(results=_results(("lumbar_spine", "L3", -3.0, None)))
    assert result.interpretation.basis is None
    assert result.interpretation.category is None


def test_l1_l4_without_the_score_is_not_replaced_by_a_lower_pair(code: Code) -> None:
    # domain-rules §3: "L1-L4 when present ... only that one region counts".
    result = code(
        exam__sites=["lumbar_spine", "right_hip"],
        results=_results(
            ("lumbar_spine", "L1-L4", None, None),
            ("lumbar_spine", "L3-L4", -2.8, None),
            ("right_hip", "total_hip", -0.5, None),
        ),
    )
    assert _basis(result)[:3] == ("right_hip", "total_hip", -0.5)
    assert result.interpretation.category == "normal"
    assert "M81.0" not in result.diagnoses
    found = _finding(result, "LUMBAR-SCORE-MISSING")
    assert found.severity == "error"
    assert "L1-L4" in found.message and "t-score" in found.message


def test_l1_l4_on_the_other_scale_only_leaves_the_spine_out_of_a_z_reading(code: Code) -> None:
    # The generated claim C-3-3686 (seed 3): L1-L4 has a T but no Z; L3-L4 Z -2.4.
    result = code(
        patient__menopausal_status="premenopausal",
        patient__birth_date="1979-12-07",
        results=_results(
            ("lumbar_spine", "L1-L4", -2.0, None),
            ("lumbar_spine", "L3-L4", -2.9, -2.4),
            ("left_hip", "femoral_neck", -2.3, -1.7),
            ("left_hip", "total_hip", -2.3, -1.9),
        ),
    )
    assert result.interpretation.scale == "z_score"
    assert _basis(result) == ("left_hip", "total_hip", -2.3, -1.9)
    assert result.interpretation.category == "within_expected_range_for_age"
    assert "z-score" in _finding(result, "LUMBAR-SCORE-MISSING").message


def test_l1_l4_listed_twice_uses_the_row_with_the_score(code: Code) -> None:
    result = code(
        results=_results(
            ("lumbar_spine", "L1-L4", None, None),
            ("lumbar_spine", "L1-L4", -1.6, None),
            ("lumbar_spine", "L2-L4", -3.0, None),
        )
    )
    assert _basis(result)[:3] == ("lumbar_spine", "L1-L4", -1.6)
    assert "LUMBAR-SCORE-MISSING" not in [f.id for f in result.findings]


def test_a_result_of_an_unmeasured_site_never_decides(code: Code) -> None:
    result = code(
        exam__sites=["lumbar_spine", "right_hip"],
        results=_results(
            ("lumbar_spine", "L1-L4", -0.4, None),
            ("right_hip", "total_hip", -0.5, None),
            ("left_forearm", "radius_33", -3.0, None),
            ("left_heel", "calcaneus", -2.0, None),
        ),
    )
    assert _basis(result)[:3] == ("right_hip", "total_hip", -0.5)
    assert result.interpretation.category == "normal"
    assert "M81.0" not in result.diagnoses
    assert [line.cpt for line in result.lines] == ["77080"]
    found = _finding(result, "RESULT-SITE-NOT-MEASURED")
    assert found.severity == "error"
    # One finding names every unmeasured site, and the sites the exam lists.
    assert "left_forearm and left_heel" in found.message
    assert "lumbar_spine and right_hip" in found.message


def test_unknown_sites_do_not_filter_results(code: Code) -> None:
    # An input that cannot carry exam.sites (an 837) has placeholders there: its results,
    # if any, are not judged against them, and NOT-JUDGED names the rule.
    result = code(
        exam__sites=["lumbar_spine"],
        unknown=["exam.sites"],
        results=_results(("left_hip", "total_hip", -2.6, None)),
    )
    assert result.interpretation.category == "osteoporosis"
    assert "RESULT-SITE-NOT-MEASURED" not in [f.id for f in result.findings]
    assert "RESULT-SITE-NOT-MEASURED" in _finding(result, "NOT-JUDGED").message


# --- What the findings say ------------------------------------------------------------------


def _finding(result: CodingResult, finding_id: str) -> Any:
    found = [f for f in result.findings if f.id == finding_id]
    assert len(found) == 1, f"{finding_id}: {[f.id for f in result.findings]}"
    return found[0]


@pytest.mark.parametrize(("t_score", "shown"), [(-2.45, "-2.5"), (1.06, "+1.1")])
def test_who_border_names_the_score_and_the_category(
    code: Code, t_score: float, shown: str
) -> None:
    result = code(results=_results(("lumbar_spine", "L1-L4", t_score, None)))
    text = _finding(result, "WHO-BORDER").message
    assert shown in text
    assert result.interpretation.label is not None
    assert result.interpretation.label in text


def test_menopause_unknown_says_nothing_was_assumed(code: Code) -> None:
    result = code(patient__menopausal_status=None)
    found = _finding(result, "MENOPAUSE-UNKNOWN")
    assert "Z78.0" in found.message
    assert "Z78.0" not in result.diagnoses
    assert result.coverage.medicare_category is None


@pytest.mark.parametrize("payer", ["medicare", "medicare_advantage", "medicaid", "commercial"])
def test_z13820_alone_lists_the_facts_that_would_supply_a_reason(code: Code, payer: str) -> None:
    # A 72-year-old man, screening, normal results, no facts: the claim has Z13.820 only.
    enc = make_encounter(
        payer=payer,
        patient__sex="M",
        patient__birth_date="1954-01-15",
        patient__menopausal_status=None,
    )
    result = code(enc)
    assert result.diagnoses == ["Z13.820"]
    found = _finding(result, "Z13820-ALONE")
    assert found.severity == "error"
    text = f"{found.message} {found.action}"
    for supplier in ("Z82.62", "Z87.310", "Z79.52", "Z79.83", "E21.0", "R93.7"):
        assert supplier in text, f"{supplier} not named: {text}"
    assert "M81.0" in text
    # A man has no menopausal state to document: Z78.0 is not offered to him.
    assert "Z78.0" not in text
    woman = code(
        make_encounter(
            payer=payer, patient__menopausal_status=None, patient__birth_date="1954-01-15"
        )
    )
    if woman.diagnoses == ["Z13.820"]:
        assert "Z78.0" in _finding(woman, "Z13820-ALONE").message


def test_no_diagnosis_tells_what_to_document(code: Code) -> None:
    result = code(
        payer="commercial",
        order__reason="diagnostic",
        patient__sex="M",
        patient__birth_date="1954-01-15",
        patient__menopausal_status=None,
    )
    assert result.diagnoses == []
    found = _finding(result, "NO-DIAGNOSIS")
    assert found.severity == "error"
    assert "risk factor" in f"{found.message} {found.action}"
    assert "corrected claim has no valid, billable diagnosis" in found.message
    assert "(the record supports" not in found.action  # it supports none


def test_diagnosis_limit_names_what_was_left_off(code: Code) -> None:
    result = code(
        payer="commercial",
        patient__risk_factors=[
            "family_history_osteoporosis",
            "fragility_fracture_history",
            "glucocorticoid_therapy",
            "bilateral_oophorectomy",
            "primary_hyperparathyroidism",
            "vertebral_abnormality_on_xray",
        ],
        patient__medications=[
            {"name": n, "status": "current"}
            for n in ("alendronate", "raloxifene", "anastrozole", "denosumab")
        ],
        patient__conditions=["E55.9"],
        results=_results(("lumbar_spine", "L1-L4", -2.7, None)),
    )
    assert len(result.diagnoses) == 12
    text = _finding(result, "DIAGNOSIS-LIMIT").message
    assert "R93.7" in text and "E55.9" in text
    assert "14" in text and "12" in text


@pytest.mark.parametrize("risk_factors", [[], ["bilateral_oophorectomy"]])
def test_menopause_unknown_never_contradicts_the_category_reported(
    code: Code, risk_factors: list[str]
) -> None:
    """Menopause is not assumed; a category from an oophorectomy still stands, and the
    warning must not say that no category was given."""
    result = code(
        make_encounter(patient__menopausal_status=None, patient__risk_factors=risk_factors)
    )
    (warning,) = [f for f in result.findings if f.id == "MENOPAUSE-UNKNOWN"]
    assert "Z78.0" not in result.diagnoses
    assert "Menopause was not assumed" in warning.message
    assert "no Medicare estrogen-deficiency category was assumed" not in warning.message
    category = result.coverage.medicare_category
    assert category == ("estrogen_deficient_woman" if risk_factors else None)
