"""FHIR in: which Patient.identifier becomes patient.id (837 member id, the claim-history
store's key). A member or subscriber id first, then the medical record number, then any
other identifier, then the resource id; never an SSN, driver's licence or passport
number, and no identifier value in a note. Synthetic identifiers only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dexacode.contract import parse_encounter
from dexacode.formats.fhir import import_files, result_to_fhir, to_encounter
from dexacode.formats.fhir.identity import identity_rules
from tests.formats.test_fhir_audit import Code, _cli, collection, complete, hip_study, write

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
US_SSN = "http://hl7.org/fhir/sid/us-ssn"
US_CORE = Path(__file__).resolve().parents[1] / "data" / "fhir" / "us-core"

SSN = "900-12-3456"  # the 9xx area is never issued: synthetic
SSN_DIGITS = "900123456"
MRN = "SYN-MR-5521"
MEMBER = "SYN-MB-0042"
SUBSCRIBER = "SYN-SN-0077"


def ident(value: str, type_code: str | None = None, system: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if type_code is not None:
        out["type"] = {"coding": [{"system": V2_0203, "code": type_code}]}
    if system is not None:
        out["system"] = system
    return out


def study(*identifiers: dict[str, Any], pid: str | None = "pt-1") -> list[dict[str, Any]]:
    """A hip study whose Patient carries these identifiers (and, unless None, id pid)."""
    resources = hip_study()
    resources[0]["identifier"] = list(identifiers)
    if pid is None:
        del resources[0]["id"]
        for res in resources[1:]:
            res.pop("subject", None)
    return resources


def everything(imported: Any) -> str:
    return json.dumps(imported.encounter) + "\n".join(imported.notes)


# --- an SSN, licence or passport first is passed over --------------------------------------

NEVER = [
    pytest.param(ident(SSN_DIGITS, system=US_SSN), SSN_DIGITS, id="us-ssn system"),
    pytest.param(ident(SSN_DIGITS, "SS"), SSN_DIGITS, id="type SS"),
    pytest.param(ident(SSN_DIGITS, system="urn:oid:2.16.840.1.113883.4.1"), SSN_DIGITS, id="oid"),
    pytest.param(
        {"value": SSN_DIGITS, "type": {"text": "Social Security Number"}}, SSN_DIGITS, id="text"
    ),
    pytest.param(ident(SSN), SSN, id="untyped, SSN-shaped"),
    pytest.param(ident("D1234567", "DL", "urn:oid:2.16.840.1.113883.4.3.25"), "D1234567", id="DL"),
    pytest.param(ident("X98765432", "PPN"), "X98765432", id="passport"),
]


@pytest.mark.parametrize("first, value", NEVER)
def test_an_ssn_licence_or_passport_given_first_is_not_the_patient_id(
    first: dict[str, Any], value: str
) -> None:
    imported = to_encounter(study(first, ident(MRN, "MR", "urn:example:mrn")))
    assert imported.encounter["patient"]["id"] == MRN
    assert value not in everything(imported)


@pytest.mark.parametrize("only, value", NEVER)
def test_with_only_such_an_identifier_the_resource_id_is_used_and_said(
    only: dict[str, Any], value: str
) -> None:
    imported = to_encounter(study(only))
    assert imported.encounter["patient"]["id"] == "pt-1"
    assert value not in everything(imported)
    assert any("resource id is used" in note for note in imported.notes)


def test_with_only_an_ssn_and_no_resource_id_the_id_is_asked_for() -> None:
    imported = to_encounter(study(ident(SSN_DIGITS, "SS", US_SSN), pid=None))
    assert imported.encounter["patient"].get("id") is None
    assert "patient.id" in [m.field for m in imported.missing]
    assert SSN_DIGITS not in everything(imported)


# --- the order of preference ---------------------------------------------------------------


@pytest.mark.parametrize(
    "identifiers, want",
    [
        # The practice's record number first: the id the other doors are given.
        ([ident(MEMBER, "MB"), ident(MRN, "MR")], MRN),
        ([ident(SUBSCRIBER, "SN"), ident(MRN, "MR")], MRN),
        ([ident(SUBSCRIBER, "SN"), ident(MEMBER, "MB")], MEMBER),
        ([ident("SYN-OTHER-1", system="urn:example:x"), ident(MRN, "MR")], MRN),
        ([ident("SYN-OTHER-1", system="urn:example:x"), ident("SYN-OTHER-2")], "SYN-OTHER-1"),
        ([{**ident("SYN-OLD-MR", "MR"), "use": "old"}, ident(MRN, "MR")], MRN),
        # An MR code in another code system is not table 0203's MR: just another identifier.
        (
            [
                {"value": "SYN-OTHER-3", "type": {"coding": [{"system": "urn:x", "code": "MR"}]}},
                ident(MRN, "MR"),
            ],
            MRN,
        ),
    ],
)
def test_member_then_subscriber_then_record_number_then_another(
    identifiers: list[dict[str, Any]], want: str
) -> None:
    assert to_encounter(study(*identifiers)).encounter["patient"]["id"] == want


def test_the_us_core_example_patient_keeps_its_medical_record_number() -> None:
    imported = import_files([US_CORE / "Patient-example.json"])
    assert imported.encounter["patient"]["id"] == "1032702"  # its one identifier, type MR


def test_the_preference_is_data_written_once() -> None:
    rules = identity_rules()
    assert [sorted(t) for t in rules.prefer] == [["MR"], ["MB"], ["SN"]]
    assert {"SS", "DL", "PPN"} <= rules.never_types
    assert US_SSN in rules.never_systems


# --- what a user sees: the encounter written, the CLI output, the FHIR written back ---------


def test_cli_writes_no_ssn_and_the_coded_bundle_carries_none(tmp_path: Path, code: Code) -> None:
    resources = study(ident(SSN_DIGITS, system=US_SSN), ident(MRN, "MR", "urn:example:mrn"))
    out = tmp_path / "enc.json"
    run = _cli(
        [
            "fhir-import",
            str(write(tmp_path, collection(resources))),
            "--payer",
            "commercial",
            "--reason",
            "diagnostic",
            "--sites",
            "left_hip",
            "-o",
            str(out),
        ]
    )
    assert run.exit_code == 0, run.output
    assert SSN_DIGITS not in run.output and SSN_DIGITS not in out.read_text()
    enc = parse_encounter(out.read_text())
    assert enc.patient.id == MRN
    imported = to_encounter(resources)
    bundle = result_to_fhir(code(complete(imported, ["left_hip"])), enc)
    assert SSN_DIGITS not in json.dumps(bundle)
