"""The 837P door after its second audit: a dependent patient's claim (loops 2000C/2010CA)
is read with the patient's own facts, every CLM segment ends up a row (coded or not), a
missing segment spoils its own claim and not the next, 26 with TC is said rather than
half read, a void is not scrubbed, the writer never writes a member id that is not the
patient's, a byte order mark is read and a cut-short file is called cut short.

Every claim here is synthetic: the names, addresses, birth dates and member ids are made up.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.x12 import (
    Claim837,
    X12ReadError,
    claim_for,
    interchange_text,
    load_patients,
    parse_837,
    read_837_rows,
    validate_837,
)
from dexacode.formats.x12 import read as x12_read
from dexacode.formats.x12.model import Envelope
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter
from tests.formats.test_x12_read_audit import HEAD

Code = Callable[..., CodingResult]
DATA = Path(__file__).resolve().parents[1] / "data" / "x12"

# What must never appear in a message.
PRIVATE = ("SYNTHSUBLAST", "SYNTHDEPLAST", "SYNTHKID", "SYNTHSPOUSE", "SYNMBR", "19520614")


def subscriber(hl: int, member: str, *, dependents: bool = False, dmg: str = "19551001") -> str:
    """A subscriber loop (2000B): the patient (SBR02 = 18, Medicare) or, with dependents,
    a commercial plan holder whose dependents' claims follow in loops 2000C."""
    if dependents:
        return (
            f"HL*{hl}*1*22*1~\nSBR*P********CI~\n"
            f"NM1*IL*1*SYNTHSUBLAST*SYNTHSUB****MI*{member}~\n"
            "NM1*PR*2*EXAMPLE COMMERCIAL*****PI*COM01~\n"
        )
    return (
        f"HL*{hl}*1*22*0~\nSBR*P*18*******MB~\n"
        f"NM1*IL*1*SYNTHSUBLAST*SYNTHSUB****MI*{member}~\n"
        "N3*1 SYNTHETIC ROAD~\nN4*TULSA*OK*74103~\n"
        f"DMG*D8*{dmg}*F~\nNM1*PR*2*MEDICARE PART B*****PI*04412~\n"
    )


def dependent(hl: int, parent: int, first: str, born: str, sex: str, *, dmg: bool = True) -> str:
    """A dependent patient (loop 2000C/2010CA): PAT, NM1*QC and the patient's own DMG."""
    return (
        f"HL*{hl}*{parent}*23*0~\nPAT*19~\nNM1*QC*1*SYNTHDEPLAST*{first}~\n"
        "N3*1 SYNTHETIC ROAD~\nN4*TULSA*OK*74103~\n" + (f"DMG*D8*{born}*{sex}~\n" if dmg else "")
    )


def claim(
    claim_id: str,
    *,
    frequency: str = "1",
    sv1: str = "HC:77080",
    dtp: bool = True,
    hi: str = "HI*ABK:Z13820*ABF:M85851*ABF:Z780~",
    more_lines: str = "",
) -> str:
    ref = "REF*F8*PAYERICN0001~\n" if frequency in ("7", "8") else ""
    return (
        f"CLM*{claim_id}*150***11:B:{frequency}*Y*A*Y*Y~\n{ref}{hi}\n"
        "NM1*DN*1*EXAMPLE*ORLA****XX*1987654328~\n"
        f"LX*1~\nSV1*{sv1}*150*UN*1***1:2:3~\n"
        + ("DTP*472*D8*20260420~\n" if dtp else "")
        + more_lines
    )


def interchange(*blocks: str, head: str = HEAD) -> str:
    body = head + "".join(blocks)
    segments = body.split("ST*837*", 1)[1].count("~") + 1  # ST .. SE
    return body + f"SE*{segments}*0001~\nGE*1*101~\nIEA*1*000000101~\n"


def three_claims(**changes_to_a: Any) -> str:
    """Claims T-A, T-B and T-C of three patients, each in its own subscriber loop."""
    return interchange(
        subscriber(2, "SYNMBR0001"),
        claim("T-A", **changes_to_a),
        subscriber(3, "SYNMBR0002"),
        claim("T-B"),
        subscriber(4, "SYNMBR0003"),
        claim("T-C"),
    )


