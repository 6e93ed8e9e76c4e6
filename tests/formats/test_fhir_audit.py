"""FHIR in and out, the audit's cases: US Core STU4.1/5 score units, lumbar regions kept
apart, results and reports in error, another patient's resources, one report per import,
urn:uuid references, and the findings in the written Bundle. Synthetic resources only."""

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
    FhirInputError,
    import_files,
    read_fhir_rows,
    result_to_fhir,
    supply,
    to_encounter,
)
from dexacode.formats.fhir.terms import LOINC, UCUM
from tests.conftest import make_encounter

Code = Callable[..., CodingResult]

MRN = "SYN-7781"
DAY = "2026-03-02"
# LOINC codes of the synthetic results (loinc.toml).
LUMBAR_T = "38267-1"
LUMBAR_BMD = "24966-4"
NECK_L_T = "80948-3"
NECK_L_Z = "80940-0"
NECK_L_BMD = "80954-1"
HIP_L_T = "80946-7"
PANEL = "83311-1"


def patient(pid: str = "pt-1", mrn: str = MRN) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:example:mrn", "value": mrn}],
        "gender": "female",
        "birthDate": "1950-06-01",
    }


def obs(
    oid: str | None,
    loinc: str,
    value: float,
    unit: str,
    *,
    text: str | None = None,
    body_text: str | None = None,
    status: str = "final",
    subject: str | None = "Patient/pt-1",
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "effectiveDateTime": DAY,
        "valueQuantity": {"value": value, "system": UCUM, "code": unit},
    }
    if oid is not None:
        res["id"] = oid
    if text is not None:
        res["code"]["text"] = text
    if body_text is not None:
        res["bodySite"] = {"text": body_text}
    if subject is not None:
        res["subject"] = {"reference": subject}
    return res


def report(
    rid: str | None, results: list[str], *, status: str = "final", subject: str = "Patient/pt-1"
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": PANEL}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"{DAY}T09:30:00-05:00",
        "result": [{"reference": ref} for ref in results],
    }
    if rid is not None:
        res["id"] = rid
    return res


def hip_study(**changes: Any) -> list[dict[str, Any]]:
    """A patient, a DXA report and four left hip results (neck T, Z and BMD; total hip T)."""
    results = [
        obs("neck-t", NECK_L_T, -2.1, "{T-score}"),
        obs("neck-z", NECK_L_Z, -0.9, "{Z-score}"),
        obs("neck-bmd", NECK_L_BMD, 0.702, "g/cm2"),
        obs("hip-t", HIP_L_T, -1.4, "{T-score}"),
    ]
    for res in results:
        res.update(changes.get(res["id"], {}))
    refs = [f"Observation/{r['id']}" for r in results]
    return [patient(), report("rep-1", refs), *results]


def by_region(imported: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["site"], r["region"]): r for r in imported.encounter.get("results", [])}


def complete(imported: Any, sites: list[str]) -> dict[str, Any]:
    facts = {"payer": "commercial", "order": {"reason": "diagnostic"}, "exam": {"sites": sites}}
    done = supply(imported, facts)
    assert done.missing == []
    return done.encounter


