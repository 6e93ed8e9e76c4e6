"""One patient's claims of one date, seen together (a batch's rows): the same study billed
twice is a duplicate unless the claims split it into the reading and the equipment's part;
a pair edit split over two claims is still a pair edit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from dexacode import rulebook
from dexacode.contract import CodingResult, parse_encounter
from dexacode.engine import SameDateClaim, code_encounter
from dexacode.icd10 import Icd10Library
from dexacode.rulebook import RuleBook, RuleBookError, RuleSet
from tests.conftest import REPO_ROOT, ids, make_encounter

SAME_DATE = ("SAME-DATE-DUPLICATE", "SAME-DATE-PAIR", "SAME-DATE-DISTINCT")


def _code(
    book: RuleBook,
    library: Icd10Library,
    others: list[SameDateClaim],
    rules: RuleSet | None = None,
    **changes: Any,
) -> CodingResult:
    enc = parse_encounter(make_encounter(**changes))
    rules = rules or book.in_force(enc.date_of_service, enc.payer)
    release, _ = library.for_date(enc.date_of_service)
    return code_encounter(enc, rules, release, same_date_claims=others)


def _same_date(result: CodingResult) -> list[tuple[str, str | None]]:
    return [(f.id, f.line) for f in result.findings if f.id in SAME_DATE]


def test_two_global_claims_of_one_study_are_a_duplicate_naming_the_other(
    book: RuleBook, library: Icd10Library
) -> None:
    result = _code(book, library, [SameDateClaim("CLM-2", "global", ("77080",))])
    assert _same_date(result) == [("SAME-DATE-DUPLICATE", "77080")]
    found = next(f for f in result.findings if f.id == "SAME-DATE-DUPLICATE")
    assert found.severity == "error"
    assert "claim CLM-2" in found.message
    assert "professional and technical parts" in found.message
    assert result.has_errors


@pytest.mark.parametrize(
    ("mine", "theirs", "overlap"),
    [
        ({"billing__component": "professional"}, "global", "professional part"),
        ({"billing__component": "technical"}, "technical", "technical part"),
        ({"billing__claim_form": "institutional"}, "global", "technical part"),
        ({"billing__claim_form": "institutional"}, "technical", "technical part"),
    ],
)
def test_claims_billing_an_overlapping_part_are_duplicates(
    book: RuleBook, library: Icd10Library, mine: dict[str, Any], theirs: str, overlap: str
) -> None:
    result = _code(book, library, [SameDateClaim("CLM-2", theirs, ("77080",))], **mine)
    found = [f for f in result.findings if f.id == "SAME-DATE-DUPLICATE"]
    assert len(found) == 1 and f"its {overlap}." in found[0].message


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        ({"billing__component": "professional"}, "technical"),
        ({"billing__component": "technical"}, "professional"),
        # The facility's claim bills the equipment's part; the reader bills 26.
        ({"billing__claim_form": "institutional"}, "professional"),
        ({"billing__component": "professional"}, "institutional"),
    ],
)
def test_a_study_split_into_reading_and_equipment_is_not_a_duplicate(
    book: RuleBook, library: Icd10Library, mine: dict[str, Any], theirs: str
) -> None:
    result = _code(book, library, [SameDateClaim("CLM-2", theirs, ("77080",))], **mine)
    assert _same_date(result) == []


def test_other_codes_or_no_other_claim_raise_nothing(book: RuleBook, library: Icd10Library) -> None:
    assert _same_date(_code(book, library, [])) == []
    # A VFA alone beside a peripheral study: no pair edit, no duplicate.
    other = SameDateClaim("CLM-2", "global", ("77081",))
    assert _same_date(_code(book, library, [other], exam__vfa=True, exam__sites=[])) == []


def test_a_claim_that_bills_nothing_is_no_duplicate(book: RuleBook, library: Icd10Library) -> None:
    result = _code(
        book,
        library,
        [SameDateClaim("CLM-2", "global", ("77080",))],
        billing__equipment_owner="other",
        billing__interprets=False,
    )
    assert "NOTHING-TO-BILL" in ids(result)
    assert _same_date(result) == []


def test_an_unbundled_pair_over_two_claims_is_flagged_on_the_denied_code_only(
    book: RuleBook, library: Icd10Library
) -> None:
    # This claim bills the VFA alone (77086); another bills the axial study (77080).
    vfa = _code(
        book,
        library,
        [SameDateClaim("CLM-AXIAL", "global", ("77080",))],
        exam__vfa=True,
        exam__sites=[],
        results=[],
    )
    assert _same_date(vfa) == [("SAME-DATE-PAIR", "77086")]
    found = next(f for f in vfa.findings if f.id == "SAME-DATE-PAIR")
    assert found.severity == "warning"
    assert "claim CLM-AXIAL" in found.message and "77085" in found.action
    # The axial claim is the one the edit keeps: nothing on it.
    axial = _code(book, library, [SameDateClaim("CLM-VFA", "global", ("77086",))])
    assert _same_date(axial) == []


def test_axial_and_peripheral_over_two_claims_want_the_payers_distinct_modifier(
    book: RuleBook, library: Icd10Library
) -> None:
    peripheral = SameDateClaim("CLM-FOREARM", "global", ("77081",))
    medicare = _code(book, library, [peripheral])
    found = [f for f in medicare.findings if f.id == "SAME-DATE-DISTINCT"]
    assert [(f.line, f.severity) for f in found] == [("77080", "warning")]
    assert "without XU" in found[0].message
    commercial = _code(book, library, [peripheral], payer="commercial")
    assert "without 59" in next(
        f.message for f in commercial.findings if f.id == "SAME-DATE-DISTINCT"
    )
    # A payer that takes no distinct-service modifier: no advice to add one.
    day = dt.date.fromisoformat(make_encounter()["date_of_service"])
    rules = book.in_force(day, "medicare")
    none = dataclasses.replace(rules, payer=dataclasses.replace(rules.payer, distinct_modifier=""))
    assert _same_date(_code(book, library, [peripheral], rules=none)) == []


@pytest.mark.parametrize(
    ("written", "refused"),
    [
        ("", r"\[parts_billed\] needs institutional"),
        ('institutional = ["technicall"]\n', r"institutional names technicall, not a part"),
    ],
)
def test_the_rule_book_refuses_parts_billed_it_cannot_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, refused: str
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO_ROOT / "src" / "dexacode" / "rules", rules)
    path = rules / "modifiers.toml"
    text = path.read_text(encoding="utf-8")
    assert 'institutional = ["technical"]\n' in text
    path.write_text(text.replace('institutional = ["technical"]\n', written), encoding="utf-8")
    monkeypatch.setattr("dexacode.rulebook._shipped", lambda: rules)
    with pytest.raises(RuleBookError, match=refused):
        rulebook._load.__wrapped__(())  # past the cache of the shipped book


def _submitted(*modifiers: str) -> dict[str, Any]:
    line = {"cpt": "77080", "modifiers": list(modifiers), "units": 1}
    return {"lines": [line], "diagnoses": ["Z13.820"]}


def test_a_distinct_modifier_that_a_pair_on_another_claim_explains_is_no_mistake(
    book: RuleBook, library: Icd10Library
) -> None:
    """The warning asks for XU on 77080 beside another claim's 77081; a submitted claim
    that carries it gets neither the warning again nor an error for carrying it."""
    peripheral = [SameDateClaim("CLM-FOREARM", "global", ("77081",))]
    bare = _code(book, library, peripheral, submitted=_submitted())
    assert "SAME-DATE-DISTINCT" in ids(bare)
    with_xu = _code(book, library, peripheral, submitted=_submitted("XU"))
    assert not {"SAME-DATE-DISTINCT", "DISTINCT-MODIFIER-WRONG"} & set(ids(with_xu))
    # Without the other claim, XU on a lone 77080 is one too many, as before.
    alone = _code(book, library, [], submitted=_submitted("XU"))
    assert "DISTINCT-MODIFIER-WRONG" in ids(alone)
    # 59 where this payer takes XU only: the wrong modifier, said as such.
    wrong = _code(book, library, peripheral, submitted=_submitted("59"))
    found = next(f for f in wrong.findings if f.id == "DISTINCT-MODIFIER-WRONG")
    assert "XU" in found.message + found.action


def test_a_pair_the_claim_already_bills_itself_gets_no_cross_claim_advice(
    book: RuleBook, library: Icd10Library
) -> None:
    """This claim bills 77080-XU with its own 77081; another claim's 77081 is a
    duplicate of that line, not a reason to ask for XU again."""
    result = _code(
        book,
        library,
        [SameDateClaim("CLM-FOREARM", "global", ("77081",))],
        exam__sites=["lumbar_spine", "left_hip", "left_forearm"],
        exam__peripheral_reason="hyperparathyroidism",
    )
    assert ("77080", ["XU"]) in [(line.cpt, line.modifiers) for line in result.lines]
    assert _same_date(result) == [("SAME-DATE-DUPLICATE", "77081")]