def with_dependent(**dep: Any) -> str:
    """T-A (a subscriber who is the patient), T-D (a dependent of another subscriber),
    T-B (a third patient)."""
    return interchange(
        subscriber(2, "SYNMBR0001"),
        claim("T-A"),
        subscriber(3, "SYNMBR0002", dependents=True),
        dependent(4, 3, "SYNTHKID", "19520614", "M", **dep),
        claim("T-D"),
        subscriber(5, "SYNMBR0003"),
        claim("T-B"),
    )


def rows(tmp_path: Path, text: str, book: RuleBook, name: str = "claims.837") -> list[Any]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return [raw for raw, _ in read_837_rows(path, book)]


def scrub_cli(tmp_path: Path, text: str, *extra: str) -> tuple[Any, list[Any], list[Any]]:
    """``dexacode scrub FILE.837``: the run, the results and the errors file's records."""
    from dexacode.cli import app

    source = tmp_path / "claims.837"
    source.write_text(text, encoding="utf-8")
    out, errors = tmp_path / "r.jsonl", tmp_path / "err.jsonl"
    args = ["scrub", str(source), "--out", str(out), "--errors", str(errors), *extra]
    run = CliRunner().invoke(app, [*args, "--workers", "1"])

    def read(path: Path) -> list[Any]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    return run, read(out), read(errors)


def _assert_private(*texts: str) -> None:
    for text in texts:
        for value in PRIVATE:
            assert value not in text, f"{value!r} repeated in: {text}"


# --- 1. a dependent patient's claim -----------------------------------------------------------


def test_a_dependent_patients_claim_is_read_with_the_patients_own_facts(
    tmp_path: Path, book: RuleBook
) -> None:
    text = with_dependent()
    assert validate_837(text).accepted
    read = rows(tmp_path, text, book)
    assert [r.problem for r in read] == [None, None, None]
    encounters = [json.loads(r.text) for r in read]
    assert [e["claim_id"] for e in encounters] == ["T-A", "T-D", "T-B"]
    dep = encounters[1]
    # The dependent's own sex and birth date (2010CA), not the subscriber's (who has none).
    assert dep["patient"]["sex"] == "M"
    assert dep["patient"]["birth_date"] == "1952-06-14"
    assert dep["payer"] == "commercial"
    # The subscriber's member id, marked as the dependent's.
    assert dep["patient"]["id"].startswith("SYNMBR0002-DEP-")
    assert dep["patient"]["id"] not in {e["patient"]["id"] for e in (encounters[0], encounters[2])}
    _assert_private(dep["patient"]["id"].removeprefix("SYNMBR0002"))


def test_each_dependent_has_an_id_of_their_own_the_same_in_every_file() -> None:
    text = interchange(
        subscriber(2, "SYNMBR0002", dependents=True),
        dependent(3, 2, "SYNTHKID", "19520614", "M"),
        claim("T-D1"),
        dependent(4, 2, "SYNTHSPOUSE", "19500301", "F"),
        claim("T-D2"),
    )
    first, second = parse_837(text)
    assert isinstance(first, Claim837) and isinstance(second, Claim837)
    assert first.patient is not None and second.patient is not None
    assert (first.patient.sex, second.patient.sex) == ("M", "F")
    assert first.patient_id != second.patient_id
    # The same dependent in another file (another subscriber loop number) keeps the id.
    (again,) = [c for c in parse_837(with_dependent()) if isinstance(c, Claim837)][1:2]
    assert again.patient_id == first.patient_id


def _dependent_id_in(nm1: str) -> str:
    text = interchange(
        subscriber(2, "SYNMBR0002", dependents=True),
        dependent(3, 2, "SYNTHKID", "19520614", "M").replace(
            "NM1*QC*1*SYNTHDEPLAST*SYNTHKID~", nm1
        ),
        claim("T-D1"),
    )
    (read,) = parse_837(text)
    assert isinstance(read, Claim837)
    return read.patient_id


