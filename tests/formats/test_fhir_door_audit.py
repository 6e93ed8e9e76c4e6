"""The FHIR door, second audit: a Bundle dexacode wrote reads back as the encounter it
coded (no invented denials), facts a Bundle does not carry are unknown (NOT-JUDGED), the
Claim of a Bundle is the submitted claim, a DXA result that cannot be read stops the row,
VFA alone reads back, NDJSON rows are lines, error rows carry the claim id and never a
Patient's id, and a claim without diagnoses has no empty array. Synthetic data only."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhir.resources.R4B as r4b
import pytest

from dexacode.contract import CodingResult, parse_encounter
from dexacode.formats.fhir import (
    read_fhir_rows,
    result_to_fhir,
    supply,
    to_encounter,
)
from dexacode.formats.fhir.read import entries_of
from dexacode.formats.fhir.terms import CPT, HCPCS, ICD10CM
from tests.conftest import make_encounter
from tests.formats import fhir_records as records

Code = Callable[..., CodingResult]
REPO = Path(__file__).resolve().parents[2]
EX1 = REPO / "examples" / "ex1-osteopenia-right-hip.json"
BATCH = REPO / "examples" / "batch.jsonl"
# The findings about a submitted claim's own mistakes: a read-back Bundle submits the
# corrected claim, so these are gone from it, never added.
ABOUT_SUBMITTED = {
    "LINE-EXTRA",
    "LINE-MISSING",
    "MODIFIER-MISSING",
    "MODIFIER-EXTRA",
    "MODIFIER-ORDER",
    "COMPONENT-MISMATCH",
    "DIAGNOSIS-MISSING",
    "DIAGNOSIS-EXTRA",
    "DIAGNOSIS-ORDER",
    "DIAGNOSIS-POINTER",
    "MUE-EXCEEDED",
    "DISTINCT-MODIFIER-WRONG",
    "DISTINCT-MODIFIER-MISSING",
    "DISTINCT-MODIFIER-ACCEPTED",
    "PTP-AXIAL-VFA",
    "PTP-BUNDLED",
    "PTP-SAME-GROUP",
    "CPT-UNKNOWN",
    # Raised on the submitted diagnosis list as well as on the coded one.
    "M8580-UNSPECIFIED",
    "Z13820-ALONE",
    "COVERED-DX",
    "VFA-SCREENING",
    "NO-DIAGNOSIS",
    "DIAGNOSIS-LIMIT",
    "ICD10-INVALID",
    "ICD10-NOT-BILLABLE",
    "ICD10-EXCLUDES1",
}


def _back(bundle: dict[str, Any]) -> Any:
    return to_encounter(list(entries_of(bundle, "test")))


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _claim_of(bundle: dict[str, Any]) -> dict[str, Any]:
    (claim,) = _resources(bundle, "Claim")
    return claim


def _shape(result: CodingResult) -> tuple[Any, ...]:
    return (
        [(x.cpt, x.modifiers, x.units, x.diagnosis_pointers) for x in result.lines],
        result.diagnoses,
        [(f.id, f.severity, f.line) for f in result.findings],
        result.interpretation.model_dump(),
        result.coverage.model_dump(),
    )


def _write(tmp_path: Path, text: str, name: str = "in.fhir.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- 1. a Bundle dexacode wrote reads back as the encounter it coded --------------------------


def test_the_example_written_as_fhir_scrubs_clean_as_it_coded(tmp_path: Path, code: Code) -> None:
    enc = json.loads(EX1.read_text())
    first = code(enc)
    assert not first.has_errors
    bundle = result_to_fhir(first, parse_encounter(enc))
    ((row, _),) = list(read_fhir_rows(_write(tmp_path, json.dumps(bundle))))
    assert row.text is not None, row.problem
    back = json.loads(row.text)
    assert "unknown" not in back  # every fact the rules need came back
    again = code(back)
    assert _shape(again) == _shape(first)  # no GZ, Z78.0 kept, no NOT-QUALIFIED / ABN-MISSING
    assert back["submitted"]["diagnoses"] == ["Z13.820", "M85.851", "Z78.0"]


ROUND_TRIPS = {
    "risk factors, drugs, conditions, status not documented": {
        "patient__menopausal_status": None,
        "patient__risk_factors": ["glucocorticoid_therapy", "family_history_osteoporosis"],
        "patient__medications": [
            {"name": "prednisone", "status": "current"},
            {"name": "alendronate", "status": "completed"},
        ],
        "patient__conditions": ["E21.0"],
    },
    "too soon, ABN signed (GA)": {
        "history": [{"date_of_service": "2025-06-01", "cpt": "77080"}],
        "billing__abn_signed": True,
    },
    "too soon, no ABN (GZ)": {"history": [{"date_of_service": "2025-06-01", "cpt": "77080"}]},
    "a prior study not covered": {
        "history": [{"date_of_service": "2025-06-01", "cpt": "77080", "covered": False}]
    },
    "reading only, reduced, substitute": {
        "billing__equipment_owner": "other",
        "billing__substitute": "reciprocal",
        "billing__substitute_days": 10,
        "exam__status": "reduced",
        "exam__will_repeat": True,
    },
    "technical only, forearm with a reason": {
        "billing__component": "technical",
        "exam__sites": ["lumbar_spine", "left_hip", "left_forearm"],
        "exam__peripheral_reason": "hyperparathyroidism",
    },
    "institutional": {"billing__claim_form": "institutional"},
    "a man": {
        "patient__sex": "M",
        "patient__menopausal_status": None,
        "order__reason": "diagnostic",
    },
    "premenopausal, commercial": {
        "patient__menopausal_status": "premenopausal",
        "payer": "commercial",
    },
}


@pytest.mark.parametrize("changes", ROUND_TRIPS.values(), ids=list(ROUND_TRIPS))
def test_the_facts_dexacode_writes_read_back_and_code_the_same(
    changes: dict[str, Any], code: Code
) -> None:
    enc = make_encounter(**changes)
    first = code(enc)
    bundle = result_to_fhir(first, parse_encounter(enc))
    r4b.get_fhir_model_class("Bundle").model_validate(bundle)
    imported = _back(bundle)
    assert imported.missing == [] and imported.unread == []
    back = imported.encounter
    assert "unknown" not in back
    assert back["billing"] == enc["billing"]
    assert {"vfa": False, **back["exam"]} == enc["exam"]  # VFA is said only when done
    for fact in ("risk_factors", "medications", "conditions", "menopausal_status"):
        assert (
            back["patient"].get(fact, [] if fact != "menopausal_status" else None)
            == (enc["patient"][fact])
        )
    assert back.get("history", []) == [
        {k: v for k, v in h.items() if k != "covered" or v is False} for h in enc["history"]
    ]
    assert _shape(code(back)) == _shape(first)


def test_the_example_batch_round_trips_through_fhir(code: Code) -> None:
    """The 300-row example: each row coded, written as FHIR, read back and coded again
    gives the same claim, and findings only about a submitted claim's own mistakes go."""
    clean_before = clean_after = 0
    for line in BATCH.read_text().splitlines():
        enc = json.loads(line)
        try:
            first = code(enc)
        except ValueError:  # the example's one row that is not coded (a contract error)
            continue
        back = _back(result_to_fhir(first, parse_encounter(enc)))
        assert back.missing == [] and back.unread == [], enc["claim_id"]
        assert "unknown" not in back.encounter, enc["claim_id"]
        again = code(back.encounter)
        before, after = _shape(first), _shape(again)
        assert after[:2] == before[:2], enc["claim_id"]  # lines and diagnoses
        if enc.get("submitted") is None:
            assert after == before, enc["claim_id"]
        else:
            gone = {f for f in before[2] if f not in after[2]}
            assert {f for f in after[2] if f not in before[2]} == set(), enc["claim_id"]
            assert {f[0] for f in gone} <= ABOUT_SUBMITTED, enc["claim_id"]
        clean_before += not first.findings or not first.has_errors
        clean_after += not again.findings or not again.has_errors
    assert clean_after >= clean_before > 150


