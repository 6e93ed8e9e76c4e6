"""What a coder reads on a checked claim, where the scenario table (tests/cases/
submitted_audit.toml) can only name findings: a finding's advice must agree with the
corrected claim it stands beside (contract: every difference is explained, none is
contradicted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dexacode.contract import CodingResult
from tests.conftest import finding, ids, lines
from tests.engine.test_modifiers import submitted

Code = Callable[..., CodingResult]
AXIAL_PERIPHERAL = ["lumbar_spine", "left_forearm"]


# --- pair edits: no advice to keep or add a code the exam does not support ----------------


def test_no_vfa_77080_with_77085_is_told_to_remove_77085(code: Code) -> None:
    result = code(submitted=submitted(("77080", []), ("77085", [])))
    assert lines(result) == [("77080", [])]
    extra = finding(result, "LINE-EXTRA")
    assert extra.line == "77085" and "Remove the 77085 line" in extra.message
    # Nothing says to keep 77085 or to remove 77080.
    assert not [f.id for f in result.findings if "77085" in f.message and f.id != "LINE-EXTRA"]
    assert not [f.id for f in result.findings if "Remove the 77080" in f.message]


def test_no_vfa_77080_with_77086_is_not_told_to_bill_77085(code: Code) -> None:
    result = code(submitted=submitted(("77080", []), ("77086", [])))
    assert lines(result) == [("77080", [])]
    extra = finding(result, "LINE-EXTRA")
    assert extra.line == "77086" and "Remove the 77086 line" in extra.message
    assert not [f.id for f in result.findings if "77085" in f.message]


def test_vfa_done_77080_with_77086_still_says_report_77085(code: Code) -> None:
    result = code(exam__vfa=True, submitted=submitted(("77080", []), ("77086", [])))
    assert lines(result) == [("77085", [])]
    assert "one 77085 line" in finding(result, "PTP-AXIAL-VFA").message


# --- a distinct-service modifier that only overflowed -----------------------------------------

OVERFLOWED: dict[str, Any] = {
    "patient__sex": "M",
    "patient__menopausal_status": None,
    "billing__equipment_owner": "other",
    "billing__substitute": "reciprocal",
    "exam__status": "discontinued",
    "exam__sites": AXIAL_PERIPHERAL,
}


def test_an_overflowed_xu_is_not_to_be_removed(code: Code) -> None:
    result = code(
        **OVERFLOWED,
        submitted=submitted(
            ("77080", ["26", "53", "XU", "Q5", "GZ"]),
            ("77081", ["26", "53", "Q5", "GZ"]),
            dx=["Z13.820"],
        ),
    )
    overflow = finding(result, "MODIFIER-OVERFLOW")
    assert "XU" in overflow.message
    assert not [f.id for f in result.findings if "Remove XU" in f.message]


def test_59_where_the_overflowed_modifier_is_xu_names_xu(code: Code) -> None:
    result = code(
        **OVERFLOWED,
        submitted=submitted(
            ("77080", ["26", "53", "59", "Q5", "GZ"]),
            ("77081", ["26", "53", "Q5", "GZ"]),
            dx=["Z13.820"],
        ),
    )
    wrong = finding(result, "DISTINCT-MODIFIER-WRONG")
    assert wrong.line == "77080"
    assert "expects XU" in wrong.message
    assert "no pair on this claim needs" not in wrong.message


# --- MODIFIER-OVERFLOW is what the line needs, not what was submitted ---------------------------


def test_five_submitted_modifiers_on_a_line_that_needs_two(code: Code) -> None:
    result = code(
        billing__equipment_owner="other",
        exam__status="discontinued",
        submitted=submitted(("77080", ["26", "53", "59", "Q6", "GZ"])),
    )
    assert lines(result) == [("77080", ["26", "53"])]
    assert "MODIFIER-OVERFLOW" not in ids(result)
    # Each modifier the line does not need is named, as unsupported or wrong.
    assert "The 77080 line carries 59;" in finding(result, "DISTINCT-MODIFIER-WRONG").message
    extra = [f.message for f in result.findings if f.id == "MODIFIER-EXTRA"]
    assert len(extra) == 2
    assert any("carries Q6," in m for m in extra) and any("carries GZ," in m for m in extra)
    assert not [f.id for f in result.findings if "could not be placed" in f.message]


# --- MODIFIER-ORDER names the line and the order expected --------------------------------------


def test_modifier_order_names_the_line_as_submitted_and_as_expected(code: Code) -> None:
    result = code(
        billing__equipment_owner="other",
        exam__status="discontinued",
        submitted=submitted(("77080", ["53", "26"])),
    )
    order = finding(result, "MODIFIER-ORDER")
    assert order.line == "77080" and order.severity == "warning"
    assert "77080-53-26" in order.message
    assert "Submit it as 77080-26-53." in order.message
    assert order.sources == ["x12-837p"]


def test_modifier_order_expects_the_corrected_line_whole(code: Code) -> None:
    # Q6 is missing as well: the order given is the line's, with Q6 in its place.
    result = code(
        billing__equipment_owner="other",
        billing__substitute="fee_for_time",
        exam__status="discontinued",
        submitted=submitted(("77080", ["53", "26"])),
    )
    assert "Submit it as 77080-26-53-Q6." in finding(result, "MODIFIER-ORDER").message


# --- a distinct-service modifier the payer also accepts -----------------------------------------


def test_accepted_xu_is_explained_and_the_corrected_claim_keeps_59(code: Code) -> None:
    result = code(
        payer="commercial",
        exam__sites=AXIAL_PERIPHERAL,
        submitted=submitted(("77080", ["XU"]), ("77081", [])),
    )
    assert lines(result) == [("77080", ["59"]), ("77081", [])]
    accepted = finding(result, "DISTINCT-MODIFIER-ACCEPTED")
    assert accepted.line == "77080" and accepted.severity == "info"
    assert "carries XU" in accepted.message
    assert "Commercial insurance accepts in place of 59" in accepted.message
    assert "Keep XU, or use 59" in accepted.message


def test_not_judged_names_the_missing_facts_in_words() -> None:
    from dexacode.coding import code
    from tests.conftest import make_encounter

    enc = make_encounter(unknown=["patient.risk_factors", "submitted"], submitted=None)
    (said,) = [f for f in code(enc).findings if f.id == "NOT-JUDGED"]
    assert "the risk factors" in said.message and "patient.risk" not in said.message
    assert "one was sent, but not readable" in said.message


def test_every_unknown_fact_of_the_contract_has_words() -> None:
    from typing import get_args

    from dexacode.contract import UnknownFact
    from dexacode.engine import _FACT_WORDS

    assert set(_FACT_WORDS) == set(get_args(UnknownFact))