def test_a_dependents_id_survives_a_middle_initial_and_a_new_surname() -> None:
    plain = _dependent_id_in("NM1*QC*1*SYNTHDEPLAST*SYNTHKID~")
    assert _dependent_id_in("NM1*QC*1*SYNTHDEPLAST*SYNTHKID*A~") == plain  # NM105 initial
    assert _dependent_id_in("NM1*QC*1*SYNTHDEPLAST*SYNTHKID A~") == plain  # in NM104
    assert _dependent_id_in("NM1*QC*1*SYNTHOTHERNAME*SYNTHKID~") == plain  # married
    assert _dependent_id_in("NM1*QC*1*SYNTHDEPLAST*SYNTHKIDTWO~") != plain  # a sibling
    # Twins with two given names each: two children, two ids.
    assert _dependent_id_in("NM1*QC*1*SYNTHDEPLAST*MARY ANN~") != _dependent_id_in(
        "NM1*QC*1*SYNTHDEPLAST*MARY BETH~"
    )


def test_a_dependent_without_a_birth_date_is_a_row_not_coded(
    tmp_path: Path, book: RuleBook
) -> None:
    text = with_dependent(dmg=False)
    read = rows(tmp_path, text, book)
    assert [r.problem is None for r in read] == [True, False, True]
    assert read[1].claim_id == "T-D" and "DMG" in read[1].problem
    _assert_private(read[1].problem)


# --- 1b. no claim vanishes ---------------------------------------------------------------------