# --- 1. a Bundle from elsewhere: what it does not carry is unknown ----------------------------

MRN = "SYN-55012"


def _patient() -> dict[str, Any]:
    return records.patient(MRN, "1950-06-01")


def _elsewhere(neck_unit: str | None = "{T-score}") -> list[dict[str, Any]]:
    """Another system's record: Patient, Medicare Coverage, a screening order of the left
    hip, a DXA report and its results; no risk factors, drugs or menopausal status."""
    results = [
        records.t_score("neck-t", "80948-3", -2.6, neck_unit),  # left femoral neck T
        records.t_score("hip-t", "80946-7", -1.4),
    ]
    return [
        _patient(),
        records.coverage("medicare"),
        records.left_hip_order("screening"),
        records.dxa_report(results),
        *results,
    ]


def test_facts_another_systems_bundle_does_not_carry_are_not_judged(code: Code) -> None:
    imported = to_encounter(_elsewhere())
    assert imported.missing == []
    enc = imported.encounter
    assert enc["unknown"] == [
        "patient.risk_factors",
        "patient.medications",
        "patient.conditions",
        "patient.menopausal_status",
        "billing.equipment_owner",
    ]
    result = code(enc)
    found = {f.id for f in result.findings}
    assert "NOT-JUDGED" in found
    # Read as "no risk factor, no drug, status not documented", a Medicare screening of
    # this woman would be an expected denial with GZ and an ABN error: not so when unknown.
    assert not found & {"NOT-QUALIFIED", "ABN-MISSING", "MENOPAUSE-UNKNOWN", "GUIDELINE-NOT-MET"}
    assert all("GZ" not in line.modifiers for line in result.lines)
    assert result.interpretation.category == "osteoporosis"


