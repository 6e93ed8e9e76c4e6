"""FHIR R4 out: a coded result as a collection Bundle of a Claim (the corrected claim:
CPT items with modifiers, units and diagnosis sequence), an OperationOutcome of the
findings, a DiagnosticReport of the reading, its Observations (LOINC-coded BMD, T- and
Z-scores) and the Patient, Coverage and ServiceRequest the Claim and the reading need.

A claim with an error-level finding is written as a "draft" Claim, not an "active" one:
the findings say what stands in its way. The OperationOutcome (one issue per finding:
severity, code "business-rule", the message as details.text, the finding id as
diagnostics) is an entry of the Bundle; FHIR gives a Claim no element to reference it.

Read back (``fhir-import``), the Bundle gives these encounter facts again: the claim id,
the date of service, the payer, the patient's id, sex and birth date, the order reason,
the sites, VFA (when a VFA line was billed) and the results of every region that has a
LOINC code (lumbar regions keep their vertebrae through Observation.code.text). It is
not the whole encounter: menopausal status, risk factors, medications, documented
conditions, the exam's status and peripheral reason, the study history and a submitted
claim are not written; the billing facts are not read back (only the claim form is
written, as Claim.type); the Claim's diagnoses are the coded ones, not read back as
conditions; regions dexacode has no LOINC code for (trochanter and others) are written
with code.text only and left out on reading, with a note (every forearm region is written
with the "Radius and Ulna" code, its region in code.text, and read back); the hip
Mean and Diff rows of a scanner report (regions ``*_mean``, ``*_diff``) are not written,
as no code says "both hips". FHIR has
no standard element for the billing facts, and dexacode knows no confirmed LOINC code
for menopausal status, so none is invented: code from the original encounter, not from
a read-back one.

Ids are UUIDs derived from the claim id, so the same result always gives the same
Bundle. The output is checked against fhir.resources' R4B models before it is returned.
"""

from __future__ import annotations

import uuid
from typing import Any

from dexacode.contract import CodingResult, Encounter
from dexacode.formats.fhir.read import CLAIM_ID_SYSTEM
from dexacode.formats.fhir.terms import (
    CLAIM_TYPE,
    CPT,
    HCPCS,
    ICD10CM,
    LOINC,
    OBSERVATION_CATEGORY,
    ORDER_REASON_SYSTEM,
    PAYER_SYSTEM,
    PROCESS_PRIORITY,
    SITE_SYSTEM,
    UCUM,
    import_r4b,
    terms,
)

# A fixed namespace for dexacode's derived ids (any constant UUID would do).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://dexacode.org/fhir")
_SEX = {"F": "female", "M": "male"}
_MEASURE_LABEL = {"bmd": "BMD", "t_score": "T-score", "z_score": "Z-score"}
# A scanner report's hip Mean and Diff rows are results of both hips, carried under
# left_hip only because the contract needs a site. They are not written: LOINC has a code
# for each hip, none for both, and no SNOMED CT "both hips" body site could be confirmed,
# so an Observation of one would read (to any receiver) as a left hip measurement. Each
# hip's own rows are written, and the mean and the difference follow from them.
_BOTH_SIDES = ("_mean", "_diff")
# Finding severity -> OperationOutcome.issue.severity.
_ISSUE_SEVERITY = {"error": "error", "warning": "warning", "info": "information"}


