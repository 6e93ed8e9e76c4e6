"""The ISCD reading: each rule on both sides of its border."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dexacode.contract import Result
from dexacode.iscd import (
    Frax,
    IscdRules,
    Precision,
    Prior,
    Subject,
    choose_spine,
    compare,
    frax_advice,
    load_iscd_rules,
    parse_iscd_rules,
    read_iscd,
    region_name,
    vfa_indication,
)
from dexacode.rulebook import RuleBook, RuleBookError, RuleSet

DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def iscd() -> IscdRules:
    return load_iscd_rules().in_force(DAY)


@pytest.fixture(scope="module")
def rules(book: RuleBook) -> RuleSet:
    return book.in_force(DAY, "medicare")


def spine(t: dict[int, float], combos: dict[str, float] | None = None) -> list[Result]:
    out = [Result(site="lumbar_spine", region=f"L{v}", bmd=0.9, t_score=s) for v, s in t.items()]
    for region, score in (combos or {}).items():
        out.append(Result(site="lumbar_spine", region=region, bmd=0.9, t_score=score))
    return out


ALL_COMBOS = {
    name: -1.0
    for name in ["L1-L4", "L1-L3", "L2-L4", "L1-L2,L4", "L1,L3-L4", "L1-L2", "L3-L4", "L2,L4"]
}


def test_exclusion_border(iscd: IscdRules) -> None:
    # L4 differs from L3 by exactly 1.0: kept (the rule is "more than 1.0").
    kept = choose_spine(spine({1: -1.0, 2: -1.0, 3: -1.0, 4: -2.0}, ALL_COMBOS), iscd.exclusion)
    assert kept.region == "L1-L4" and kept.excluded == ()
    # 1.1: excluded.
    out = choose_spine(spine({1: -1.0, 2: -1.0, 3: -1.0, 4: -2.1}, ALL_COMBOS), iscd.exclusion)
    assert out.region == "L1-L3"
    assert [e.vertebra for e in out.excluded] == [4]


def test_inner_outlier_goes_first(iscd: IscdRules) -> None:
    # L3 differs from both neighbours; L4 differs only from L3: only L3 is excluded.
    out = choose_spine(spine({1: -2.2, 2: -2.1, 3: -0.6, 4: -2.4}, ALL_COMBOS), iscd.exclusion)
    assert out.region == "L1-L2,L4"
    assert [e.vertebra for e in out.excluded] == [3]


def test_never_fewer_than_two(iscd: IscdRules) -> None:
    out = choose_spine(spine({1: 0.5, 2: -1.0, 3: 0.5, 4: -1.0}, ALL_COMBOS), iscd.exclusion)
    assert len(out.vertebrae) >= 2
    two = choose_spine(
        spine({1: -1.0, 2: -1.0}, {"L1-L2": -1.0}), iscd.exclusion, excluded_by_reader=[2, 3, 4]
    )
    assert two.region is None and "never a single vertebra" in two.notes[0]


def test_region_not_printed_is_not_guessed(iscd: IscdRules) -> None:
    # GE prints only contiguous combinations: L1,L3-L4 after excluding L2 is not there.
    out = choose_spine(spine({1: -1.0, 2: 0.5, 3: -1.0, 4: -1.0}, {"L1-L4": -0.6}), iscd.exclusion)
    assert out.region is None and out.result is None
    assert "does not print L1,L3-L4" in out.notes[0]


def test_region_name() -> None:
    assert region_name((1, 2, 4)) == "L1-L2,L4"
    assert region_name((1, 3)) == "L1,L3"
    assert region_name((2, 3, 4)) == "L2-L4"


DEVICE = "Hologic Horizon W (S/N 300002M)"  # both studies on one device


def prior(bmd: float, *, scanner: str | None = None) -> Prior:
    return Prior(
        dt.date(2024, 3, 1),
        [Result(site="left_hip", region="total_hip", bmd=bmd)],
        scanner,
        DEVICE,
    )


def now(bmd: float) -> list[Result]:
    return [Result(site="left_hip", region="total_hip", bmd=bmd, t_score=-1.0)]


@pytest.mark.parametrize(
    ("current", "verdict"),
    [(0.972, "significant_loss"), (0.973, "stable"), (1.028, "significant_gain")],
)
def test_lsc_grams(iscd: IscdRules, current: float, verdict: str) -> None:
    # LSC = 2.77 x 0.010 = 0.0277 g/cm²: 0.028 is significant, 0.027 is not.
    precision = {"total_hip": Precision(value=0.010, unit="g/cm2")}
    got = compare(
        now(current), prior(1.000), iscd, precision=precision, spine_region=None, device=DEVICE
    )
    assert got.changes[0].verdict == verdict


@pytest.mark.parametrize(("current", "verdict"), [(0.9723, "significant_loss"), (0.9724, "stable")])
def test_lsc_percent_equal_is_significant(iscd: IscdRules, current: float, verdict: str) -> None:
    # 1.0 % CV -> LSC 2.77 %: a change of exactly 2.77 % "equals or exceeds" it.
    precision = {"total_hip": Precision(value=1.0, unit="%")}
    got = compare(
        now(current), prior(1.000), iscd, precision=precision, spine_region=None, device=DEVICE
    )
    assert got.changes[0].verdict == verdict


def test_lsc_default_and_other_scanner(iscd: IscdRules) -> None:
    got = compare(now(0.940), prior(1.000), iscd, precision={}, spine_region=None, device=DEVICE)
    change = got.changes[0]
    assert change.precision_default and change.lsc_percent == pytest.approx(4.986)
    assert change.verdict == "significant_loss"
    other = compare(
        now(0.940),
        prior(1.000, scanner="lunar"),
        iscd,
        precision={},
        spine_region=None,
        scanner="hologic",
        device=DEVICE,
    )
    assert other.changes[0].verdict == "not_judged"
    assert "cross-calibration" in other.notes[0]


def subject(**kw: Any) -> Subject:
    base: dict[str, Any] = dict(
        age=65,
        sex="F",
        height_loss_cm=0.0,
        glucocorticoid_mg_per_day=0.0,
        glucocorticoid_months=0.0,
    )
    base.update(kw)
    return Subject(**base)


@pytest.mark.parametrize(
    ("t", "kw", "indicated"),
    [
        (-1.1, {"age": 70}, True),
        (-1.0, {"age": 70}, False),  # T must be below -1.0
        (-1.1, {"age": 69}, False),
        (-1.1, {"sex": "M", "age": 80}, True),
        (-1.1, {"sex": "M", "age": 79}, False),
        (-1.1, {"height_loss_cm": 4.1}, True),
        (-1.1, {"height_loss_cm": 4.0}, False),  # more than 4 cm
        (-1.1, {"glucocorticoid_mg_per_day": 5.0, "glucocorticoid_months": 3}, True),
        (-1.1, {"glucocorticoid_mg_per_day": 4.9, "glucocorticoid_months": 12}, False),
        (-1.1, {"glucocorticoid_mg_per_day": 10.0, "glucocorticoid_months": 2.9}, False),
        (-1.1, {"vertebral_fracture_reported": True}, True),
    ],
)
def test_vfa(iscd: IscdRules, t: float, kw: dict[str, Any], indicated: bool) -> None:
    assert vfa_indication(t, subject(**kw), iscd.vfa).indicated is indicated


def test_vfa_unknowns_are_said(iscd: IscdRules) -> None:
    got = vfa_indication(-1.5, Subject(age=60, sex="F"), iscd.vfa)
    assert got.indicated is False
    assert "historical height loss" in got.unknown


@pytest.mark.parametrize(
    ("major", "hip", "met"),
    [(20.0, None, True), (19.9, None, False), (None, 3.0, True), (10.0, 2.9, False)],
)
def test_frax_thresholds(
    iscd: IscdRules, major: float | None, hip: float | None, met: bool
) -> None:
    advice = frax_advice("low_bone_mass", "t_score", Frax(major=major, hip=hip), iscd.frax)
    assert advice.applies and advice.threshold_met is met


def test_frax_only_in_low_bone_mass(iscd: IscdRules) -> None:
    assert not frax_advice("normal", "t_score", Frax(major=30.0), iscd.frax).applies
    assert not frax_advice("low_bone_mass", "z_score", Frax(major=30.0), iscd.frax).applies
    assert frax_advice("low_bone_mass", "t_score", None, iscd.frax).sentence.startswith("No FRAX")


def test_reading_forearm_only_where_allowed(iscd: IscdRules, rules: RuleSet) -> None:
    results = [
        Result(site="lumbar_spine", region="L1-L4", bmd=0.9, t_score=-1.2),
        Result(site="left_hip", region="total_hip", bmd=0.9, t_score=-1.4),
        Result(site="left_hip", region="total_hip_mean", bmd=0.8, t_score=-3.0),
        Result(site="left_forearm", region="radius_33", bmd=0.6, t_score=-2.7),
    ]
    plain = read_iscd(results, Subject(), rules, iscd)
    assert plain.category == "low_bone_mass" and not plain.forearm_used
    assert plain.lowest is not None and plain.lowest.result.region == "total_hip"
    hpt = read_iscd(results, Subject(hyperparathyroidism=True), rules, iscd)
    assert hpt.category == "osteoporosis" and hpt.forearm_used
    no_hip = read_iscd([results[0], results[3]], Subject(), rules, iscd)
    assert no_hip.forearm_used


def test_reading_z_scores_for_the_young(iscd: IscdRules, rules: RuleSet) -> None:
    results = [Result(site="lumbar_spine", region="L1-L4", bmd=0.8, t_score=-2.8, z_score=-2.0)]
    got = read_iscd(results, Subject(scale="z_score", age=40, sex="F"), rules, iscd)
    assert got.category == "below_expected_range_for_age"
    assert any("WHO categories do not apply" in s for s in got.sentences)


def test_rules_are_validated() -> None:
    book = load_iscd_rules()
    assert book.in_force(DAY).lsc.multiplier == 2.77
    data = {
        "vertebral_exclusion": {
            "max_t_difference": 1.0,
            "min_vertebrae": 2,
            "vertebrae": [1, 2, 3, 4],
            "effective": dt.date(2015, 10, 1),
            "source": "nowhere",
        }
    }
    with pytest.raises(RuleBookError):
        parse_iscd_rules(data, ["iscd"], dt.date(2015, 10, 1))
    for row in book.rows():
        assert set(row.source) <= {"iscd", "bhof"}