def test_a_fact_supplied_in_the_overlay_is_no_longer_unknown() -> None:
    imported = supply(
        to_encounter(_elsewhere()),
        {"patient": {"risk_factors": [], "menopausal_status": "postmenopausal"}},
    )
    assert imported.encounter["unknown"] == [
        "patient.medications",
        "patient.conditions",
        "billing.equipment_owner",
    ]


# --- 2. the Claim of a Bundle is the submitted claim ------------------------------------------


def _ex1_bundle(code: Code) -> dict[str, Any]:
    enc = json.loads(EX1.read_text())
    return result_to_fhir(code(enc), parse_encounter(enc))


def test_a_bundles_claim_is_checked_as_the_837_door_checks_one(code: Code) -> None:
    bundle = _ex1_bundle(code)
    claim = _claim_of(bundle)
    claim["item"] = [
        {
            "sequence": 1,
            "productOrService": {"coding": [{"system": CPT, "code": "77081"}]},
            "modifier": [{"coding": [{"system": CPT, "code": "59"}]}],
            "quantity": {"value": 3},
            "diagnosisSequence": [1],
        }
    ]
    claim["diagnosis"] = [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": "Z13.820"}]},
        }
    ]
    enc = _back(bundle).encounter
    assert enc["submitted"] == {
        "lines": [{"cpt": "77081", "modifiers": ["59"], "units": 3, "diagnosis_pointers": [1]}],
        "diagnoses": ["Z13.820"],
    }
    found = {f.id for f in code(enc).findings}
    assert {"LINE-EXTRA", "LINE-MISSING", "MUE-EXCEEDED", "Z13820-ALONE"} <= found


def test_claim_diagnoses_are_read_in_sequence_order_and_pointers_follow(code: Code) -> None:
    bundle = _ex1_bundle(code)
    claim = _claim_of(bundle)
    claim["diagnosis"] = [
        {
            "sequence": 7,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": "Z78.0"}]},
        },
        {
            "sequence": 2,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": "Z13.820"}]},
        },
    ]
    claim["item"][0]["diagnosisSequence"] = [7]
    submitted = _back(bundle).encounter["submitted"]
    assert submitted["diagnoses"] == ["Z13.820", "Z78.0"]
    assert submitted["lines"][0]["diagnosis_pointers"] == [2]


def test_another_systems_claim_gives_billing_facts_by_its_modifiers(code: Code) -> None:
    resources = _elsewhere()
    resources.append(
        {
            "resourceType": "Claim",
            "status": "active",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                        "code": "professional",
                    }
                ]
            },
            "use": "claim",
            "patient": {"reference": "Patient/pt-1"},
            "created": "2026-03-02",
            "provider": {"display": "a clinic"},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [
                {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}
            ],
            "identifier": [{"system": "urn:dexacode:claim-id", "value": "EHR-9"}],
            "diagnosis": [
                {
                    "sequence": 1,
                    "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": "M81.0"}]},
                }
            ],
            "item": [
                {
                    "sequence": 1,
                    "productOrService": {"coding": [{"system": CPT, "code": "77080"}]},
                    "modifier": [
                        {"coding": [{"system": CPT, "code": "26"}]},
                        {"coding": [{"system": HCPCS, "code": "GA"}]},
                    ],
                }
            ],
        }
    )
    enc = to_encounter(resources).encounter
    assert enc["claim_id"] == "EHR-9"
    assert enc["billing"]["component"] == "professional"
    assert enc["billing"]["abn_signed"] is True
    assert "billing.equipment_owner" in enc["unknown"]
    assert enc["submitted"]["lines"] == [{"cpt": "77080", "modifiers": ["26", "GA"], "units": 1}]
    parse_encounter(enc)