def write(tmp_path: Path, data: Any, name: str = "in.fhir.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def collection(resources: list[dict[str, Any]], urls: list[str] | None = None) -> dict[str, Any]:
    entries = [
        {"resource": res, **({"fullUrl": urls[n]} if urls else {})}
        for n, res in enumerate(resources)
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# --- 1. T- and Z-score units --------------------------------------------------------------


@pytest.mark.parametrize(
    "t_unit, z_unit", [("{T-Score}", "{Z-Score}"), ("1", "1"), ("{t-score}", "{SD}")]
)
def test_score_units_us_core_writes_are_read(t_unit: str, z_unit: str, code: Code) -> None:
    resources = hip_study(
        **{
            "neck-t": {"valueQuantity": {"value": -2.1, "system": UCUM, "code": t_unit}},
            "neck-z": {"valueQuantity": {"value": -0.9, "system": UCUM, "code": z_unit}},
            "hip-t": {"valueQuantity": {"value": -1.4, "system": UCUM, "code": t_unit}},
        }
    )
    imported = to_encounter(resources)
    assert not [n for n in imported.notes if "unit" in n]
    got = by_region(imported)
    assert got[("left_hip", "femoral_neck")]["t_score"] == -2.1
    assert got[("left_hip", "femoral_neck")]["z_score"] == -0.9
    assert got[("left_hip", "total_hip")]["t_score"] == -1.4
    result = code(complete(imported, ["left_hip"]))
    basis = result.interpretation.basis
    assert basis is not None and (basis.region, basis.t_score) == ("femoral_neck", -2.1)


@pytest.mark.parametrize("unit", ["%", "mg", "g/cm2", "{Z-score}", "10*3{cells}", "{}"])
def test_a_real_unit_or_the_other_scores_unit_is_not_read_as_a_t_score(unit: str) -> None:
    resources = hip_study(
        **{"neck-t": {"valueQuantity": {"value": -2.1, "system": UCUM, "code": unit}}}
    )
    imported = to_encounter(resources)
    assert "t_score" not in by_region(imported)[("left_hip", "femoral_neck")]
    assert any(f"unit code {unit!r}" in why for why in imported.unread)


@pytest.mark.parametrize("unit", ["{T-score}", "1", "{g/cm2}"])
def test_bmd_is_never_read_from_an_annotation_or_unity(unit: str) -> None:
    resources = hip_study(
        **{"neck-bmd": {"valueQuantity": {"value": 0.702, "system": UCUM, "code": unit}}}
    )
    imported = to_encounter(resources)
    assert "bmd" not in by_region(imported)[("left_hip", "femoral_neck")]


# --- 2. lumbar regions ---------------------------------------------------------------------


def two_lumbar(text_1: str | None, text_2: str | None) -> list[dict[str, Any]]:
    return [
        patient(),
        report("rep-1", ["Observation/ls-1", "Observation/ls-2"]),
        obs("ls-1", LUMBAR_T, -2.7, "{T-score}", text=text_1),
        obs("ls-2", LUMBAR_T, -2.2, "{T-score}", text=text_2),
    ]


def test_two_lumbar_regions_stay_apart_and_l1_l4_decides(code: Code) -> None:
    imported = to_encounter(two_lumbar("DXA L1-L4 T-score", "DXA L2-L4 T-score (L1 excluded)"))
    got = by_region(imported)
    assert got[("lumbar_spine", "L1-L4")]["t_score"] == -2.7
    assert got[("lumbar_spine", "L2-L4")]["t_score"] == -2.2
    result = code(complete(imported, ["lumbar_spine"]))
    basis = result.interpretation.basis
    assert basis is not None and (basis.region, basis.t_score) == ("L1-L4", -2.7)
    assert result.interpretation.category == "osteoporosis"


@pytest.mark.parametrize(
    "text, region",
    [
        ("DXA Lumbar spine [T-score] Bone density", "L1-L4"),  # names none: the code's own
        ("L2-L4", "L2-L4"),
        ("L1,L2,L4", "L1-L2,L4"),
        ("L1, L2, L3, L4", "L1-L4"),
        ("Spine L2-4", "L2-L4"),
        ("L1-L4 (L3 excluded)", "L1-L2,L4"),
        ("L2-L4, L1 excluded", "L2-L4"),
        ("Lumbar spine excluding L1", "L2-L4"),
        ("L3", "L3"),
    ],
)
def test_the_lumbar_region_is_read_from_the_text(text: str, region: str) -> None:
    resources = [patient(), obs("ls-1", LUMBAR_T, -1.0, "{T-score}", text=text)]
    assert list(by_region(to_encounter(resources))) == [("lumbar_spine", region)]


def test_the_lumbar_region_is_read_from_body_site_text() -> None:
    resources = [patient(), obs("ls-1", LUMBAR_T, -1.0, "{T-score}", body_text="L1-L3")]
    assert list(by_region(to_encounter(resources))) == [("lumbar_spine", "L1-L3")]


def test_texts_naming_two_regions_are_not_guessed_between() -> None:
    one = obs("ls-1", LUMBAR_T, -1.0, "{T-score}", text="DXA L1-L4", body_text="L2-L4")
    imported = to_encounter([patient(), one])
    assert "results" not in imported.encounter
    assert any("more than one lumbar region" in why for why in imported.unread)


def test_two_values_for_one_region_are_refused_not_overwritten(tmp_path: Path) -> None:
    # Neither names its vertebrae: both read as L1-L4. Keeping either could let the wrong
    # value decide the category; the import is refused, naming the region but no value.
    resources = two_lumbar(None, None)
    with pytest.raises(FhirInputError) as caught:
        to_encounter(resources)
    message = str(caught.value)
    assert "lumbar_spine L1-L4 t_score" in message and "L2-L4" in message  # the hint
    assert "2.7" not in message and "2.2" not in message
    # The batch scrubber gets a problem row, not an encounter with one of the values.
    rows = [raw for raw, _ in read_fhir_rows(write(tmp_path, collection(resources)))]
    assert rows[0].text is None and rows[0].problem is not None


def test_two_values_for_one_hip_region_are_refused() -> None:
    resources = hip_study()
    resources.append(obs("neck-t-2", NECK_L_T, -1.1, "{T-score}"))
    resources[1]["result"].append({"reference": "Observation/neck-t-2"})
    with pytest.raises(FhirInputError, match=r"left_hip femoral_neck t_score"):
        to_encounter(resources)


def test_the_same_value_twice_is_read_once_with_a_note() -> None:
    resources = two_lumbar("L1-L4", "L1-L4")
    resources[3]["valueQuantity"]["value"] = -2.7
    imported = to_encounter(resources)
    assert imported.encounter["results"] == [
        {"site": "lumbar_spine", "region": "L1-L4", "t_score": -2.7}
    ]
    assert any("read once" in note for note in imported.notes)


def _lumbar_encounter() -> dict[str, Any]:
    return make_encounter(
        exam__sites=["lumbar_spine"],
        results=[
            {"site": "lumbar_spine", "region": "L1-L4", "bmd": 0.81, "t_score": -2.6},
            {"site": "lumbar_spine", "region": "L2-L4", "bmd": 0.86, "t_score": -2.1},
            {"site": "lumbar_spine", "region": "L1,L2,L4", "bmd": 0.83, "t_score": -2.4},
        ],
    )


def test_dexacodes_own_bundle_reads_back_with_every_lumbar_region(
    code: Code, tmp_path: Path
) -> None:
    enc = _lumbar_encounter()
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    for back in (
        to_encounter([e["resource"] for e in bundle["entry"]]),
        import_files([write(tmp_path, bundle)]),
    ):
        got = by_region(back)
        assert got[("lumbar_spine", "L1-L4")] == {
            "site": "lumbar_spine",
            "region": "L1-L4",
            "bmd": 0.81,
            "t_score": -2.6,
        }
        assert got[("lumbar_spine", "L2-L4")]["t_score"] == -2.1
        assert got[("lumbar_spine", "L1-L2,L4")]["t_score"] == -2.4
        assert len(got) == 3
        assert back.notes == []  # nothing dropped, and its own findings pass unremarked
        result = code(back.encounter | {"patient": enc["patient"]})
        basis = result.interpretation.basis
        assert basis is not None and (basis.region, basis.t_score) == ("L1-L4", -2.6)


def test_a_lumbar_row_naming_no_vertebrae_is_not_read_back_as_one_that_decides(
    code: Code,
) -> None:
    enc = make_encounter(
        exam__sites=["lumbar_spine"],
        results=[{"site": "lumbar_spine", "region": "L1-L4 mean", "t_score": -3.0}],
    )
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    back = to_encounter([e["resource"] for e in bundle["entry"]])
    assert ("lumbar_spine", "L1-L4") not in by_region(back)


# --- 3. status -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_a_result_in_error_or_cancelled_is_not_used(status: str, code: Code) -> None:
    resources = hip_study(**{"neck-t": {"status": status}})
    resources[3]["valueQuantity"]["value"] = -3.9
    imported = to_encounter(resources)
    got = by_region(imported)
    assert "t_score" not in got[("left_hip", "femoral_neck")]
    assert got[("left_hip", "femoral_neck")]["bmd"] == 0.702  # the others stay
    assert any(f"status {status}; not used" in note for note in imported.notes)
    result = code(complete(imported, ["left_hip"]))
    assert all(r.t_score != -3.9 for r in result.interpretation.results_read)


def test_a_preliminary_result_is_used_with_a_note() -> None:
    imported = to_encounter(hip_study(**{"neck-t": {"status": "preliminary"}}))
    assert by_region(imported)[("left_hip", "femoral_neck")]["t_score"] == -2.1
    assert any("preliminary, not final" in note for note in imported.notes)


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_a_report_in_error_is_refused(status: str, tmp_path: Path) -> None:
    resources = hip_study()
    resources[1]["status"] = status
    with pytest.raises(FhirInputError, match=f"has status {status}"):
        to_encounter(resources)
    out = tmp_path / "enc.json"
    run = _cli(["fhir-import", str(write(tmp_path, collection(resources))), "--out", str(out)])
    assert run.exit_code == 2
    assert f"status {status}" in run.output
    assert not out.exists()


# --- 4. whose record -----------------------------------------------------------------------


def test_another_patients_result_is_not_used_and_the_note_names_no_one(code: Code) -> None:
    resources = hip_study(**{"neck-t": {"subject": {"reference": "Patient/other-4420"}}})
    resources[3]["valueQuantity"]["value"] = -3.2
    imported = to_encounter(resources)
    assert "t_score" not in by_region(imported)[("left_hip", "femoral_neck")]
    notes = " ".join(imported.notes)
    assert "subject is not the Patient" in notes
    assert "other-4420" not in notes and MRN not in notes and "pt-1" not in notes
    result = code(complete(imported, ["left_hip"]))
    assert all(r.t_score != -3.2 for r in result.interpretation.results_read)


def test_a_result_naming_the_patient_by_identifier_is_used() -> None:
    ident = {"identifier": {"system": "urn:example:mrn", "value": MRN}}
    imported = to_encounter(hip_study(**{"neck-t": {"subject": ident}}))
    assert by_region(imported)[("left_hip", "femoral_neck")]["t_score"] == -2.1


def test_a_report_about_another_patient_is_refused() -> None:
    resources = hip_study()
    resources[1]["subject"] = {"reference": "Patient/other-4420"}
    with pytest.raises(FhirInputError, match="not about the Patient") as caught:
        to_encounter(resources)
    assert "other-4420" not in str(caught.value) and MRN not in str(caught.value)


def test_two_patients_are_refused() -> None:
    resources = [*hip_study(), patient("pt-2", "SYN-9")]
    with pytest.raises(FhirInputError, match="2 Patient resources") as caught:
        to_encounter(resources)
    assert MRN not in str(caught.value) and "SYN-9" not in str(caught.value)


def test_another_patients_condition_and_coverage_are_not_used() -> None:
    other = {"reference": "Patient/other-4420"}
    condition = {
        "resourceType": "Condition",
        "id": "c-1",
        "subject": other,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M81.0"}]},
    }
    coverage = {
        "resourceType": "Coverage",
        "id": "cov-1",
        "status": "active",
        "beneficiary": other,
        "payor": [
            {
                "identifier": {
                    "system": "https://dexacode.org/fhir/payer-profile",
                    "value": "medicare",
                }
            }
        ],
    }
    imported = to_encounter([*hip_study(), condition, coverage])
    assert "conditions" not in imported.encounter["patient"]
    assert "payer" not in imported.encounter
    assert sum("not about the Patient" in note for note in imported.notes) == 2


# --- 5. one report per import ------------------------------------------------------------


def test_two_dxa_reports_are_refused_not_mixed(tmp_path: Path) -> None:
    first = hip_study()
    later = [
        report("rep-2", ["Observation/neck-t-2"]),
        obs("neck-t-2", NECK_L_T, -2.9, "{T-score}"),
    ]
    later[0]["effectiveDateTime"] = "2027-03-05"
    with pytest.raises(FhirInputError, match=r"2 DXA reports .*one report at a time"):
        to_encounter([*first, *later])
    out = tmp_path / "enc.json"
    run = _cli(["fhir-import", str(write(tmp_path, collection([*first, *later]))), "-o", str(out)])
    assert run.exit_code == 2 and not out.exists()


def test_the_same_report_given_twice_is_one_report(tmp_path: Path) -> None:
    resources = hip_study()
    bundle = write(tmp_path, collection(resources))
    loose = write(tmp_path, resources[1], "report.json")
    imported = import_files([bundle, loose])
    assert by_region(imported)[("left_hip", "femoral_neck")]["t_score"] == -2.1


# --- 6. references by fullUrl --------------------------------------------------------------


def _urn_bundle() -> dict[str, Any]:
    uid = "7d9a2c4e-0b1f-4e7a-9c3d-5f6e7a8b9c0d"
    urls = [f"urn:uuid:{uid[:-1]}{n}" for n in range(6)]
    results = [
        obs(None, NECK_L_T, -2.1, "{T-score}", subject=urls[0]),
        obs(None, NECK_L_BMD, 0.702, "g/cm2", subject=urls[0]),
        obs(None, HIP_L_T, -1.4, "{T-score}", subject=urls[0]),
        obs(None, LUMBAR_T, -2.6, "{T-score}", subject=urls[0], text="L1-L4"),
    ]
    rep = report(None, urls[2:], subject=urls[0])
    pat = patient()
    del pat["id"]
    return collection([pat, rep, *results], urls)


def test_urn_uuid_references_resolve_through_full_urls(tmp_path: Path) -> None:
    bundle = _urn_bundle()
    imported = import_files([write(tmp_path, bundle)])
    got = by_region(imported)
    assert got[("left_hip", "femoral_neck")] == {
        "site": "left_hip",
        "region": "femoral_neck",
        "t_score": -2.1,
        "bmd": 0.702,
    }
    assert got[("left_hip", "total_hip")]["t_score"] == -1.4
    assert got[("lumbar_spine", "L1-L4")]["t_score"] == -2.6
    assert not [n for n in imported.notes if "not in the input" in n]
    # The report has no id: its fullUrl names the encounter, not a shared constant.
    assert imported.encounter["claim_id"] == bundle["entry"][1]["fullUrl"].removeprefix("urn:uuid:")
    rows = [raw for raw, _ in read_fhir_rows(write(tmp_path, bundle, "rows.fhir.json"))]
    assert rows[0].problem is not None and "payer" in rows[0].problem  # read; only facts lack


def test_absolute_full_urls_resolve_and_a_reference_to_nothing_is_named(tmp_path: Path) -> None:
    base = "https://ehr.example.org/fhir"
    resources = hip_study()
    urls = [f"{base}/{r['resourceType']}/{r['id']}" for r in resources]
    resources[1]["result"] = [{"reference": u} for u in urls[2:]] + [
        {"reference": f"{base}/Observation/gone-1"}
    ]
    for res in resources[2:]:
        res["subject"] = {"reference": urls[0]}
    imported = import_files([write(tmp_path, collection(resources, urls))])
    assert by_region(imported)[("left_hip", "femoral_neck")]["t_score"] == -2.1
    assert any("1 result(s) not in the input" in n for n in imported.notes)


def test_a_urn_subject_that_is_not_the_patient_is_not_used(tmp_path: Path) -> None:
    bundle = _urn_bundle()
    bundle["entry"][2]["resource"]["subject"] = {"reference": "urn:uuid:0000-not-here"}
    imported = import_files([write(tmp_path, bundle)])
    assert "t_score" not in by_region(imported)[("left_hip", "femoral_neck")]


# --- 7. findings in the written Bundle -----------------------------------------------------


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_findings_are_written_as_an_operation_outcome_and_the_claim_is_a_draft(
    code: Code,
) -> None:
    enc = make_encounter(history=[{"date_of_service": "2025-06-01", "cpt": "77080"}])
    result = code(enc)
    assert result.has_errors
    bundle = result_to_fhir(result, parse_encounter(enc))
    r4b.get_fhir_model_class("Bundle").model_validate(bundle)
    (outcome,) = _resources(bundle, "OperationOutcome")
    r4b.get_fhir_model_class("OperationOutcome").model_validate(outcome)
    severity = {"error": "error", "warning": "warning", "info": "information"}
    assert [(i["diagnostics"], i["severity"], i["details"]["text"]) for i in outcome["issue"]] == [
        (f.id, severity[f.severity], f.message) for f in result.findings
    ]
    assert {i["code"] for i in outcome["issue"]} == {"business-rule"}
    (claim,) = _resources(bundle, "Claim")
    assert claim["status"] == "draft"  # not sent as an active claim while an error stands


def test_a_claim_without_errors_stays_active_and_no_findings_is_said(code: Code) -> None:
    enc = make_encounter()
    result = code(enc)
    assert not result.has_errors
    bundle = result_to_fhir(result, parse_encounter(enc))
    (claim,) = _resources(bundle, "Claim")
    assert claim["status"] == "active"
    clean = result.model_copy(update={"findings": []})
    (outcome,) = _resources(result_to_fhir(clean, parse_encounter(enc)), "OperationOutcome")
    assert outcome["issue"] == [
        {"severity": "information", "code": "informational", "details": {"text": "No findings"}}
    ]


# --- effectivePeriod -----------------------------------------------------------------------


def _dated_by_period(where: str, start: str, end: str | None) -> list[dict[str, Any]]:
    """A hip study whose report (where="report") or results (where="results") are dated
    by effectivePeriod only; the other carries no date."""
    resources = hip_study()
    period = {"start": start, **({"end": end} if end else {})}
    for res in resources[1:]:
        del res["effectiveDateTime"]
        if res["resourceType"] == ("DiagnosticReport" if where == "report" else "Observation"):
            res["effectivePeriod"] = period
    return resources


@pytest.mark.parametrize("where", ["report", "results"])
def test_the_date_of_service_is_read_from_effective_period_start(where: str) -> None:
    imported = to_encounter(_dated_by_period(where, "2026-02-27T08:10:00-05:00", None))
    assert imported.encounter["date_of_service"] == "2026-02-27"
    assert "date_of_service" not in [m.field for m in imported.missing]
    assert not [n for n in imported.notes if "effectivePeriod" in n]


def test_a_report_period_comes_before_its_issued_time() -> None:
    resources = _dated_by_period("report", "2026-02-27", "2026-02-27T10:00:00Z")
    resources[1]["issued"] = "2026-03-09T12:00:00Z"  # signed ten days later
    imported = to_encounter(resources)
    assert imported.encounter["date_of_service"] == "2026-02-27"
    assert not [n for n in imported.notes if "effectivePeriod" in n]  # one day: nothing to say


@pytest.mark.parametrize("where", ["report", "results"])
def test_a_period_over_two_days_gives_its_start_with_a_note(where: str) -> None:
    imported = to_encounter(
        _dated_by_period(where, "2026-02-27T23:40:00-05:00", "2026-02-28T00:20:00-05:00")
    )
    assert imported.encounter["date_of_service"] == "2026-02-27"
    (note,) = [n for n in imported.notes if "effectivePeriod" in n]
    assert "start" in note and MRN not in note


# --- forearm regions -------------------------------------------------------------------------

FOREARM_L_T = "80944-2"  # DXA Radius and Ulna - left [T-score]
FOREARM_L_BMD = "80952-5"


@pytest.mark.parametrize(
    "text, body_text, region",
    [
        (None, None, "radius_33"),  # names none: the code's own, as before
        ("DXA Radius and Ulna - left [T-score] Bone density", None, "radius_33"),
        ("Left radius 1/3", None, "radius_33"),
        ("Radius 33%", None, "radius_33"),
        ("one-third radius", None, "radius_33"),
        ("Left forearm UD", None, "radius_ultradistal"),
        ("R UD", None, "radius_ultradistal"),
        ("Ultra-distal radius T-score", None, "radius_ultradistal"),
        (None, "left radius, ultradistal", "radius_ultradistal"),
        ("DXA Radius and Ulna - left [T-score]", "Ultra distal", "radius_ultradistal"),
        ("Total forearm", None, "radius_total"),
        ("Radius total T-score", None, "radius_total"),
    ],
)
def test_the_forearm_region_is_read_from_the_text(
    text: str | None, body_text: str | None, region: str
) -> None:
    one = obs("fa-t", FOREARM_L_T, -1.0, "{T-score}", text=text, body_text=body_text)
    imported = to_encounter([patient(), one])
    assert list(by_region(imported)) == [("left_forearm", region)]
    assert imported.notes == []


def test_an_ultradistal_t_score_is_not_read_as_the_one_third_radius_that_decides(
    code: Code,
) -> None:
    results = [
        obs("neck-t", NECK_L_T, -1.4, "{T-score}"),
        obs("fa-t", FOREARM_L_T, -3.2, "{T-score}", text="Left radius UD"),
        obs("fa-bmd", FOREARM_L_BMD, 0.41, "g/cm2", text="Left radius UD"),
    ]
    refs = [f"Observation/{r['id']}" for r in results]
    resources = [patient(), report("rep-1", refs), *results]
    imported = to_encounter(resources)
    got = by_region(imported)
    assert got[("left_forearm", "radius_ultradistal")]["t_score"] == -3.2
    assert ("left_forearm", "radius_33") not in got
    result = code(complete(imported, ["left_hip", "left_forearm"]))
    assert result.interpretation.category != "osteoporosis"
    basis = result.interpretation.basis
    assert basis is not None and (basis.site, basis.region) == ("left_hip", "femoral_neck")


@pytest.mark.parametrize(
    "text, said",
    [
        ("Left radius MID", "'MID'"),  # a region the contract has no id for
        ("Ulna UD", "ulna"),  # the other bone
        ("Left radius UD and 1/3", "more than one forearm region"),
    ],
)
def test_a_forearm_text_naming_no_known_region_is_left_out_not_guessed(
    text: str, said: str
) -> None:
    imported = to_encounter([patient(), obs("fa-t", FOREARM_L_T, -3.2, "{T-score}", text=text)])
    assert "results" not in imported.encounter  # not read as the one-third radius
    # Not dropped silently either: named as a result that could not be read.
    (why,) = imported.unread
    assert why.startswith("Observation/fa-t (") and said in why
    assert imported.notes == []


def test_the_forearm_regions_are_the_ones_a_scanner_report_gives() -> None:
    from dexacode.formats.fhir import terms
    from dexacode.reports.regions import Label, parse_label

    report_regions = set()
    for row in ("1/3", "UD", "Total"):
        label = parse_label(row, "forearm", None)
        assert isinstance(label, Label)
        report_regions.add(label.region)
    assert set(terms().forearm.regions) == report_regions


def test_dexacodes_own_forearm_rows_read_back(code: Code) -> None:
    """Every forearm region is written under the one "Radius and Ulna" code with its
    region in the text, and read back as that region (not as the one-third radius)."""
    rows = [
        {"site": "left_forearm", "region": "radius_33", "bmd": 0.61, "t_score": -2.6},
        {"site": "left_forearm", "region": "radius_ultradistal", "bmd": 0.38, "t_score": -3.2},
        {"site": "left_forearm", "region": "radius_total", "bmd": 0.49, "t_score": -2.9},
    ]
    enc = make_encounter(exam__sites=["left_forearm"], results=rows)
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    back = to_encounter([e["resource"] for e in bundle["entry"]])
    assert by_region(back) == {(r["site"], r["region"]): r for r in rows}


# --- hip Mean and Diff rows out --------------------------------------------------------------


def test_hip_mean_and_diff_rows_are_not_written_as_left_hip_observations(code: Code) -> None:
    enc = make_encounter(
        exam__sites=["left_hip", "right_hip"],
        results=[
            {"site": "left_hip", "region": "total_hip", "bmd": 0.81, "t_score": -1.1},
            {"site": "right_hip", "region": "total_hip", "bmd": 0.77, "t_score": -1.5},
            # As a scanner report's Mean and Diff rows are read: under left_hip.
            {"site": "left_hip", "region": "total_hip_mean", "bmd": 0.79, "t_score": -1.3},
            {"site": "left_hip", "region": "total_hip_diff", "bmd": 0.04, "t_score": 0.4},
            {"site": "left_hip", "region": "femoral_neck_mean", "t_score": -1.7},
        ],
    )
    bundle = result_to_fhir(code(enc), parse_encounter(enc))
    r4b.get_fhir_model_class("Bundle").model_validate(bundle)
    observations = [o for o in _resources(bundle, "Observation") if "valueQuantity" in o]
    texts = [o["code"]["text"] for o in observations]
    assert not [t for t in texts if "_mean" in t or "_diff" in t]
    values = {o["valueQuantity"]["value"] for o in observations}
    assert not values & {0.79, -1.3, 0.04, 0.4, -1.7}  # no Mean or Diff value anywhere
    left = [t for t in texts if "left_hip" in t]
    assert left == ["DXA left_hip total_hip BMD", "DXA left_hip total_hip T-score"]
    (report_out,) = _resources(bundle, "DiagnosticReport")
    assert len(report_out["result"]) == len(observations) == 4
    back = to_encounter([e["resource"] for e in bundle["entry"]])
    assert set(by_region(back)) == {("left_hip", "total_hip"), ("right_hip", "total_hip")}


# --- the CLI ---------------------------------------------------------------------------------


def _cli(args: list[str]) -> Any:
    import typer
    from typer.testing import CliRunner

    from dexacode.cli_formats import fhir_import_command

    app = typer.Typer()
    app.command("fhir-import")(fhir_import_command)
    app.command("noop")(lambda: None)
    return CliRunner().invoke(app, args)


def test_cli_reads_stu5_units_and_keeps_notes_free_of_identifiers(tmp_path: Path) -> None:
    resources = hip_study(
        **{
            "neck-t": {"valueQuantity": {"value": -2.1, "system": UCUM, "code": "{T-Score}"}},
            "hip-t": {"subject": {"reference": "Patient/other-4420"}},
        }
    )
    out = tmp_path / "enc.json"
    run = _cli(
        [
            "fhir-import",
            str(write(tmp_path, collection(copy.deepcopy(resources)))),
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
    enc = parse_encounter(out.read_text())
    neck = next(r for r in enc.results if r.region == "femoral_neck")
    assert neck.t_score == -2.1
    assert [r.region for r in enc.results] == ["femoral_neck"]  # the other's total hip: out
    assert "other-4420" not in run.output and MRN not in run.output
