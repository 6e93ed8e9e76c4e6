"""Modifier placement and the submitted-claim check: what the scenario table cannot say.

Covers domain-rules §1 (distinct-service modifier, same-day warning, site input errors) and
§2 (modifier order, MODIFIER-OVERFLOW, reasons shown for each modifier) and the messages a
coder reads on a checked claim. Scenario cases live in tests/cases/{procedures,modifiers,
submitted}.toml.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from dexacode.contract import CodingResult, ContractError
from tests.conftest import finding, ids, lines, make_encounter

Code = Callable[..., CodingResult]

# The order of domain-rules §2: 26|TC, then 52|53, then 59|XU, then Q5|Q6, then GA|GZ.
ORDER = {"26": 0, "TC": 0, "52": 1, "53": 1, "59": 2, "XU": 2, "Q5": 3, "Q6": 3, "GA": 4, "GZ": 4}
AXIAL_PERIPHERAL = ["lumbar_spine", "left_forearm"]
TOO_SOON = [{"date_of_service": "2025-01-10", "cpt": "77080"}]
# A man in none of Medicare's five categories: every bone-density line is an expected denial.
UNQUALIFIED_MAN: dict[str, Any] = {"patient__sex": "M", "patient__menopausal_status": None}


def submitted(*spec: tuple[str, list[str]], dx: list[str] | None = None) -> dict[str, Any]:
    return {
        "lines": [{"cpt": cpt, "modifiers": mods} for cpt, mods in spec],
        "diagnoses": dx if dx is not None else ["Z13.820", "Z78.0"],
    }


# --- modifier_reasons: every modifier explains itself --------------------------------------

REASON_SCENARIOS: dict[str, dict[str, Any]] = {
    "26 + 53 + XU + GZ": {
        **UNQUALIFIED_MAN,
        "billing__equipment_owner": "other",
        "exam__status": "discontinued",
        "exam__sites": AXIAL_PERIPHERAL,
    },
    "TC + 52 + XU + GA": {
        **UNQUALIFIED_MAN,
        "billing__interprets": False,
        "billing__abn_signed": True,
        "exam__status": "reduced",
        "exam__sites": AXIAL_PERIPHERAL,
        "exam__vfa": True,
    },
    "Q6 on global lines": {"billing__substitute": "fee_for_time", "exam__sites": AXIAL_PERIPHERAL},
    "commercial 59": {"payer": "commercial", "exam__sites": AXIAL_PERIPHERAL},
    "institutional 52": {"billing__claim_form": "institutional", "exam__status": "discontinued"},
    "overflowed line": {
        **UNQUALIFIED_MAN,
        "billing__equipment_owner": "other",
        "billing__substitute": "reciprocal",
        "exam__status": "discontinued",
        "exam__sites": AXIAL_PERIPHERAL,
    },
}


@pytest.mark.parametrize("changes", REASON_SCENARIOS.values(), ids=REASON_SCENARIOS.keys())
def test_every_modifier_on_a_line_has_a_reason_and_no_reason_is_left_over(
    code: Code, changes: dict[str, Any]
) -> None:
    result = code(**changes)
    assert any(line.modifiers for line in result.lines), "scenario places no modifier"
    for line in result.lines:
        assert set(line.modifier_reasons) == set(line.modifiers), (line.cpt, line.modifiers)
        for mod, reason in line.modifier_reasons.items():
            assert reason.strip(), f"{line.cpt}-{mod} has an empty reason"


def test_reasons_say_why_each_modifier_is_there(code: Code) -> None:
    result = code(**REASON_SCENARIOS["26 + 53 + XU + GZ"])
    r80 = result.lines[0].modifier_reasons
    assert result.lines[0].cpt == "77080"
    assert "equipment" in r80["26"]
    assert "discontinued" in r80["53"]
    # XU: the other study of the pair and the modifier the payer keys on.
    assert "77081" in r80["XU"] and "XU" in r80["XU"]
    # GZ: which expected denial put it there.
    assert "NOT-QUALIFIED" in r80["GZ"]


def test_reasons_for_technical_reduced_and_signed_abn(code: Code) -> None:
    result = code(**REASON_SCENARIOS["TC + 52 + XU + GA"])
    by_cpt = {line.cpt: line.modifier_reasons for line in result.lines}
    assert "owns the equipment" in by_cpt["77085"]["TC"]
    assert "reduced" in by_cpt["77085"]["52"]
    assert "77085" in by_cpt["77081"]["XU"]
    assert "ABN" in by_cpt["77081"]["GA"] or "Advance Beneficiary Notice" in by_cpt["77081"]["GA"]


def test_commercial_distinct_reason_names_59_and_the_payer(code: Code) -> None:
    result = code(**REASON_SCENARIOS["commercial 59"])
    reason = result.lines[0].modifier_reasons["59"]
    assert "59" in reason and "77081" in reason and "Commercial" in reason


def test_substitute_reasons_name_the_arrangement(code: Code) -> None:
    q6 = code(billing__substitute="fee_for_time").lines[0].modifier_reasons["Q6"]
    q5 = code(billing__substitute="reciprocal").lines[0].modifier_reasons["Q5"]
    assert "fee-for-time" in q6
    assert "reciprocal" in q5


# --- order on a line and MODIFIER-OVERFLOW, over every combination --------------------------

ARRANGEMENTS = [("billing_provider", True), ("other", True), ("billing_provider", False)]
STATUSES = ["completed", "discontinued", "reduced"]
SUBSTITUTES = [None, "fee_for_time", "reciprocal"]
PRICING: dict[tuple[str, bool], str | None] = {
    ("billing_provider", True): None,
    ("other", True): "26",
    ("billing_provider", False): "TC",
}


def _combinations() -> list[Any]:
    params = []
    for (owner, reads), status, sub, signed, vfa in itertools.product(
        ARRANGEMENTS, STATUSES, SUBSTITUTES, [False, True], [False, True]
    ):
        name = (
            f"{owner}/{'reads' if reads else 'no-read'}-{status}-{sub or 'no-substitute'}"
            f"-{'abn' if signed else 'no-abn'}-{'77085' if vfa else '77080'}+77081"
        )
        params.append(pytest.param(owner, reads, status, sub, signed, vfa, id=name))
    return params


@pytest.mark.parametrize(("owner", "reads", "status", "sub", "signed", "vfa"), _combinations())
def test_modifier_order_limit_and_what_overflow_never_drops(
    code: Code,
    owner: str,
    reads: bool,
    status: str,
    sub: str | None,
    signed: bool,
    vfa: bool,
) -> None:
    result = code(
        **UNQUALIFIED_MAN,
        billing__equipment_owner=owner,
        billing__interprets=reads,
        billing__substitute=sub,
        billing__abn_signed=signed,
        exam__status=status,
        exam__sites=AXIAL_PERIPHERAL,
        exam__vfa=vfa,
    )
    pricing = PRICING[(owner, reads)]
    status_mod = {"completed": None, "discontinued": "53", "reduced": "52"}[status]
    liability, other_liability = ("GA", "GZ") if signed else ("GZ", "GA")
    substitute = {None: None, "fee_for_time": "Q6", "reciprocal": "Q5"}[sub]
    distinct_line = "77081" if vfa else "77080"
    overflowed = [f.line for f in result.findings if f.id == "MODIFIER-OVERFLOW"]
    assert [line.cpt for line in result.lines] == ["77085" if vfa else "77080", "77081"]
    for line in result.lines:
        mods = line.modifiers
        assert len(mods) <= 4, (line.cpt, mods)
        assert len(set(mods)) == len(mods), (line.cpt, mods)
        assert [ORDER[m] for m in mods] == sorted(ORDER[m] for m in mods), (line.cpt, mods)
        # Price, status and liability are never dropped, whatever else had to go.
        kept = [m for m in (pricing, status_mod, liability) if m]
        assert set(kept) <= set(mods), (line.cpt, mods)
        assert other_liability not in mods
        if pricing is None:
            assert not {"26", "TC"} & set(mods), (line.cpt, mods)
        # The optional ones: XU on column 2 of the pair; Q5/Q6 never on a TC line.
        optional: set[str] = set()
        if line.cpt == distinct_line:
            optional.add("XU")
        if substitute and pricing != "TC":
            optional.add(substitute)
        assert not {"Q5", "Q6"} & set(mods) or pricing != "TC", (line.cpt, mods)
        # Overflow exactly when more than four apply; then only the optional ones go.
        if len(kept) + len(optional) > 4:
            assert overflowed.count(line.cpt) == 1, (line.cpt, mods)
            assert mods == sorted(kept, key=ORDER.__getitem__)
        else:
            assert line.cpt not in overflowed, (line.cpt, mods)
            assert set(mods) == set(kept) | optional, (line.cpt, mods)


def test_overflow_finding_names_what_was_dropped_and_nothing_it_kept(code: Code) -> None:
    result = code(**REASON_SCENARIOS["overflowed line"])
    assert lines(result)[0] == ("77080", ["26", "53", "GZ"])
    overflow = finding(result, "MODIFIER-OVERFLOW")
    assert overflow.line == "77080"
    assert overflow.severity == "error"
    assert "XU" in overflow.message and "Q5" in overflow.message
    for kept in ("GZ", "53", "26"):
        assert kept not in overflow.message.replace("77080", "")
    # The other line fits in four and is left alone.
    assert lines(result)[1] == ("77081", ["26", "53", "Q5", "GZ"])
    assert [f.line for f in result.findings if f.id == "MODIFIER-OVERFLOW"] == ["77080"]


# --- §1: messages a coder reads ---------------------------------------------------------------


def test_same_day_warning_quotes_the_documented_reason(code: Code) -> None:
    reason = "bilateral hip prostheses; L2-L4 fusion hardware"
    result = code(exam__sites=AXIAL_PERIPHERAL, exam__peripheral_reason=reason)
    message = finding(result, "SAME-DAY-AXIAL-PERIPHERAL").message
    assert reason in message
    assert "77080" in message and "77081" in message


@pytest.mark.parametrize("payer", ["medicare", "medicare_advantage"])
def test_same_day_warning_says_when_the_reason_is_missing(code: Code, payer: str) -> None:
    result = code(
        payer=payer, exam__sites=["right_hip", "right_heel"], exam__peripheral_reason=None
    )
    message = finding(result, "SAME-DAY-AXIAL-PERIPHERAL").message
    assert "peripheral_reason" in message and "none given" in message
    # It names what to document.
    assert "hardware" in message


def test_same_day_warning_with_vfa_names_77085(code: Code) -> None:
    result = code(exam__sites=AXIAL_PERIPHERAL, exam__vfa=True, exam__peripheral_reason="hip screw")
    message = finding(result, "SAME-DAY-AXIAL-PERIPHERAL").message
    assert "77085" in message and "77081" in message and "hip screw" in message


def test_a_site_outside_the_vocabulary_is_refused_naming_the_allowed_values(code: Code) -> None:
    with pytest.raises(ContractError) as caught:
        code(exam__sites=["lumbar_spine", "total_body"])
    text = str(caught.value)
    assert "exam.sites" in text and "total_body" in text
    for allowed in ("lumbar_spine", "pelvis", "left_forearm", "right_leg"):
        assert allowed in text


def test_an_exam_with_nothing_done_is_refused_naming_sites_and_vfa(code: Code) -> None:
    with pytest.raises(ContractError) as caught:
        code(exam__sites=[], exam__vfa=False)
    text = str(caught.value)
    assert "exam" in text and "vfa" in text
    for allowed in ("lumbar_spine", "left_hip", "right_heel"):
        assert allowed in text


def test_derived_lines_always_carry_one_unit(code: Code) -> None:
    every_site = [
        "lumbar_spine", "thoracic_spine", "left_hip", "right_hip", "pelvis",
        "left_forearm", "right_forearm", "left_hand", "right_hand",
        "left_heel", "right_heel", "left_leg", "right_leg",
    ]  # fmt: skip
    result = code(exam__sites=every_site, exam__vfa=True, results=[])
    assert [(line.cpt, line.units) for line in result.lines] == [("77085", 1), ("77081", 1)]


# --- §2: messages -------------------------------------------------------------------------


def test_abn_missing_names_every_denial_reason_and_the_line_carries_one_gz(code: Code) -> None:
    result = code(**UNQUALIFIED_MAN, history=TOO_SOON)
    assert lines(result) == [("77080", ["GZ"])]
    abn = [f for f in result.findings if f.id == "ABN-MISSING"]
    assert len(abn) == 1
    assert "NOT-QUALIFIED" in abn[0].message and "FREQUENCY" in abn[0].message
    assert "GZ" in result.lines[0].modifier_reasons
    assert "NOT-QUALIFIED" in result.lines[0].modifier_reasons["GZ"]


def test_facility_52_explains_the_professional_claim_uses_53(code: Code) -> None:
    result = code(billing__claim_form="institutional", exam__status="discontinued")
    message = finding(result, "FACILITY-52").message
    assert "52" in message and "53" in message
    assert "STATUS-MODIFIER" not in ids(result)


def test_substitute_warning_names_the_days(code: Code) -> None:
    message = finding(
        code(billing__substitute="reciprocal", billing__substitute_days=61), "SUBSTITUTE-60-DAYS"
    ).message
    assert "61" in message and "60" in message


# --- the submitted-claim check: messages and the corrected claim --------------------------


def test_distinct_modifier_wrong_tells_medicare_coder_to_use_xu_on_77080(code: Code) -> None:
    result = code(
        exam__sites=AXIAL_PERIPHERAL,
        submitted=submitted(("77080", ["59"]), ("77081", [])),
    )
    message = finding(result, "DISTINCT-MODIFIER-WRONG").message
    assert "59" in message and "XU" in message and "77080" in message


def test_distinct_modifier_missing_names_the_modifier_and_line_per_payer(code: Code) -> None:
    enc = {"exam__sites": AXIAL_PERIPHERAL, "exam__vfa": True}
    bare = submitted(("77085", []), ("77081", []))
    medicare = finding(code(**enc, submitted=bare), "DISTINCT-MODIFIER-MISSING")
    commercial = finding(
        code(**enc, payer="commercial", submitted=bare), "DISTINCT-MODIFIER-MISSING"
    )
    assert medicare.line == commercial.line == "77081"
    assert "Add XU to the 77081 line" in medicare.message
    assert "Add 59 to the 77081 line" in commercial.message


def test_component_mismatch_says_what_was_found_and_what_fits(code: Code) -> None:
    result = code(billing__equipment_owner="other", submitted=submitted(("77080", ["TC"])))
    message = finding(result, "COMPONENT-MISMATCH").message
    assert "TC" in message and "26" in message


def test_mue_message_names_the_units_and_the_limit(code: Code) -> None:
    enc = make_encounter(submitted=submitted(("77080", [])))
    enc["submitted"]["lines"][0]["units"] = 4
    message = finding(code(enc), "MUE-EXCEEDED").message
    assert "4 units" in message and "1" in message


@pytest.mark.parametrize(
    "claim",
    [
        submitted(("77080", ["59", "XU"]), ("77081", ["XU"])),
        submitted(("77080", ["TC", "52", "Q5"]), ("77078", [])),
        submitted(("77081", ["GA"])),
    ],
    ids=["modifier mess", "wrong component and code", "wrong line"],
)
def test_a_wrong_submitted_claim_never_changes_the_corrected_claim(
    code: Code, claim: dict[str, Any]
) -> None:
    clean = code(exam__sites=AXIAL_PERIPHERAL)
    checked = code(exam__sites=AXIAL_PERIPHERAL, submitted=claim)
    assert lines(checked) == lines(clean)
    assert checked.diagnoses == clean.diagnoses
    assert [line.units for line in checked.lines] == [1, 1]
    assert set(ids(checked)) - set(ids(clean)), "the wrong claim raised nothing"


# --- bugs: findings that contradict the corrected claim -----------------------------------


def test_xu_on_77080_is_not_wrong_when_only_the_77081_line_is_missing(code: Code) -> None:
    result = code(exam__sites=AXIAL_PERIPHERAL, submitted=submitted(("77080", ["XU"])))
    assert lines(result) == [("77080", ["XU"]), ("77081", [])]
    assert "LINE-MISSING" in ids(result)
    assert "DISTINCT-MODIFIER-WRONG" not in ids(result)


def test_extra_peripheral_line_does_not_ask_for_a_distinct_modifier(code: Code) -> None:
    result = code(submitted=submitted(("77080", []), ("77081", [])))
    assert lines(result) == [("77080", [])]
    assert "LINE-EXTRA" in ids(result)
    assert "DISTINCT-MODIFIER-MISSING" not in ids(result)


def test_a_modifier_dropped_only_for_space_is_not_called_unsupported(code: Code) -> None:
    result = code(
        **REASON_SCENARIOS["overflowed line"],
        submitted=submitted(
            ("77080", ["26", "53", "XU", "Q5", "GZ"]),
            ("77081", ["26", "53", "Q5", "GZ"]),
            dx=["Z13.820"],
        ),
    )
    assert "MODIFIER-OVERFLOW" in ids(result)
    assert "MODIFIER-EXTRA" not in ids(result)