def test_a_pointer_to_no_diagnosis_leaves_the_claim_unchecked_with_a_note(
    tmp_path: Path, code: Code
) -> None:
    # Refused the day the Claim was first read; Bundles like it imported before, so the
    # Claim is not checked (no submitted claim) and a note says why, never a refusal.
    bundle = _ex1_bundle(code)
    _claim_of(bundle)["item"][0]["diagnosisSequence"] = [1, 9]
    imported = _back(bundle)
    assert "submitted" not in imported.encounter
    assert any(
        "diagnosisSequence 9 names no diagnosis" in n and "not checked" in n for n in imported.notes
    )
    ((row, _),) = list(read_fhir_rows(_write(tmp_path, json.dumps(bundle))))
    assert row.problem is None and row.text is not None


# --- 3. a DXA result that cannot be read stops the row ----------------------------------------


def test_a_result_without_a_unit_is_a_row_error_not_a_milder_reading(tmp_path: Path) -> None:
    resources = _elsewhere(neck_unit=None)
    imported = to_encounter(resources)
    (why,) = imported.unread
    assert why.startswith("Observation/neck-t (DXA Femur - left [T-score]")
    assert "no UCUM unit code" in why
    assert [m.field for m in imported.missing] == ["results"]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    ((row, _),) = list(read_fhir_rows(_write(tmp_path, json.dumps(bundle))))
    assert row.text is None and row.problem is not None  # not coded as low bone mass
    assert "Observation/neck-t" in row.problem and "could not be read" in row.problem
    assert MRN not in row.problem and "1950" not in row.problem
    # Results supplied in the overlay stand in for the ones not read.
    done = supply(
        imported, {"results": [{"site": "left_hip", "region": "femoral_neck", "t_score": -2.6}]}
    )
    assert done.missing == [] and done.unread == []


def test_fhir_import_exits_1_naming_the_result_not_read(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from dexacode.cli_formats import fhir_import_command

    app = typer.Typer()
    app.command("fhir-import")(fhir_import_command)
    app.command("noop")(lambda: None)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in _elsewhere(None)],
    }
    path = _write(tmp_path, json.dumps(bundle))
    run = CliRunner().invoke(app, ["fhir-import", str(path), "-o", str(tmp_path / "enc.json")])
    assert run.exit_code == 1
    assert "results" in run.output and "Observation/neck-t" in run.output
    assert MRN not in run.output


# --- 4. VFA alone -----------------------------------------------------------------------------


def test_a_vfa_alone_encounter_reads_back(tmp_path: Path, code: Code) -> None:
    enc = make_encounter(
        exam__sites=[],
        exam__vfa=True,
        results=[],
        order__reason="diagnostic",
        patient__risk_factors=["loss_of_height"],
    )
    first = code(enc)
    assert [line.cpt for line in first.lines] == ["77086"]
    bundle = result_to_fhir(first, parse_encounter(enc))
    ((row, _),) = list(read_fhir_rows(_write(tmp_path, json.dumps(bundle))))
    assert row.text is not None, row.problem
    back = json.loads(row.text)
    assert back["exam"]["sites"] == [] and back["exam"]["vfa"] is True
    assert _shape(code(back)) == _shape(first)


# --- 5. NDJSON of Bundles ---------------------------------------------------------------------


def _ndjson_bundle(code: Code, claim_id: str) -> str:
    enc = make_encounter(claim_id=claim_id)
    return json.dumps(result_to_fhir(code(enc), parse_encounter(enc)))


