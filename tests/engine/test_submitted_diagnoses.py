"""A submitted claim's diagnosis list: what the coder is told when it is empty."""

from __future__ import annotations

from collections.abc import Callable

from dexacode.contract import CodingResult


def test_an_empty_submitted_list_is_told_which_codes_to_add(
    code: Callable[..., CodingResult],
) -> None:
    result = code(submitted={"lines": [{"cpt": "77080"}], "diagnoses": []})
    (finding,) = [f for f in result.findings if f.id == "NO-DIAGNOSIS"]
    assert finding.severity == "error"
    assert "submitted claim has no valid, billable diagnosis" in finding.message
    assert result.diagnoses  # the record supports some: the action names every one
    for dx in result.diagnoses:
        assert dx in finding.action


def test_a_submitted_list_of_invalid_codes_is_told_the_same(
    code: Callable[..., CodingResult],
) -> None:
    # M81 is a category, not a billable code: the list has a code but none that counts.
    result = code(submitted={"lines": [{"cpt": "77080"}], "diagnoses": ["M81"]})
    ids = [f.id for f in result.findings]
    assert "ICD10-NOT-BILLABLE" in ids or "ICD10-INVALID" in ids
    (finding,) = [f for f in result.findings if f.id == "NO-DIAGNOSIS"]
    assert "no valid, billable diagnosis" in finding.message
