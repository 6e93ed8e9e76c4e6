"""The FHIR door, after review: another system's Bundle imports as it did before its Claim
was read (codes in other systems are left out with a note, never a refusal), a Claim in
error or about another patient is not counted, the Claim's modifiers give the billing
facts whatever gives the payer, and a result the sender says is absent is absent.
Synthetic data only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.fhir import FhirImport, read_fhir_rows, supply, to_encounter
from dexacode.formats.fhir.terms import CPT, ICD10CM
from tests.formats import fhir_records as records

Code = Callable[..., CodingResult]
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"
HCPCS_HTTP = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SNOMED = "http://snomed.info/sct"
CHARGEMASTER = "http://example.org/chargemaster"
DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def _obs(oid: str, loinc: str, value: float | None) -> dict[str, Any]:
    result: dict[str, Any] = records.t_score(oid, loinc, value)
    return result


def _record(payer: str | None = "commercial", *extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Another system's record: Patient, Coverage (unless no payer), a diagnostic order of
    the left hip, a DXA report with two results, and ``extra``."""
    results = [_obs("neck-t", "80948-3", -2.6), _obs("hip-t", "80946-7", -1.4)]
    out: list[dict[str, Any]] = [
        records.patient("SYN-90001", "1955-04-01"),
        records.left_hip_order("diagnostic"),
        records.dxa_report(results),
        *results,
        *extra,
    ]
    if payer is not None:
        out.append(records.coverage(payer))
    return out


def _item(n: int, system: str, code: str, *mods: str, **more: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sequence": n,
        "productOrService": {"coding": [{"system": system, "code": code}]},
        **more,
    }
    if mods:
        item["modifier"] = [{"coding": [{"system": CPT, "code": m}]} for m in mods]
    return item


def _dx(n: int, system: str, code: str) -> dict[str, Any]:
    return {
        "sequence": n,
        "diagnosisCodeableConcept": {"coding": [{"system": system, "code": code}]},
    }


def _claim(
    items: list[dict[str, Any]],
    diagnoses: list[dict[str, Any]] | None = None,
    *,
    cid: str = "EHR-1",
    status: str = "active",
    patient: str = "Patient/pt-1",
) -> dict[str, Any]:
    return {
        "resourceType": "Claim",
        "id": cid,
        "status": status,
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "claim",
        "patient": {"reference": patient},
        "created": "2026-03-02",
        "provider": {"display": "a clinic"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "cov"}}],
        "identifier": [{"system": "urn:dexacode:claim-id", "value": cid}],
        "diagnosis": diagnoses if diagnoses is not None else [_dx(1, ICD10CM, "M81.0")],
        "item": items,
    }


def _rows(tmp_path: Path, resources: list[dict[str, Any]]) -> list[Any]:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }
    path = tmp_path / "in.fhir.json"
    path.write_text(json.dumps(bundle))
    return [row for row, _ in read_fhir_rows(path)]


def code_encounter_of(enc: dict[str, Any]) -> CodingResult:
    from dexacode.coding import code

    return code(parse_encounter(enc))