def test_a_broken_ndjson_line_is_one_row_not_coded(tmp_path: Path, code: Code) -> None:
    text = "\n".join(
        [
            _ndjson_bundle(code, "N-1"),
            _ndjson_bundle(code, "N-2"),
            '{"resourceType": "Bundle", "x": 1',
        ]
    )
    rows = [raw for raw, _ in read_fhir_rows(_write(tmp_path, text + "\n", "three.ndjson"))]
    assert [r.row for r in rows] == [1, 2, 3]
    assert rows[0].text is not None and rows[1].text is not None
    assert rows[2].problem is not None and rows[2].problem.startswith("line 3: not valid JSON")


def test_ndjson_rows_are_lines_blank_lines_counted(tmp_path: Path, code: Code) -> None:
    text = _ndjson_bundle(code, "N-1") + "\n\n\n" + json.dumps(_patient()) + "\n"
    rows = [raw for raw, _ in read_fhir_rows(_write(tmp_path, text, "blank.ndjson"))]
    assert [(r.row, r.blank) for r in rows] == [(1, False), (2, True), (3, True), (4, False)]
    assert rows[3].problem == "line 4: not a FHIR Bundle"


# --- 6. claim ids in, patient ids out of error rows -------------------------------------------


def test_an_error_row_carries_the_claim_id_and_no_patient_id(tmp_path: Path, code: Code) -> None:
    bundle = _ex1_bundle(code)
    (patient,) = _resources(bundle, "Patient")
    patient["id"] = "MBRQZX11111"
    patient["identifier"] = [{"type": {"coding": [{"code": "MB"}]}, "value": "MBRQZX11111"}]
    patient["birthDate"] = "1950-13-45"
    ((row, _),) = list(read_fhir_rows(_write(tmp_path, json.dumps(bundle))))
    assert row.claim_id == "ex1-osteopenia-right-hip"
    assert (
        row.problem is not None and "the Patient is not valid FHIR R4 at birthDate" in row.problem
    )
    assert "MBRQZX" not in row.problem and "1950" not in row.problem


def test_an_element_name_made_up_by_the_sender_is_not_repeated(tmp_path: Path, code: Code) -> None:
    bundle = _ex1_bundle(code)
    _resources(bundle, "Patient")[0]["QUIMBYZELDA"] = "x"
    ((row, _),) = list(read_fhir_rows(_write(tmp_path, json.dumps(bundle))))
    assert row.problem is not None and "not valid FHIR R4" in row.problem
    assert "QUIMBYZELDA" not in row.problem


# --- 7. no empty arrays -----------------------------------------------------------------------


def test_a_claim_without_diagnoses_or_lines_omits_the_elements(code: Code) -> None:
    enc = make_encounter()
    result = code(enc)
    bare = result.model_copy(
        update={
            "diagnoses": [],
            "lines": [line.model_copy(update={"diagnosis_pointers": []}) for line in result.lines],
        }
    )
    claim = _claim_of(result_to_fhir(bare, parse_encounter(enc)))
    assert "diagnosis" not in claim and claim["item"]
    nothing = result.model_copy(update={"diagnoses": [], "lines": []})
    claim = _claim_of(result_to_fhir(nothing, parse_encounter(enc)))
    assert "diagnosis" not in claim and "item" not in claim


def test_no_resource_dexacode_writes_has_an_empty_array(code: Code) -> None:
    enc = make_encounter(history=[], patient__risk_factors=[], results=[])
    bundle = result_to_fhir(code(enc), parse_encounter(enc))

    def empty_arrays(node: Any, path: str = "") -> list[str]:
        if isinstance(node, list):
            found = [path] if not node else []
            return found + [p for i, x in enumerate(node) for p in empty_arrays(x, f"{path}[{i}]")]
        if isinstance(node, dict):
            return [p for k, v in node.items() for p in empty_arrays(v, f"{path}.{k}")]
        return []

    assert empty_arrays(copy.deepcopy(bundle)) == []


def test_a_written_claim_codes_letter_modifiers_under_hl7s_hcpcs_url(code: Code) -> None:
    enc = json.loads(EX1.read_text())
    enc["billing"]["equipment_owner"] = "billing_provider"  # another reads it: 77080-TC
    enc["billing"]["interprets"] = False
    result = code(enc)
    assert result.lines[0].modifiers == ["TC"]
    claim = _claim_of(result_to_fhir(result, parse_encounter(enc)))
    (modifier,) = claim["item"][0]["modifier"]
    assert modifier["coding"] == [
        {"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "TC"}
    ]
