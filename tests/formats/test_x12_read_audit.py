"""Reading an 837P as a biller sends it: SV1's description is not a modifier, units are
whole, no message repeats a patient's name or address, each problem is reported once,
and what pyx12 lets through but a payer rejects (pointers, check digits, dotted codes,
a missing DMG) is a row dexacode could not code, naming the claim and the line.

Every claim here is synthetic: the names, addresses and member ids are made up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.x12 import Claim837, ClaimProblem, parse_837, read_837_rows
from dexacode.rulebook import RuleBook

Code = Callable[..., CodingResult]

# What must never appear in a message: the subscribers' names, addresses, member ids.
LAST, FIRST, MEMBER, STREET = "SYNTHLASTNAME", "SYNTHFIRST", "SYNMBR0001", "77 SYNTHETIC LANE"
PRIVATE = (LAST, FIRST, MEMBER, STREET, "SYNTHETIC")

ISA = (
    "ISA*00*          *00*          *ZZ*DEXADEMO       *ZZ*CLEARHOUSE     *261128*0813*^*"
    "00501*000000101*0*T*:~\n"
)
HEAD = (
    ISA
    + """\
GS*HC*DEXADEMO*CLEARHOUSE*20261128*0813*101*X*005010X222A1~
ST*837*0001*005010X222A1~
BHT*0019*00*101-1*20261128*0813*CH~
NM1*41*2*EXAMPLE BONE HEALTH IMAGING*****46*DEXADEMO~
PER*IC*BILLING OFFICE*TE*5555550100~
NM1*40*2*EXAMPLE CLEARINGHOUSE*****46*CLEARHOUSE~
HL*1**20*1~
PRV*BI*PXC*261QR0200X~
NM1*85*2*EXAMPLE BONE HEALTH IMAGING*****XX*1234567893~
N3*100 MAIN ST~
N4*TULSA*OK*741031234~
REF*EI*123456789~
"""
)
# Claim A: a Medicare screening study; claim B: a second patient, left alone by every
# change below (one bad claim never spoils another).
CLAIM_A = f"""\
HL*2*1*22*0~
SBR*P*18*******MB~
NM1*IL*1*{LAST}*{FIRST}****MI*{MEMBER}~
N3*{STREET}~
N4*TULSA*OK*74103~
DMG*D8*19551001*F~
NM1*PR*2*MEDICARE PART B*****PI*04412~
CLM*T-A*150***11:B:1*Y*A*Y*Y~
HI*ABK:Z13820*ABF:M85851*ABF:Z780~
NM1*DN*1*EXAMPLE*ORLA****XX*1987654328~
LX*1~
SV1*HC:77080*150*UN*1***1:2:3~
DTP*472*D8*20260420~
"""
CLAIM_B = """\
HL*3*1*22*0~
SBR*P*18*******MB~
NM1*IL*1*TESTPATIENT*BETA****MI*MBRSYN0002~
N3*2 EXAMPLE WAY~
N4*TULSA*OK*74103~
DMG*D8*19580310*F~
NM1*PR*2*MEDICARE PART B*****PI*04412~
CLM*T-B*150***11:B:1*Y*A*Y*Y~
HI*ABK:Z13820*ABF:Z780~
NM1*DN*1*EXAMPLE*ORLA****XX*1987654328~
LX*1~
SV1*HC:77080*150*UN*1***1:2~
DTP*472*D8*20260615~
"""


def interchange(claim_a: str = CLAIM_A, head: str = HEAD) -> str:
    """The two claims in one interchange, with SE counting its segments."""
    body = head + claim_a + CLAIM_B
    segments = body.split("ST*837*", 1)[1].count("~") + 1  # ST .. SE
    return body + f"SE*{segments}*0001~\nGE*1*101~\nIEA*1*000000101~\n"


def changed(old: str, new: str, *, head: str = HEAD) -> str:
    """The interchange with one segment of claim A (or of the header) changed."""
    if old in head:
        return interchange(head=head.replace(old, new, 1))
    assert old in CLAIM_A, old
    return interchange(CLAIM_A.replace(old, new, 1))


def rows(tmp_path: Path, text: str, book: RuleBook) -> list[Any]:
    """The scrubber's rows of the file: each claim's encounter, or its problem."""
    path = tmp_path / "claims.837"
    path.write_text(text, encoding="utf-8")
    return [raw for raw, _ in read_837_rows(path, book)]


def scrub_cli(tmp_path: Path, text: str) -> tuple[Any, list[dict[str, Any]], str]:
    """``dexacode scrub FILE.837`` as a user runs it: the run, the errors file's records,
    and everything the run printed (stdout and stderr)."""
    from dexacode.cli import app

    source = tmp_path / "claims.837"
    source.write_text(text, encoding="utf-8")
    out, errors = tmp_path / "r.jsonl", tmp_path / "err.jsonl"
    args = ["scrub", str(source), "--out", str(out), "--errors", str(errors), "--no-store"]
    run = CliRunner().invoke(app, [*args, "--workers", "1"])
    records = (
        [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
        if errors.exists()
        else []
    )
    return run, records, run.stdout + run.stderr


def _assert_private(*texts: str) -> None:
    for text in texts:
        for value in PRIVATE:
            assert value not in text, f"{value!r} repeated in: {text}"


# --- the base file ----------------------------------------------------------------------


def test_the_synthetic_file_reads_clean(tmp_path: Path, book: RuleBook, code: Code) -> None:
    # The premise of every test below: unchanged, both claims are coded, and the
    # submitted codes stand for the record, so the corrected claim keeps them.
    read = rows(tmp_path, interchange(), book)
    assert [r.problem for r in read] == [None, None]
    enc = parse_encounter(read[0].text)
    assert enc.submitted is not None
    assert [(x.cpt, x.modifiers, x.units) for x in enc.submitted.lines] == [("77080", [], 1)]
    result = code(json.loads(read[0].text))
    assert set(result.diagnoses) == {"Z13.820", "M85.851", "Z78.0"}
    assert not {"DIAGNOSIS-MISSING", "ICD10-INVALID", "ICD10-NOT-BILLABLE"} & {
        f.id for f in result.findings
    }


# --- 1. SV101-7 is a description --------------------------------------------------------


def test_a_procedure_description_is_not_read_as_a_modifier(tmp_path: Path, book: RuleBook) -> None:
    text = changed("SV1*HC:77080*", "SV1*HC:77080:TC:53:::DXA AXIAL*")
    first, _ = rows(tmp_path, text, book)
    assert first.problem is None  # coded, not "modifiers[2]: at most 2 characters"
    enc = parse_encounter(first.text)
    assert enc.submitted is not None
    assert enc.submitted.lines[0].modifiers == ["TC", "53"]


def test_four_modifiers_are_read_and_the_description_after_them_is_not(
    tmp_path: Path, book: RuleBook, code: Code
) -> None:
    text = changed("SV1*HC:77080*", "SV1*HC:77080:TC:53:59:GA:XU*")
    first, _ = rows(tmp_path, text, book)
    assert first.text is not None, first.problem
    enc = json.loads(first.text)
    assert enc["submitted"]["lines"][0]["modifiers"] == ["TC", "53", "59", "GA"]
    result = code(enc)
    # The description "XU" is no modifier: no finding talks about one.
    assert not any(re.search(r"\bXU\b", f.message) for f in result.findings)


# --- 2. no patient data in messages ---------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "named"),
    [
        (f"N33*{STREET}~", "segment N33 at position 15"),  # a misspelled id
        # Letters only and no segment of the 837P guide: it may be a name, never repeated.
        (f"ZZZ*{LAST} {FIRST}*{MEMBER}~", "segment with an invalid id at position 15"),
        (f"{STREET}*{LAST}~", "segment with an invalid id at position 15"),  # a lost id
        # A short surname that lost its segment id (NM1): too short to mask as a value.
        (f"WU*LI*1****MI*{MEMBER}~", "segment with an invalid id at position 15"),
    ],
)
def test_a_segment_pyx12_cannot_place_is_named_without_its_values(
    tmp_path: Path, segment: str, named: str
) -> None:
    text = changed(f"N3*{STREET}~", segment)
    run, records, printed = scrub_cli(tmp_path, text)
    assert run.exit_code == 1, printed
    (record,) = records  # claim B is coded
    assert record["row"] == 1
    assert named in record["reason"] and "segment 17 of the file" in record["reason"]
    _assert_private(json.dumps(records), printed)
    assert not re.search(r"\b(WU|LI|ZZZ)\b", json.dumps(records) + printed)


def test_a_bad_segment_before_any_claim_is_named_without_its_values(tmp_path: Path) -> None:
    # In the billing provider loop the whole file is unreadable: the message goes to the
    # terminal (stderr), not the errors file.
    text = changed("N3*100 MAIN ST~", f"N33*{STREET}~")
    run, records, printed = scrub_cli(tmp_path, text)
    assert run.exit_code == 2, printed
    assert "segment N33" in run.stderr
    assert records == []
    _assert_private(printed)


def test_an_invalid_value_is_named_by_its_element_not_repeated(
    tmp_path: Path, book: RuleBook
) -> None:
    # A date of service identifies a visit as much as a birth date does: in any segment,
    # the element is named and its value is not.
    text = changed("DTP*472*D8*20260420~", "DTP*472*D8*20261341~")
    first, second = rows(tmp_path, text, book)
    assert first.problem is not None and "DTP03" in first.problem
    assert "20261341" not in first.problem
    assert second.problem is None
    long_name = changed(f"*{LAST}*", f"*{LAST * 5}*")
    (first, _) = rows(tmp_path, long_name, book)
    assert first.problem is not None and "NM103" in first.problem and "too long" in first.problem
    _assert_private(first.problem)


# --- 3. units -------------------------------------------------------------------------------


def test_fractional_units_are_a_row_error_not_truncated(tmp_path: Path, book: RuleBook) -> None:
    text = changed("SV1*HC:77080*150*UN*1***", "SV1*HC:77080*150*UN*1.5***")
    first, second = rows(tmp_path, text, book)
    assert first.text is None  # never coded as 1 unit
    assert first.problem is not None
    assert "claim T-A" in first.problem and "service line 1" in first.problem
    assert "SV104" in first.problem and "whole number" in first.problem
    assert second.problem is None


def test_whole_units_written_with_a_decimal_point_are_read(tmp_path: Path, book: RuleBook) -> None:
    text = changed("SV1*HC:77080*150*UN*1***", "SV1*HC:77080*150*UN*1.0***")
    first, _ = rows(tmp_path, text, book)
    assert first.text is not None, first.problem
    assert json.loads(first.text)["submitted"]["lines"][0]["units"] == 1


# --- 4. one problem, one finding ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code_in_hi", "finding"),
    [("M8585", "ICD10-NOT-BILLABLE"), ("Q9999", "ICD10-INVALID"), ("M8580", "M8580-UNSPECIFIED")],
)
def test_a_bad_diagnosis_code_is_reported_once(
    tmp_path: Path,
    book: RuleBook,
    code: Code,
    code_in_hi: str,
    finding: str,
) -> None:
    text = changed("ABF:M85851*", f"ABF:{code_in_hi}*")
    first, _ = rows(tmp_path, text, book)
    assert first.text is not None, first.problem
    result = code(json.loads(first.text))
    found = [f for f in result.findings if f.id == finding]
    assert len(found) == 1, [f.message for f in found]
    assert "(submitted)" in found[0].message
    # The codes that are fine still stand for the record: the corrected claim keeps them.
    assert result.diagnoses == ["Z13.820", "Z78.0"]


# --- 5. the claim id in the errors file -----------------------------------------------------


def test_the_errors_file_names_the_claim_of_a_claim_problem(tmp_path: Path) -> None:
    text = changed("DMG*D8*19551001*F~", "DMG*D8*19551341*F~")
    run, records, printed = scrub_cli(tmp_path, text)
    assert run.exit_code == 1, printed
    assert [(r["row"], r["claim_id"]) for r in records] == [(1, "T-A")]


# --- 6. DMG ---------------------------------------------------------------------------------


def test_a_missing_dmg_says_dmg_is_required(tmp_path: Path, book: RuleBook) -> None:
    text = changed("DMG*D8*19551001*F~\n", "")
    first, second = rows(tmp_path, text, book)
    assert first.problem is not None
    assert "claim T-A" in first.problem
    assert "DMG (birth date and sex) is required when the subscriber is the patient" in (
        first.problem
    )
    assert "patient.sex" not in first.problem
    assert second.problem is None


# --- 7. what pyx12 lets through ---------------------------------------------------------


def test_a_pointer_past_the_diagnoses_is_a_row_error(tmp_path: Path) -> None:
    text = changed("SV1*HC:77080*150*UN*1***1:2:3~", "SV1*HC:77080*150*UN*1***1:4~")
    run, records, printed = scrub_cli(tmp_path, text)
    assert run.exit_code == 1, printed  # it was 0: nothing said
    (record,) = records
    assert record["row"] == 1
    reason = record["reason"]
    assert "claim T-A" in reason and "service line 1" in reason
    assert "pointer 4" in reason and "3 diagnoses" in reason


def test_the_pointers_an_837_gives_are_checked(tmp_path: Path, book: RuleBook, code: Code) -> None:
    # SV107 as entered reaches the engine; a line pointing only at Z13.820 is found.
    text = changed("SV1*HC:77080*150*UN*1***1:2:3~", "SV1*HC:77080*150*UN*1***1~")
    first, _ = rows(tmp_path, text, book)
    enc = parse_encounter(first.text)
    assert enc.submitted is not None and enc.submitted.lines[0].diagnosis_pointers == [1]
    (pointer,) = [f for f in code(json.loads(first.text)).findings if f.id == "DIAGNOSIS-POINTER"]
    assert "points to 1 (Z13.820)" in pointer.message and "1, 2, 3" in pointer.action
    # The file as written points every line at the first three: nothing to say.
    clean, _ = rows(tmp_path, interchange(), book)
    assert "DIAGNOSIS-POINTER" not in {f.id for f in code(json.loads(clean.text)).findings}


def test_dotted_codes_in_hi_are_a_row_error(tmp_path: Path, book: RuleBook) -> None:
    text = changed("HI*ABK:Z13820*ABF:M85851*ABF:Z780~", "HI*ABK:Z13.820*ABF:M85851*ABF:Z78.0~")
    first, second = rows(tmp_path, text, book)
    assert first.problem is not None
    assert "claim T-A" in first.problem
    assert "Z13.820, Z78.0 are dotted" in first.problem
    assert second.problem is None


def test_a_referring_npi_failing_its_check_digit_is_a_row_error(
    tmp_path: Path, book: RuleBook
) -> None:
    text = changed("XX*1987654328~", "XX*1987654321~")
    first, second = rows(tmp_path, text, book)
    assert first.problem is not None
    assert "claim T-A" in first.problem
    assert "referring provider: NPI 1987654321 fails its check digit" in first.problem
    assert second.problem is None


def test_a_bad_billing_npi_spoils_every_claim_it_bills(tmp_path: Path, book: RuleBook) -> None:
    text = changed("XX*1234567893~", "XX*12345~")
    read = rows(tmp_path, text, book)
    assert [r.text for r in read] == [None, None]
    for raw, claim_id in zip(read, ("T-A", "T-B"), strict=True):
        assert raw.problem is not None
        assert f"claim {claim_id}" in raw.problem
        assert "billing provider (loop 2010AA): an NPI is 10 digits" in raw.problem


def test_the_parser_reports_pointer_problems_for_every_reader() -> None:
    # parse_837 is the reader behind every caller, not only scrub; a line pointing at
    # one diagnosis of two, of which there is no second, is named with its pointer.
    text = changed("SV1*HC:77080*150*UN*1***1:2:3~", "SV1*HC:77080*150*UN*1***2:1:5~")
    first, second = parse_837(text)
    assert isinstance(first, ClaimProblem) and first.claim_id == "T-A"
    assert first.message == (
        "service line 1: diagnosis pointer 5 (SV107) does not point at one of the claim's "
        "3 diagnoses"
    )
    assert isinstance(second, Claim837) and second.claim_id == "T-B"


def test_a_malformed_hi_element_spoils_its_claim_not_the_run(tmp_path: Path) -> None:
    # pyx12's tree cannot answer for a claim whose HI lost its qualifier: that claim is
    # listed as not coded, never an "internal error" that stops the scrub.
    text = changed("HI*ABK:Z13820*ABF:M85851*ABF:Z780~", "HI*ZZZ*ABF:M810~")
    run, records, printed = scrub_cli(tmp_path, text)
    assert "internal error" not in printed and run.exit_code == 1, printed
    assert records and all(r["reason"] for r in records)
