"""837P out and in: every file we write passes pyx12 with a 999 accepted, reads back to
the same claim, and our own checks catch what pyx12 lets through."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.x12 import (
    Claim837,
    ClaimProblem,
    Envelope,
    FeeFileError,
    ProviderFileError,
    X12ReadError,
    claim_for,
    claim_problems,
    example_provider_path,
    interchange_text,
    load_fees,
    load_patients,
    load_provider,
    npi_problem,
    parse_837,
    read_837_rows,
    validate_837,
    zip9_problem,
)
from dexacode.icd10 import Icd10Library
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter

DATA = Path(__file__).resolve().parents[1] / "data" / "x12"
WHEN = dt.datetime(2026, 4, 20, 9, 30)
Code = Callable[..., CodingResult]


def _claim(code: Code, provider: Any, fees: Any, enc: dict[str, Any], **kw: Any) -> Claim837:
    result = code(enc)
    made = claim_for(
        parse_encounter(enc), result, provider=provider, fees=fees, family="medicare", **kw
    )
    assert isinstance(made, Claim837), made
    return made


def _accepted(text: str) -> None:
    check = validate_837(text)
    assert check.accepted, (check.ack_999, check.errors)
    assert "IK5*A" in check.ack_999


# Encounters that exercise the parts of a claim: global, 26 on someone else's machine,
# VFA with axial (77085), and axial + peripheral with the distinct-service modifier.
CASES = {
    "global": make_encounter(),
    "professional-26": make_encounter(claim_id="T-26", billing__equipment_owner="other"),
    "axial-vfa": make_encounter(claim_id="T-VFA", exam__vfa=True),
    "hip-and-forearm": make_encounter(
        claim_id="T-HF",
        payer="commercial",
        exam__sites=["left_hip", "left_forearm"],
        exam__peripheral_reason="hyperparathyroidism",
        results=[
            {"site": "left_hip", "region": "total_hip", "bmd": 0.7, "t_score": -2.6},
            {"site": "left_forearm", "region": "radius_33", "bmd": 0.6, "t_score": -2.8},
        ],
    ),
}


@pytest.fixture(scope="module")
def all_cases(code: Code, provider: Any, fees: Any) -> tuple[str, list[Claim837 | ClaimProblem]]:
    """One interchange holding every case, checked by pyx12 once (its map takes a
    quarter of a second to load), and read back."""
    claims = [_claim(code, provider, fees, enc) for enc in CASES.values()]
    text = interchange_text(claims, provider, Envelope(7, WHEN))
    return text, parse_837(text)


def test_the_cases_interchange_is_accepted(all_cases: tuple[str, Any]) -> None:
    _accepted(all_cases[0])


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_keeps_lines_modifiers_units_and_diagnoses(
    name: str, code: Code, all_cases: tuple[str, list[Claim837 | ClaimProblem]]
) -> None:
    result = code(CASES[name])
    back = all_cases[1][list(CASES).index(name)]
    assert isinstance(back, Claim837)
    assert [(x.cpt, list(x.modifiers), x.units, list(x.pointers)) for x in back.lines] == [
        (x.cpt, x.modifiers, x.units, x.diagnosis_pointers) for x in result.lines
    ]
    assert list(back.diagnoses) == [d.replace(".", "") for d in result.diagnoses]
    assert back.claim_id == result.claim_id
    assert back.subscriber.birth_date == dt.date(1956, 1, 15)
    assert back.subscriber.sex == "F"


def test_each_case_says_something_different(code: Code) -> None:
    # The round trip above would prove little if every case gave the same claim.
    shapes = {
        name: [(x.cpt, tuple(x.modifiers)) for x in code(e).lines] for name, e in CASES.items()
    }
    assert shapes["global"] == [("77080", ())]
    assert shapes["professional-26"] == [("77080", ("26",))]
    assert shapes["axial-vfa"] == [("77085", ())]
    assert [c for c, _ in shapes["hip-and-forearm"]] == ["77080", "77081"]
    assert any(m for _, m in shapes["hip-and-forearm"])


def test_scrubbing_the_837_reads_back_the_same_claim(
    tmp_path: Path, code: Code, book: RuleBook, all_cases: tuple[str, Any]
) -> None:
    path = tmp_path / "claims.837"
    path.write_text(all_cases[0])
    rows = [raw for raw, _ in read_837_rows(path, book)]
    assert [r.row for r in rows] == [1, 2, 3, 4]
    for raw, enc in zip(rows, CASES.values(), strict=True):
        assert raw.text is not None, raw.problem
        read = parse_encounter(raw.text)
        original = code(enc)
        assert read.submitted is not None
        assert [(x.cpt, x.modifiers, x.units) for x in read.submitted.lines] == [
            (x.cpt, x.modifiers, x.units) for x in original.lines
        ]
        assert read.submitted.diagnoses == original.diagnoses
        checked = code(json.loads(raw.text))
        ids = {f.id for f in checked.findings}
        # The claim we wrote is the corrected claim: checking it finds no coding difference.
        assert not ids & {
            "LINE-MISSING",
            "LINE-EXTRA",
            "MODIFIER-MISSING",
            "MODIFIER-EXTRA",
            "COMPONENT-MISMATCH",
            "DIAGNOSIS-MISSING",
            "ICD10-INVALID",
        }, ids
        # ... and its corrected claim is the claim as written, diagnosis order included.
        assert checked.diagnoses == original.diagnoses
        assert [(x.cpt, x.modifiers, x.diagnosis_pointers) for x in checked.lines] == [
            (x.cpt, x.modifiers, x.diagnosis_pointers) for x in original.lines
        ]
        assert read.results == []  # an 837 carries no results: they stay unknown


def test_scrub_of_837_still_catches_a_coders_mistake(
    tmp_path: Path, code: Code, book: RuleBook, provider: Any, fees: Any
) -> None:
    claim = _claim(code, provider, fees, make_encounter())
    line = claim.lines[0]
    # A coder billed 77080 and 77086 on one date instead of 77085.
    wrong = dataclasses.replace(
        claim, lines=(line, dataclasses.replace(line, cpt="77086", charge=Decimal("70")))
    )
    path = tmp_path / "wrong.837"
    text = interchange_text([wrong], provider, Envelope(9, WHEN))
    _accepted(text)  # structurally fine: only the rules see the mistake
    path.write_text(text)
    ((raw, _),) = list(read_837_rows(path, book))
    assert raw.text is not None
    result = code(json.loads(raw.text))
    assert "PTP-AXIAL-VFA" in {f.id for f in result.findings}
    assert [x.cpt for x in result.lines] == ["77085"]


def test_many_claims_in_one_file_with_patients_and_control_numbers(
    code: Code, provider: Any, fees: Any
) -> None:
    people = load_patients(DATA / "patients.csv")
    claims = [
        dataclasses.replace(
            _claim(code, provider, fees, make_encounter(), patients=people), claim_id=f"T-{i}"
        )
        for i in range(12)
    ]
    env = Envelope(123456789, WHEN, claims_per_transaction=5)
    text = interchange_text(claims, provider, env)
    _accepted(text)
    assert text.count("\nST*837*") == 3  # 5 + 5 + 2 claims
    assert "ISA*00*" in text and "*123456789*0*T*:~" in text
    assert text.rstrip().endswith("IEA*1*123456789~")
    assert "GE*3*123456789~" in text
    assert "NM1*IL*1*TESTPERSON*ADA****MI*1EG4TE5MK73~" in text
    assert "N4*TULSA*OK*741031234~" in text
    assert [c.claim_id for c in parse_837(text) if isinstance(c, Claim837)] == [
        f"T-{i}" for i in range(12)
    ]


# --- held back ------------------------------------------------------------------------------


def test_error_findings_hold_a_claim_back_unless_included(
    code: Code, provider: Any, fees: Any
) -> None:
    enc = make_encounter(
        claim_id="T-ERR", history=[{"date_of_service": "2025-06-01", "cpt": "77080"}]
    )
    result = code(enc)
    assert result.has_errors
    held = claim_for(parse_encounter(enc), result, provider=provider, fees=fees, family="medicare")
    assert isinstance(held, list) and any("FREQUENCY" in r for r in held)
    made = claim_for(
        parse_encounter(enc),
        result,
        provider=provider,
        fees=fees,
        family="medicare",
        include_errors=True,
    )
    assert isinstance(made, Claim837)


def test_institutional_claims_and_unpriced_lines_are_held_back(
    code: Code, provider: Any, fees: Any
) -> None:
    enc = make_encounter(billing__claim_form="institutional")
    held = claim_for(
        parse_encounter(enc), code(enc), provider=provider, fees=fees, family="medicare"
    )
    assert isinstance(held, list) and any("837I" in r for r in held)

    only_global = load_fees_text("77080,150\n")
    enc = make_encounter(billing__equipment_owner="other")  # 77080-26
    held = claim_for(
        parse_encounter(enc), code(enc), provider=provider, fees=only_global, family="medicare"
    )
    # A professional component is never billed at the global price.
    assert held == ["the fee file has no charge for 77080-26"]


def load_fees_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fees.csv"
        path.write_text(text)
        return load_fees(path)


def test_fee_file_problems_name_the_line() -> None:
    with pytest.raises(FeeFileError, match="line 2: charge 'abc' is not a number"):
        load_fees_text("cpt,charge\n77080,abc\n")
    with pytest.raises(FeeFileError, match="no fees"):
        load_fees_text("cpt,modifier,charge\n")
    schedule = load_fees_text("77080,,150\n77080,26,45.50\n")
    assert schedule.charge("77080", ["26"]) == Decimal("45.50")
    assert schedule.charge("77080", []) == Decimal("150")
    assert schedule.charge("77081", []) is None


# --- our own checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("npi", "ok"),
    [
        ("1234567893", True),
        ("1987654328", True),
        ("1234567894", False),
        ("1234567892", False),
        ("123456789", False),
        ("12345678930", False),
    ],
)
def test_npi_check_digit_uses_the_80840_prefix(npi: str, ok: bool) -> None:
    assert (npi_problem(npi) is None) is ok


def test_billing_zip_must_have_nine_digits() -> None:
    assert zip9_problem("741031234") is None
    assert zip9_problem("74103") is not None
    assert zip9_problem("74103-1234") is not None


def test_provider_file_refuses_what_a_clearinghouse_would(tmp_path: Path) -> None:
    text = example_provider_path().read_text()
    bad_npi = tmp_path / "npi.toml"
    bad_npi.write_text(text.replace('npi = "1234567893"', 'npi = "1234567890"'))
    with pytest.raises(ProviderFileError, match=r"billing\.npi: NPI 1234567890 fails its check"):
        load_provider(bad_npi)
    bad_zip = tmp_path / "zip.toml"
    bad_zip.write_text(text.replace('zip = "741031234"', 'zip = "74103"'))
    with pytest.raises(ProviderFileError, match=r"billing\.zip: .*9 digits"):
        load_provider(bad_zip)


def test_checks_catch_what_pyx12_accepts(
    code: Code, provider: Any, fees: Any, book: RuleBook, library: Icd10Library
) -> None:
    good = _claim(code, provider, fees, make_encounter())
    rules = book.in_force(dt.date(2026, 3, 2), "medicare")
    release, _ = library.for_date(dt.date(2026, 3, 2))

    def problems(claim: Claim837) -> list[str]:
        return claim_problems(claim, release, rules.procedures, rules.modifiers)

    assert problems(good) == []
    line = good.lines[0]
    bad = dataclasses.replace(
        good,
        diagnoses=("Z13.820", "M819", "M81"),
        subscriber=dataclasses.replace(good.subscriber, birth_date=None),
        referring_npi="1234567890",
        lines=(dataclasses.replace(line, cpt="99213", modifiers=("26", "ZZ", "59", "XU", "GA")),),
    )
    text = interchange_text([bad], provider, Envelope(10, WHEN))
    assert validate_837(text).accepted  # pyx12 lets every one of these through
    found = " | ".join(problems(bad))
    for expected in (
        "Z13.820 is dotted",
        "M819 is not in ICD-10-CM",
        "M81 is a header",
        "DMG (birth date and sex) is required",
        "referring provider: NPI 1234567890 fails",
        "procedure code 99213",
        "unknown modifier ZZ",
        "5 modifiers",
    ):
        assert expected in found


# --- reading malformed input ----------------------------------------------------------------


@pytest.fixture(scope="module")
def two_claims(code: Code, provider: Any, fees: Any) -> str:
    first = _claim(code, provider, fees, make_encounter(claim_id="T-A"))
    second = _claim(code, provider, fees, make_encounter(claim_id="T-B", patient__id="P-2"))
    return interchange_text([first, second], provider, Envelope(11, WHEN))


def test_a_bad_segment_spoils_only_its_claim_and_is_named(two_claims: str) -> None:
    broken = two_claims.replace("DMG*D8*19560115*F~", "DMG*D8*19561345*F~", 1)
    first, second = parse_837(broken)
    assert isinstance(first, ClaimProblem)
    assert first.claim_id == "T-A"
    assert "segment DMG at position 15" in first.message
    assert "DMG02" in first.message
    assert "19561345" not in first.message  # a birth date is never repeated
    assert isinstance(second, Claim837) and second.claim_id == "T-B"


def test_broken_envelopes_make_the_file_unreadable(two_claims: str) -> None:
    se_count = next(s for s in two_claims.splitlines() if s.startswith("SE*"))
    with pytest.raises(X12ReadError, match=r"transaction set ST/SE 0001.*SE count"):
        parse_837(two_claims.replace(se_count, "SE*5*0001~"))
    with pytest.raises(X12ReadError, match="must start with an ISA segment"):
        parse_837("CLM*1*2~")
    with pytest.raises(X12ReadError, match="IEA"):
        parse_837(two_claims.rsplit("IEA", 1)[0])


def test_837_rows_name_claims_that_cannot_be_encounters(
    tmp_path: Path, two_claims: str, book: RuleBook
) -> None:
    text = two_claims.replace("SV1*HC:77080", "SV1*HC:99213", 1)  # no DXA code on claim A
    path = tmp_path / "x.837"
    path.write_text(text)
    rows = [raw for raw, _ in read_837_rows(path, book)]
    assert rows[0].problem is not None and "claim T-A: no DXA procedure code" in rows[0].problem
    assert rows[1].text is not None
    assert sum(step for _, step in read_837_rows(path, book)) == path.stat().st_size


# --- the command ----------------------------------------------------------------------------


def _run(args: list[str]) -> Any:
    import typer

    from dexacode.cli_formats import x12_command

    app = typer.Typer()
    app.command("x12")(x12_command)
    app.command("noop")(lambda: None)  # two commands keep the subcommand name in argv
    return CliRunner().invoke(app, ["x12", *args])


def test_command_writes_a_valid_837_and_lists_what_it_held_back(tmp_path: Path) -> None:
    out = tmp_path / "out.837"
    run = _run(
        [
            str(DATA / "encounters.jsonl"),
            "--provider",
            str(example_provider_path()),
            "--fees",
            str(DATA / "fees.csv"),
            "--out",
            str(out),
            "--no-store",
            "--control-number",
            "5",
        ]
    )
    assert run.exit_code == 1, run.output  # some held back
    assert "Held back" in run.output
    assert "claim C-7-5" in run.output and "837I" in run.output
    text = out.read_text()
    _accepted(text)
    written = [c.claim_id for c in parse_837(text) if isinstance(c, Claim837)]
    assert "C-7-2" in written and "C-7-5" not in written
    assert "test interchange" in run.output


def test_command_refuses_without_a_fee_file(tmp_path: Path) -> None:
    out = tmp_path / "out.837"
    run = _run(
        [
            str(DATA / "encounters.jsonl"),
            "--provider",
            str(example_provider_path()),
            "--out",
            str(out),
        ]
    )
    assert run.exit_code == 2
    assert "no fee file" in run.output and "does not invent prices" in run.output
    assert not out.exists()


def test_without_pyx12_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from dexacode.formats.x12 import MissingExtraError
    from dexacode.formats.x12.pyx12_import import import_pyx12

    monkeypatch.setitem(sys.modules, "pyx12", None)
    with pytest.raises(MissingExtraError, match=r"dexacode\[formats\]"):
        import_pyx12()