def _urn(claim_id: str, name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{claim_id}/{name}')}"


def _modifier_system(modifier: str) -> str:
    # Two-digit modifiers are CPT's; letters (TC, GA, GZ, XU, Q5...) are HCPCS Level II.
    return CPT if modifier.isdigit() else HCPCS


def _claim(result: CodingResult, enc: Encounter, refs: dict[str, str]) -> dict[str, Any]:
    day = enc.date_of_service.isoformat()
    institutional = enc.billing.claim_form == "institutional"
    return {
        "resourceType": "Claim",
        # An error-level finding means the claim is not ready to send as it stands.
        "status": "draft" if result.has_errors else "active",
        "type": {
            "coding": [
                {"system": CLAIM_TYPE, "code": "institutional" if institutional else "professional"}
            ]
        },
        "use": "claim",
        "patient": {"reference": refs["patient"]},
        "created": day,
        "provider": {"display": "billing provider"},
        "priority": {"coding": [{"system": PROCESS_PRIORITY, "code": "normal"}]},
        "identifier": [{"system": CLAIM_ID_SYSTEM, "value": result.claim_id}],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": refs["coverage"]}}],
        "diagnosis": [
            {
                "sequence": n,
                "diagnosisCodeableConcept": {"coding": [{"system": ICD10CM, "code": code}]},
            }
            for n, code in enumerate(result.diagnoses, 1)
        ],
        "item": [
            {
                "sequence": n,
                "productOrService": {
                    "coding": [{"system": CPT, "code": line.cpt}],
                    **({"text": line.description} if line.description else {}),
                },
                **(
                    {
                        "modifier": [
                            {"coding": [{"system": _modifier_system(m), "code": m}]}
                            for m in line.modifiers
                        ]
                    }
                    if line.modifiers
                    else {}
                ),
                "quantity": {"value": line.units},
                **(
                    {"diagnosisSequence": line.diagnosis_pointers}
                    if line.diagnosis_pointers
                    else {}
                ),
                "servicedDate": day,
            }
            for n, line in enumerate(result.lines, 1)
        ],
    }


def _outcome(result: CodingResult) -> dict[str, Any]:
    """The findings as an OperationOutcome, one issue each; "no findings" said as such, so
    a reader can tell a clean claim from a Bundle that carries none."""
    issues: list[dict[str, Any]] = [
        {
            "severity": _ISSUE_SEVERITY[finding.severity],
            "code": "business-rule",
            "details": {"text": finding.message},
            "diagnostics": finding.id,
        }
        for finding in result.findings
    ]
    if not issues:
        issues = [
            {"severity": "information", "code": "informational", "details": {"text": "No findings"}}
        ]
    return {"resourceType": "OperationOutcome", "issue": issues}


def _observations(enc: Encounter, refs: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    table = terms()
    out: list[tuple[str, dict[str, Any]]] = []
    day = enc.date_of_service.isoformat()
    for result in enc.results:
        if result.region.endswith(_BOTH_SIDES):
            continue
        for measure in ("bmd", "t_score", "z_score"):
            value = getattr(result, measure)
            if value is None:
                continue
            code = table.code_for(result.site, result.region, measure)
            text = f"DXA {result.site} {result.region} {_MEASURE_LABEL[measure]}"
            concept: dict[str, Any] = {"text": text}
            if code is not None:
                concept["coding"] = [{"system": LOINC, "code": code.loinc, "display": code.display}]
            unit = table.units[measure]
            name = f"obs/{result.site}/{result.region}/{measure}"
            out.append(
                (
                    _urn(enc.claim_id, name),
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "category": [
                            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging"}]}
                        ],
                        "code": concept,
                        "subject": {"reference": refs["patient"]},
                        "effectiveDateTime": day,
                        "valueQuantity": {
                            "value": value,
                            "unit": unit.unit,
                            "system": UCUM,
                            "code": unit.code,
                        },
                    },
                )
            )
    return out


def result_to_fhir(result: CodingResult, encounter: Encounter) -> dict[str, Any]:
    """A collection Bundle: Patient, Coverage, ServiceRequest (order reason, sites), Claim,
    OperationOutcome (the findings), DiagnosticReport and Observations; validated with the
    R4B models."""
    enc = encounter
    table = terms()
    refs = {
        "patient": _urn(enc.claim_id, "patient"),
        "coverage": _urn(enc.claim_id, "coverage"),
    }
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"value": enc.patient.id}],
        "gender": _SEX[enc.patient.sex],
        "birthDate": enc.patient.birth_date.isoformat(),
    }
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "status": "active",
        "beneficiary": {"reference": refs["patient"]},
        "payor": [
            {
                "identifier": {"system": PAYER_SYSTEM, "value": enc.payer},
                "display": result.payer or enc.payer,
            }
        ],
    }
    # The order, so the Bundle read back gives the order reason and sites again.
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "completed",
        "intent": "order",
        "subject": {"reference": refs["patient"]},
        "reasonCode": [{"coding": [{"system": ORDER_REASON_SYSTEM, "code": enc.order.reason}]}],
    }
    if enc.exam.sites:
        order["bodySite"] = [
            {"coding": [{"system": SITE_SYSTEM, "code": site}]} for site in enc.exam.sites
        ]
    if enc.exam.vfa and result.lines:
        vfa_lines = [line.cpt for line in result.lines if line.cpt in ("77085", "77086")]
        if vfa_lines:
            order["code"] = {"coding": [{"system": CPT, "code": vfa_lines[0]}]}
    observations = _observations(enc, refs)
    interp = result.interpretation
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging"}]}],
        "code": {
            "coding": [
                {"system": LOINC, "code": table.report_code, "display": table.report_display}
            ]
        },
        "subject": {"reference": refs["patient"]},
        "effectiveDateTime": enc.date_of_service.isoformat(),
        "result": [{"reference": url} for url, _ in observations],
    }
    if interp.label:
        report["conclusion"] = interp.label
    if not observations:
        del report["result"]
    entries: list[tuple[str, dict[str, Any]]] = [
        (refs["patient"], patient),
        (refs["coverage"], coverage),
        (_urn(enc.claim_id, "order"), order),
        (_urn(enc.claim_id, "claim"), _claim(result, enc, refs)),
        (_urn(enc.claim_id, "outcome"), _outcome(result)),
        (_urn(enc.claim_id, "report"), report),
        *observations,
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": url, "resource": {**res, "id": url.removeprefix("urn:uuid:")}}
            for url, res in entries
        ],
    }
    import_r4b().get_fhir_model_class("Bundle").model_validate(bundle)
    return bundle