VARIANTS = {
    "three claims": three_claims(),
    "a dependent": with_dependent(),
    "a dependent without DMG": with_dependent(dmg=False),
    "a missing DTP": three_claims(dtp=False),
    "a void": three_claims(frequency="8"),
    # pyx12 opens a loop 2300 of its own for an HI it cannot place: no claim of its own.
    "a malformed HI": three_claims(hi="HI*ZZZ*ABF:M810~"),
    "two claims of one subscriber": interchange(
        subscriber(2, "SYNMBR0001"),
        claim("T-A1", dtp=False),
        claim("T-A2"),
        subscriber(3, "SYNMBR0002"),
        claim("T-B"),
    ),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_clm_segment_is_a_row_coded_or_not(tmp_path: Path, book: RuleBook, name: str) -> None:
    text = VARIANTS[name]
    try:
        read = rows(tmp_path, text, book)
    except X12ReadError:
        return  # the whole file refused, said on the terminal: nothing is lost silently
    assert len(read) == text.count("\nCLM*"), [r.problem for r in read]
    assert [r.row for r in read] == list(range(1, len(read) + 1))


def test_the_scrub_of_a_dependents_claim_reconciles(tmp_path: Path) -> None:
    run, results, errors = scrub_cli(tmp_path, with_dependent(), "--no-store")
    assert "Rows read:        3" in run.stdout, run.stdout
    assert len(results) + len(errors) == 3
    assert "T-D" in {r["claim_id"] for r in results}


def test_a_claim_no_loop_holds_is_listed_not_lost(
    tmp_path: Path, book: RuleBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should the loops dexacode follows miss a claim (as they missed loop 2000C), the
    # claim is still a row: listed as not coded, with its claim id and where it is.
    real = x12_read._loops

    def subscribers_only(subscriber: Any, billing: Any) -> Any:
        claims, holders = real(subscriber, billing)
        return [c for c in claims if c.dependent is None], holders[:1]

    monkeypatch.setattr(x12_read, "_loops", subscribers_only)
    text = with_dependent()
    read = rows(tmp_path, text, book)
    assert [r.claim_id or None for r in read] == [None, "T-D", None]
    segment = text.split("CLM*T-D")[0].count("~") + 1
    assert read[1].problem is not None and f"segment {segment} of the file" in read[1].problem
    assert "not checked" in read[1].problem


# --- 2. a missing segment belongs to its own claim ----------------------------------------------


def test_a_missing_segment_spoils_its_own_claim_not_the_next(
    tmp_path: Path, book: RuleBook
) -> None:
    read = rows(tmp_path, three_claims(dtp=False), book)
    assert [r.claim_id for r in read] == ["T-A", None, None]
    assert read[0].problem is not None and "DTP" in read[0].problem
    assert "missing" in read[0].problem
    assert read[1].problem is None and read[2].problem is None


def test_a_missing_segment_spoils_only_its_claim_in_a_subscriber_with_two(
    tmp_path: Path, book: RuleBook
) -> None:
    text = interchange(
        subscriber(2, "SYNMBR0001"),
        claim("T-A1", dtp=False),
        claim("T-A2"),
        subscriber(3, "SYNMBR0002"),
        claim("T-B"),
    )
    read = rows(tmp_path, text, book)
    assert [r.problem is None for r in read] == [False, True, True]
    assert read[0].claim_id == "T-A1" and "DTP" in read[0].problem


def test_a_segment_missing_from_the_billing_provider_is_not_blamed_on_a_claim() -> None:
    head = HEAD.replace("N4*TULSA*OK*741031234~\n", "")
    text = interchange(subscriber(2, "SYNMBR0001"), claim("T-A"), head=head)
    with pytest.raises(X12ReadError, match="segment N4 is missing"):
        parse_837(text)


# --- 3. 26 and TC; the modifiers of other codes --------------------------------------------------


def test_26_and_tc_on_one_line_are_said_not_half_read(tmp_path: Path, book: RuleBook) -> None:
    read = rows(tmp_path, three_claims(sv1="HC:77080:TC:26"), book)
    first = read[0]
    assert first.text is None and first.problem is not None
    assert "claim T-A" in first.problem and "both TC and 26" in first.problem
    assert read[1].problem is None


def test_dxa_lines_billing_different_components_are_said(tmp_path: Path, book: RuleBook) -> None:
    second = "LX*2~\nSV1*HC:77081:TC*150*UN*1***1:2:3~\nDTP*472*D8*20260420~\n"
    read = rows(tmp_path, three_claims(sv1="HC:77080:26", more_lines=second), book)
    assert read[0].problem is not None and "77080-26, 77081-TC" in read[0].problem


def test_another_codes_modifiers_do_not_set_the_studys_billing(
    tmp_path: Path, book: RuleBook
) -> None:
    # A 26 on an ECG says nothing about the DXA study, which was billed global; the
    # submitted claim keeps the ECG line as it was.
    ecg = "LX*2~\nSV1*HC:93000:26*40*UN*1***1~\nDTP*472*D8*20260420~\n"
    first, _, _ = rows(tmp_path, three_claims(more_lines=ecg), book)
    enc = parse_encounter(first.text)
    assert enc.billing.component == "global"
    assert enc.submitted is not None
    assert [(x.cpt, x.modifiers) for x in enc.submitted.lines] == [
        ("77080", []),
        ("93000", ["26"]),
    ]


# --- 5. void and replacement --------------------------------------------------------------------


def test_a_void_is_not_scrubbed_and_never_recorded(tmp_path: Path) -> None:
    # T-B and the void of an earlier T-B, same patient and date: the void is no second
    # study (no SAME-DATE-DUPLICATE) and is not remembered as one.
    text = interchange(
        subscriber(2, "SYNMBR0001"),
        claim("T-A"),
        subscriber(3, "SYNMBR0002"),
        claim("T-B"),
        subscriber(4, "SYNMBR0002"),
        claim("T-BV", frequency="8"),
    )
    db = tmp_path / "history.db"
    run, results, errors = scrub_cli(tmp_path, text, "--db", str(db), "--record")
    assert [r["claim_id"] for r in results] == ["T-A", "T-B"], run.stdout + run.stderr
    assert [(e["claim_id"], e["reason"]) for e in errors] == [
        ("T-BV", "claim T-BV: a void of an earlier claim (CLM05-3 = 8); not scrubbed")
    ]
    assert not {f["id"] for r in results for f in r["findings"]} & {"SAME-DATE-DUPLICATE"}
    with sqlite3.connect(db) as conn:
        recorded = sorted(row[0] for row in conn.execute("select claim_id from prior_study"))
    assert recorded == ["T-A", "T-B"]


def test_a_replacement_is_scrubbed_as_the_claim_it_is(tmp_path: Path, book: RuleBook) -> None:
    text = three_claims(frequency="7")
    assert validate_837(text).accepted
    first, _, _ = parse_837(text)
    assert isinstance(first, Claim837) and first.frequency == "7"
    read = rows(tmp_path, text, book)
    assert read[0].problem is None


# --- 6. the writer's member ids -----------------------------------------------------------------


@pytest.mark.parametrize("patient_id", ["***", "~^:", "ÄÖ-1", "7", "P*7"])
def test_a_patient_id_x12_cannot_carry_is_held_back(
    code: Code, provider: Any, fees: Any, patient_id: str
) -> None:
    enc = make_encounter(patient__id=patient_id)
    made = claim_for(
        parse_encounter(enc), code(enc), provider=provider, fees=fees, family="medicare"
    )
    assert isinstance(made, list), made  # never NM109 empty, "-1" or "UNKNOWN"
    (reason,) = made
    assert "patient id" in reason and "NM109" in reason and "--patients" in reason
    if len(patient_id) > 1:
        assert patient_id not in reason


def test_a_lower_case_patient_id_is_written_as_it_is_and_reads_back(
    code: Code, provider: Any, fees: Any
) -> None:
    enc = make_encounter(patient__id="p-7")
    made = claim_for(
        parse_encounter(enc), code(enc), provider=provider, fees=fees, family="medicare"
    )
    assert isinstance(made, Claim837), made
    text = interchange_text([made], provider, Envelope(9, made_at()))
    assert "*MI*p-7~" in text
    check = validate_837(text)
    assert check.accepted, check.errors
    (back,) = parse_837(text)
    assert isinstance(back, Claim837) and back.patient_id == "p-7"


def test_a_member_id_from_the_patients_file_x12_cannot_carry_is_held_back(
    tmp_path: Path, code: Code, provider: Any, fees: Any
) -> None:
    people = tmp_path / "patients.csv"
    people.write_text(
        "patient_id,member_id,last_name\nP-77,SYNMBR~7,SYNTHSUBLAST\n", encoding="utf-8"
    )
    enc = make_encounter(patient__id="P-77")
    made = claim_for(
        parse_encounter(enc),
        code(enc),
        provider=provider,
        fees=fees,
        family="medicare",
        patients=load_patients(people),
    )
    assert isinstance(made, list) and "patients file" in made[0]
    _assert_private(*made)


def made_at() -> Any:
    import datetime as dt

    return dt.datetime(2026, 4, 20, 9, 30)


# --- 7. a byte order mark; a file cut short -----------------------------------------------------


def test_a_byte_order_mark_before_isa_is_read(tmp_path: Path, book: RuleBook) -> None:
    path = tmp_path / "bom.837"
    path.write_bytes(b"\xef\xbb\xbf" + three_claims().encode("utf-8"))
    read = [raw for raw, _ in read_837_rows(path, book)]
    assert [r.problem for r in read] == [None, None, None]


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.99])
def test_a_file_cut_short_says_where_it_ends(cut: float) -> None:
    text = three_claims()
    short = text[: int(len(text) * cut)]
    segments = len([s for s in short.split("~") if s.strip()])
    with pytest.raises(X12ReadError) as caught:
        parse_837(short)
    said = str(caught.value)
    assert f"ends early, at segment {segments}" in said, said
    assert "IEA" in said and "ending at segment 1)" not in said
    _assert_private(said)


# --- 8. diagnoses in HI order -------------------------------------------------------------------


def test_the_submitted_diagnoses_keep_the_hi_order(tmp_path: Path, book: RuleBook) -> None:
    # The reader passes HI as it is; ordering the corrected claim is the engine's.
    hi = "HI*ABK:M85851*ABF:Z780*ABF:Z8262~"
    first, _, _ = rows(tmp_path, three_claims(hi=hi), book)
    enc = parse_encounter(first.text)
    assert enc.submitted is not None
    assert enc.submitted.diagnoses == ["M85.851", "Z78.0", "Z82.62"]


def test_another_transaction_is_named_before_any_segment_error() -> None:
    # An 837I whose billing provider segment also breaks the 837P map: the user is told
    # the file is the wrong kind, not sent after one of its segments.
    text = interchange(subscriber(2, "SYNMBR0002"), claim("T-1"))
    text = text.replace("005010X222A1", "005010X223A2").replace(
        "*****XX*1234567893~", "*****QQ*1234567893~", 1
    )
    with pytest.raises(X12ReadError, match="GS08 is 005010X223A2, not an 837P"):
        parse_837(text)
