"""The rule-by-rule scenario table: tests/cases/*.toml, run through the engine.

Each case starts from the clean encounter in conftest.BASE (a 70-year-old postmenopausal
woman, Medicare, screening, spine and left hip, normal results, global professional
claim) and changes a few facts:

    [[case]]
    name = "axial DXA with VFA is one 77085 line"
    rule = "PTP-AXIAL-VFA"                # the rule id (or topic) the case is about
    [case.given]                          # dotted paths into the encounter
    "exam.vfa" = true
    "results" = []                        # whole values replace
    unset = ["patient.menopausal_status"] # paths set to null (TOML has no null)
    [case.expect]
    lines = [["77085", []]]               # every line: cpt and modifiers in order
    findings_include = ["PTP-AXIAL-VFA"]
    findings_exclude = ["LINE-MISSING"]
    diagnoses = ["Z13.820", "Z78.0"]      # the exact ordered list
    diagnoses_include = [] / diagnoses_exclude = []
    category = "normal"                   # interpretation.category
    scale = "t_score"
    basis = "left_hip femoral_neck"       # interpretation.basis as "site region"
    read = ["lumbar_spine L1-L4"]         # interpretation.results_read, in order
    medicare_category = "..."; guideline_indicated = true; next_eligible_date = "2026-12-01"
    null = ["category", "medicare_category", "next_eligible_date", "guideline_indicated"]
    severity = { FREQUENCY = "warning" }  # severity of findings by id
    finding_lines = { FREQUENCY = ["77080"] }  # the lines a finding names
    pointers = [1, 2, 3, 4]               # diagnosis pointers of every line
    abn_advised = true
    error = "exam.sites"                  # the input must be refused, naming this field
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from dexacode.contract import CodingResult, ContractError
from dexacode.rulebook import InputError
from tests.conftest import REPO_ROOT, make_encounter

CASES = REPO_ROOT / "tests" / "cases"

_KNOWN_EXPECT = {
    "lines",
    "findings_include",
    "findings_exclude",
    "diagnoses",
    "diagnoses_include",
    "diagnoses_exclude",
    "category",
    "basis",
    "read",
    "scale",
    "medicare_category",
    "guideline_indicated",
    "next_eligible_date",
    "null",
    "severity",
    "finding_lines",
    "pointers",
    "abn_advised",
    "error",
}


def _load() -> list[Any]:
    cases = []
    for path in sorted(CASES.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for i, case in enumerate(data.get("case", [])):
            unknown = set(case.get("expect", {})) - _KNOWN_EXPECT
            assert not unknown, f"{path.name} case {i + 1}: unknown expect keys {unknown}"
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


def _build(given: dict[str, Any]) -> dict[str, Any]:
    changes = {k.replace(".", "__"): v for k, v in given.items() if k != "unset"}
    for path in given.get("unset", []):
        changes[path.replace(".", "__")] = None
    return make_encounter(**changes)


def _value(result: CodingResult, key: str) -> Any:
    if key in ("category", "scale"):
        return getattr(result.interpretation, key)
    value = getattr(result.coverage, key)
    return value.isoformat() if hasattr(value, "isoformat") else value


@pytest.mark.parametrize("case", _load())
def test_case(case: dict[str, Any], code: Callable[..., CodingResult]) -> None:
    expect = case["expect"]
    enc = _build(case.get("given", {}))
    if "error" in expect:
        with pytest.raises((ContractError, InputError)) as caught:
            code(enc)
        assert expect["error"] in str(caught.value)
        return
    result = code(enc)
    found = [f.id for f in result.findings]
    got_lines = [(x.cpt, x.modifiers) for x in result.lines]
    context = f"lines={got_lines} dx={result.diagnoses} findings={found}"
    if "lines" in expect:
        got = [[line.cpt, line.modifiers] for line in result.lines]
        assert got == [[c, list(m)] for c, m in expect["lines"]], context
        assert all(line.units == 1 for line in result.lines)
    for fid in expect.get("findings_include", []):
        assert fid in found, f"{fid} expected; {context}"
    for fid in expect.get("findings_exclude", []):
        assert fid not in found, f"{fid} must not be raised; {context}"
    if "diagnoses" in expect:
        assert result.diagnoses == expect["diagnoses"], context
    for dx in expect.get("diagnoses_include", []):
        assert dx in result.diagnoses, context
    for dx in expect.get("diagnoses_exclude", []):
        assert dx not in result.diagnoses, context
    for key in (
        "category",
        "scale",
        "medicare_category",
        "guideline_indicated",
        "next_eligible_date",
    ):
        if key in expect:
            assert _value(result, key) == expect[key], f"{key}; {context}"
    for key in expect.get("null", []):
        assert _value(result, key) is None, f"{key} should be null; {context}"
    for fid, severity in expect.get("severity", {}).items():
        assert {f.severity for f in result.findings if f.id == fid} == {severity}, context
    for fid, on in expect.get("finding_lines", {}).items():
        assert sorted(f.line or "" for f in result.findings if f.id == fid) == sorted(on), context
    # The results the reading weighed, as "site region", in the engine's order; the basis
    # is the one that decided.
    if "read" in expect:
        read = [f"{b.site} {b.region}" for b in result.interpretation.results_read]
        assert read == expect["read"], context
    if "basis" in expect:
        basis = result.interpretation.basis
        assert basis is not None and f"{basis.site} {basis.region}" == expect["basis"], context
    if "pointers" in expect:
        assert all(line.diagnosis_pointers == expect["pointers"] for line in result.lines), context
    if "abn_advised" in expect:
        assert result.coverage.abn_advised is expect["abn_advised"], context
    # Whatever the case: every finding explains itself and cites a source.
    assert all(f.message and f.sources for f in result.findings)


def test_case_table_is_not_empty() -> None:
    assert len(_load()) > 0, f"no cases under {CASES}"
