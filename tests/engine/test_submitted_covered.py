"""A coder's submitted claim is checked against the payer's covered-diagnosis list by the
diagnoses its own lines point to, not only the claim dexacode would have coded."""

from __future__ import annotations

from collections.abc import Callable

from dexacode.contract import CodingResult

Code = Callable[..., CodingResult]


def _covered(result: CodingResult) -> list[str]:
    return [f.message for f in result.findings if f.id == "COVERED-DX"]


def test_a_submitted_claim_whose_diagnoses_miss_the_list_is_an_error(code: Code) -> None:
    # A postmenopausal Medicare woman: dexacode codes Z13.820 + Z78.0 (on the starter list);
    # the coder billed Z13.820 + Z13.89, neither of which is.
    result = code(submitted={"lines": [{"cpt": "77080"}], "diagnoses": ["Z13.820", "Z13.89"]})
    assert "Z78.0" in result.diagnoses
    (message,) = _covered(result)
    assert "Z13.89" in message and "77080" in message
    assert result.has_errors


def test_a_submitted_claim_with_the_coded_diagnoses_is_clean_of_it(code: Code) -> None:
    coded = code()
    result = code(submitted={"lines": [{"cpt": "77080"}], "diagnoses": coded.diagnoses})
    assert _covered(result) == []


def test_a_line_is_judged_by_the_diagnoses_it_points_to(code: Code) -> None:
    # Z78.0 is on the claim, but the line points only at Z13.820.
    submitted = {
        "lines": [{"cpt": "77080", "diagnosis_pointers": [1]}],
        "diagnoses": ["Z13.820", "Z78.0"],
    }
    (message,) = _covered(code(submitted=submitted))
    assert "none of the claim's diagnoses (Z13.820) is on it" in message


def test_the_same_problem_on_both_claims_is_said_once(code: Code) -> None:
    man = {
        "patient__sex": "M",
        "patient__birth_date": "1954-02-01",
        "patient__menopausal_status": None,
    }
    coded = code(**man)
    assert coded.diagnoses == ["Z13.820"]
    result = code(**man, submitted={"lines": [{"cpt": "77080"}], "diagnoses": ["Z13.820"]})
    assert len(_covered(result)) == 1


def test_a_payer_without_a_list_is_not_judged_on_the_submitted_claim(code: Code) -> None:
    result = code(
        payer="commercial",
        submitted={"lines": [{"cpt": "77080"}], "diagnoses": ["Z13.820", "Z13.89"]},
    )
    assert _covered(result) == []