def _coded(tmp_path: Path, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The encounter the scrubber reads from the Bundle: never refused."""
    (row,) = _rows(tmp_path, resources)
    assert row.problem is None and row.text is not None, row.problem
    enc: dict[str, Any] = json.loads(row.text)
    parse_encounter(enc)
    return enc


# --- 1. codes in other systems: left out with a note, never a refusal ------------------------


@pytest.mark.parametrize(
    ("system", "code"),
    [(CPT_OID, "77080"), (HCPCS_HTTP, "G0130")],
    ids=["CPT by its OID", "HCPCS under HL7's http canonical URL"],
)
def test_cpt_by_oid_and_hcpcs_by_either_url_are_read(
    tmp_path: Path, system: str, code: str
) -> None:
    enc = _coded(tmp_path, _record("commercial", _claim([_item(1, system, code)])))
    assert enc["submitted"]["lines"] == [{"cpt": code, "modifiers": [], "units": 1}]


def test_a_line_in_a_chargemaster_system_is_kept_when_it_has_a_line_code(
    tmp_path: Path, code: Code
) -> None:
    claim = _claim([_item(1, CPT, "77080"), _item(2, CHARGEMASTER, "A9999")])
    enc = _coded(tmp_path, _record("commercial", claim))
    assert [line["cpt"] for line in enc["submitted"]["lines"]] == ["77080", "A9999"]
    unknown = [f for f in code(enc).findings if f.id == "CPT-UNKNOWN"]
    assert [(f.line, f.severity) for f in unknown] == [("A9999", "info")]


def test_a_line_with_no_readable_code_is_left_out_with_a_note(tmp_path: Path) -> None:
    claim = _claim(
        [
            _item(1, CPT, "77080"),
            _item(2, CHARGEMASTER, "SUPPLY-1"),
            {"sequence": 3, "productOrService": {"text": "a supply"}},
        ]
    )
    resources = _record("commercial", claim)
    enc = _coded(tmp_path, resources)
    assert enc["submitted"]["lines"] == [{"cpt": "77080", "modifiers": [], "units": 1}]
    notes = to_encounter(resources).notes
    assert any(n.startswith("the Claim's item 2 has no procedure code") for n in notes)
    assert any(n.startswith("the Claim's item 3 has no procedure code") for n in notes)


def test_a_modifier_that_cannot_be_one_is_left_out_with_a_note(tmp_path: Path) -> None:
    item = _item(1, CPT, "77080")
    item["modifier"] = [
        {"coding": [{"system": CHARGEMASTER, "code": "PROF-READ"}]},
        {"coding": [{"system": CPT, "code": "26"}]},
    ]
    resources = _record("commercial", _claim([item]))
    enc = _coded(tmp_path, resources)
    assert enc["submitted"]["lines"][0]["modifiers"] == ["26"]
    assert any(
        "modifier that is not two letters or digits" in n for n in to_encounter(resources).notes
    )


def test_a_diagnosis_in_snomed_is_left_out_and_the_pointers_follow(tmp_path: Path) -> None:
    diagnoses = [_dx(1, ICD10CM, "M81.0"), _dx(2, SNOMED, "64859006"), _dx(3, ICD10CM, "Z78.0")]
    claim = _claim(
        [
            _item(1, CPT, "77080", diagnosisSequence=[1, 2, 3]),
            _item(2, CPT, "77081", diagnosisSequence=[2]),
        ],
        diagnoses,
    )
    resources = _record("commercial", claim)
    enc = _coded(tmp_path, resources)
    assert enc["submitted"]["diagnoses"] == ["M81.0", "Z78.0"]
    pointers = [line["diagnosis_pointers"] for line in enc["submitted"]["lines"]]
    assert pointers == [[1, 2], []]  # the second pointed only to the SNOMED one: to none
    assert any(
        n.startswith("the Claim's diagnosis 2 has no ICD-10-CM code")
        for n in to_encounter(resources).notes
    )


@pytest.mark.parametrize(
    "claim",
    [
        _claim([_item(1, CHARGEMASTER, "DXA-HIP-BILAT")]),
        _claim([_item(1, CPT, "77080", quantity={"value": 150})]),
        _claim([_item(1, CPT, "77080", quantity={"value": 1.5})]),
    ],
    ids=["no line with a readable code", "units past the contract's", "units not whole"],
)
def test_a_claim_that_cannot_be_read_is_not_checked_and_the_row_is_still_coded(
    tmp_path: Path, claim: dict[str, Any]
) -> None:
    resources = _record("commercial", claim)
    enc = _coded(tmp_path, resources)
    assert "submitted" not in enc
    assert enc["claim_id"] == "EHR-1"
    assert any("not checked" in n for n in to_encounter(resources).notes)
    # ... and the scrub says so: a claim was sent and its checks were not made.
    assert "submitted" in enc["unknown"]
    result = code_encounter_of(enc)
    (said,) = [f for f in result.findings if f.id == "NOT-JUDGED"]
    assert "LINE-EXTRA" in said.message and "submitted" in said.message


def test_a_bundle_without_a_claim_has_no_claim_checks_to_miss(tmp_path: Path) -> None:
    enc = _coded(tmp_path, _record("commercial"))
    assert "submitted" not in enc.get("unknown", [])


def test_a_modifier_on_another_code_says_nothing_about_the_study() -> None:
    # The 837 door reads the billing facts from the DXA lines only.
    claim = _claim([_item(1, CPT, "77080"), _item(2, CPT, "99213", "26")])
    enc = to_encounter(_record("commercial", claim)).encounter
    assert enc["billing"]["component"] == "global"


# --- 2. a Claim in error, cancelled or another patient's is not counted ----------------------


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_a_void_claim_beside_the_live_one_is_left_out_with_a_note(
    tmp_path: Path, status: str
) -> None:
    live = _claim([_item(1, CPT, "77080", "26")], cid="EHR-LIVE")
    void = _claim([_item(1, CPT, "77081")], cid="EHR-VOID", status=status)
    resources = _record("commercial", live, void)
    enc = _coded(tmp_path, resources)
    assert enc["claim_id"] == "EHR-LIVE"
    assert enc["submitted"]["lines"] == [{"cpt": "77080", "modifiers": ["26"], "units": 1}]
    assert f"Claim/EHR-VOID: status {status}; not checked" in to_encounter(resources).notes


def test_another_patients_claim_is_left_out_with_a_note(tmp_path: Path) -> None:
    live = _claim([_item(1, CPT, "77080")], cid="EHR-LIVE")
    other = _claim([_item(1, CPT, "77081")], cid="EHR-OTHER", patient="Patient/pt-2")
    resources = _record("commercial", other, live)
    enc = _coded(tmp_path, resources)
    assert enc["claim_id"] == "EHR-LIVE"
    assert enc["submitted"]["lines"][0]["cpt"] == "77080"
    notes = to_encounter(resources).notes
    assert "Claim/EHR-OTHER: not about the Patient of this import; not used" in notes


def test_a_refused_row_names_the_live_claim_not_the_void_one(tmp_path: Path) -> None:
    void = _claim([_item(1, CPT, "77081")], cid="EHR-VOID", status="entered-in-error")
    live = _claim([_item(1, CPT, "77080")], cid="EHR-LIVE")
    resources = _record("commercial", void, live)
    resources[4]["valueQuantity"]["code"] = "mg"  # a result not read: the row is refused
    (row,) = _rows(tmp_path, resources)
    assert row.problem is not None and row.claim_id == "EHR-LIVE"


def test_a_refused_row_never_names_another_patients_claim(tmp_path: Path) -> None:
    other = _claim([_item(1, CPT, "77081")], cid="EHR-OTHER", patient="Patient/someone-else")
    live = _claim([_item(1, CPT, "77080")], cid="EHR-LIVE")
    resources = _record("commercial", other, live)
    resources[4]["valueQuantity"]["code"] = "mg"  # a result not read: the row is refused
    (row,) = _rows(tmp_path, resources)
    assert row.problem is not None and row.claim_id == "EHR-LIVE"


def test_two_live_claims_are_still_refused() -> None:
    from dexacode.formats.fhir import FhirInputError

    one = _claim([_item(1, CPT, "77080")], cid="EHR-1")
    two = _claim([_item(1, CPT, "77081")], cid="EHR-2")
    with pytest.raises(FhirInputError, match="the input holds 2 Claims"):
        to_encounter(_record("commercial", one, two))


# --- 3. the modifiers give the billing facts, whatever gives the payer -----------------------


def _professional_claim() -> dict[str, Any]:
    return _claim([_item(1, CPT, "77080", "26", "GA", "52")])


def test_modifiers_give_the_billing_facts_when_the_overlay_gives_the_payer(code: Code) -> None:
    imported = to_encounter(_record(None, _professional_claim()))
    assert "component" not in imported.encounter.get("billing", {})  # no payer yet
    done = supply(imported, {"payer": "medicare"})
    billing = done.encounter["billing"]
    assert billing["component"] == "professional"
    assert billing["abn_signed"] is True
    assert done.encounter["exam"]["status"] == "reduced"
    result = code(done.encounter)
    assert [line.cpt for line in result.lines] == ["77080"]
    assert "26" in result.lines[0].modifiers  # not coded as a global 77080


def test_an_option_after_an_overlay_gives_the_payer_and_keeps_the_overlays_facts() -> None:
    imported = to_encounter(_record(None, _professional_claim()))
    with_overlay = supply(imported, {"billing": {"component": "technical"}})
    done = supply(with_overlay, {"payer": "commercial"})
    assert done.encounter["billing"]["component"] == "technical"  # given outright
    assert done.encounter["billing"]["abn_signed"] is True  # from GA, once the payer came


def test_supply_without_a_claim_derives_nothing() -> None:
    done = supply(to_encounter(_record(None)), {"payer": "commercial"})
    assert "billing" not in done.encounter
    assert isinstance(done, FhirImport) and done.claim_facts is None


# --- 4. a result the sender says is absent is absent ------------------------------------------


def _absent(how: str) -> dict[str, Any]:
    res = _obs("neck-z", "80940-0", None)
    if how == "dataAbsentReason":
        res["dataAbsentReason"] = {"coding": [{"system": DAR, "code": "not-performed"}]}
    else:
        res["valueQuantity"] = {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                    "valueCode": "not-performed",
                }
            ]
        }
    return res


@pytest.mark.parametrize("how", ["dataAbsentReason", "valueQuantity extension"])
def test_a_result_said_absent_is_a_note_not_an_unread_result(tmp_path: Path, how: str) -> None:
    resources = _record("commercial")
    resources[2]["result"].append({"reference": "Observation/neck-z"})
    resources.append(_absent(how))
    imported = to_encounter(resources)
    assert imported.unread == [] and imported.missing == []
    assert any("neck-z" in n and "(not-performed); read as absent" in n for n in imported.notes)
    enc = _coded(tmp_path, resources)
    assert {(r["site"], r["region"]) for r in enc["results"]} == {
        ("left_hip", "femoral_neck"),
        ("left_hip", "total_hip"),
    }


def test_a_result_with_no_value_and_no_reason_still_stops_the_row() -> None:
    resources = _record("commercial")
    resources[2]["result"].append({"reference": "Observation/neck-z"})
    resources.append(_obs("neck-z", "80940-0", None))
    (why,) = to_encounter(resources).unread
    assert "no numeric valueQuantity.value" in why


@pytest.mark.parametrize("use", ["predetermination", "preauthorization"])
def test_a_claim_asked_in_advance_is_not_checked_as_a_claim_sent(tmp_path: Path, use: str) -> None:
    estimate = _claim([_item(1, CPT, "77081")], cid="EHR-EST")
    estimate["use"] = use
    resources = _record("commercial", estimate)
    enc = _coded(tmp_path, resources)
    assert "submitted" not in enc and "submitted" not in enc.get("unknown", [])
    notes = to_encounter(resources).notes
    assert any(f"use {use}" in n and "not checked" in n for n in notes)
