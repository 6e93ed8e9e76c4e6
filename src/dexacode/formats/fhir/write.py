"""FHIR R4 out: a coded result as a collection Bundle of a Claim (the corrected claim:
CPT items with modifiers, units and diagnosis sequence), an OperationOutcome of the
findings, a DiagnosticReport of the reading, its Observations (LOINC-coded BMD, T- and
Z-scores), the Patient, Coverage and ServiceRequest the Claim and the reading need, and
the encounter's other facts. FHIR JSON has no empty arrays: an element with nothing in
it (a Claim's diagnosis or item) is left out.

A claim with an error-level finding is written as a "draft" Claim, not an "active" one:
the findings say what stands in its way. The OperationOutcome (one issue per finding:
severity, code "business-rule", the message as details.text, the finding id as
diagnostics) is an entry of the Bundle; FHIR gives a Claim no element to reference it.

Read back (``fhir-import``, or ``scrub`` of the Bundle), it is the encounter that was
coded, so scrubbing it finds what coding it found:

- the claim id, date of service, payer, the patient's id, sex and birth date, the order
  reason and sites (ServiceRequest, in dexacode's code systems), VFA (the
  ServiceRequest's code: 77085, or 77086 for VFA alone, when no site was measured);
- the results of every region that has a LOINC code (lumbar regions keep their
  vertebrae, forearm regions their name, through Observation.code.text);
- menopausal status: an Observation coded ``patient.menopausal_status`` in dexacode's
  encounter-fact system, its value in dexacode's menopausal-status system, or
  dataAbsentReason "unknown" when it is not documented (women only: null for a man);
- risk factors (an Observation each, in dexacode's risk-factor system, valueBoolean
  true), medications (MedicationStatement: active or completed), documented conditions
  (Condition, ICD-10-CM) and prior studies (Procedure: CPT or HCPCS code, performed date,
  the not-covered extension for one the payer family did not pay), each group under a
  List coded with its contract path, with emptyReason "nilknown" when it is empty, so
  "none" is told from "not said";
- the billing and exam facts the modifiers rest on (component, equipment owner, who
  interprets, substitute and its days, ABN, exam status, repeat, peripheral reason): a
  Claim.supportingInfo each (category "info", code the contract path), no value when
  null; the claim form is Claim.type;
- the Claim itself (the corrected claim), which a reader takes as the submitted claim:
  read back, the corrected claim is checked against itself and no difference is found.

Not written: the hip Mean and Diff rows of a scanner report (regions ``*_mean``,
``*_diff``), as no code says "both hips"; regions dexacode has no LOINC code for
(trochanter and others) are written with code.text only and left out on reading, with a
note; a result with no value at all has nothing to write. FHIR has no standard element
for the encounter facts above, and dexacode knows no confirmed LOINC code for menopausal
status, so none is invented: they are coded in dexacode's own systems, in standard
elements.

Ids are UUIDs derived from the claim id, so the same result always gives the same
Bundle. The output is checked against fhir.resources' R4B models before it is returned.
"""

from __future__ import annotations

import uuid
from typing import Any

from dexacode.contract import CodingResult, Encounter
from dexacode.formats.fhir.read import CLAIM_ID_SYSTEM, VFA_CODES
from dexacode.formats.fhir.terms import (
    CLAIM_FACTS,
    CLAIM_INFO_CATEGORY,
    CLAIM_TYPE,
    CONDITION_CLINICAL,
    CPT,
    DATA_ABSENT_REASON,
    FACT_SYSTEM,
    HCPCS,
    ICD10CM,
    LIST_EMPTY_REASON,
    LOINC,
    MENOPAUSAL_STATUS_SYSTEM,
    NOT_COVERED_EXTENSION,
    OBSERVATION_CATEGORY,
    ORDER_REASON_SYSTEM,
    PAYER_SYSTEM,
    PROCESS_PRIORITY,
    RISK_FACTOR_SYSTEM,
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


def _code_system(code: str) -> str:
    # Five digits are a CPT code; a letter and four digits (G0130) HCPCS Level II.
    return CPT if code.isdigit() else HCPCS


def _fact_value(path: str, enc: Encounter) -> Any:
    group, name = path.split(".")
    return getattr(getattr(enc, group), name)


def _supporting_info(enc: Encounter) -> list[dict[str, Any]]:
    """The billing and exam facts the claim's modifiers rest on, one supportingInfo each
    (category "info", code the contract path in FACT_SYSTEM); a null fact has no value."""
    out: list[dict[str, Any]] = []
    for n, path in enumerate(CLAIM_FACTS, 1):
        info: dict[str, Any] = {
            "sequence": n,
            "category": {"coding": [{"system": CLAIM_INFO_CATEGORY, "code": "info"}]},
            "code": {"coding": [{"system": FACT_SYSTEM, "code": path}]},
        }
        value = _fact_value(path, enc)
        if isinstance(value, bool):
            info["valueBoolean"] = value
        elif isinstance(value, int):
            info["valueQuantity"] = {"value": value, "unit": "days", "system": UCUM, "code": "d"}
        elif isinstance(value, str):
            info["valueString"] = value
        out.append(info)
    return out


def _claim(result: CodingResult, enc: Encounter, refs: dict[str, str]) -> dict[str, Any]:
    day = enc.date_of_service.isoformat()
    institutional = enc.billing.claim_form == "institutional"
    claim: dict[str, Any] = {
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
        "supportingInfo": _supporting_info(enc),
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
                    "coding": [{"system": _code_system(line.cpt), "code": line.cpt}],
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
    # FHIR JSON has no empty arrays: a claim with no diagnosis or no line omits the element.
    for element in ("diagnosis", "item"):
        if not claim[element]:
            del claim[element]
    return claim


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


Entries = list[tuple[str, dict[str, Any]]]


def _listed(enc: Encounter, refs: dict[str, str], path: str, title: str, items: Entries) -> Entries:
    """The items, and a List of them coded with ``path``: a List with no entry says "none
    known" (emptyReason nilknown), so a reader tells an empty list from one not given."""
    listing: dict[str, Any] = {
        "resourceType": "List",
        "status": "current",
        "mode": "snapshot",
        "title": title,
        "code": {"coding": [{"system": FACT_SYSTEM, "code": path}]},
        "subject": {"reference": refs["patient"]},
    }
    if items:
        listing["entry"] = [{"item": {"reference": url}} for url, _ in items]
    else:
        listing["emptyReason"] = {"coding": [{"system": LIST_EMPTY_REASON, "code": "nilknown"}]}
    return [*items, (_urn(enc.claim_id, f"list/{path}"), listing)]


def _patient_facts(enc: Encounter, refs: dict[str, str]) -> Entries:
    """Menopausal status, risk factors, medications, documented conditions and prior
    studies, so the Bundle read back is the encounter that was coded."""
    subject = {"reference": refs["patient"]}
    day = enc.date_of_service.isoformat()
    person = enc.patient
    out: Entries = []
    if person.sex == "F":
        status: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "social-history"}]}],
            "code": {
                "coding": [{"system": FACT_SYSTEM, "code": "patient.menopausal_status"}],
                "text": "Menopausal status",
            },
            "subject": subject,
            "effectiveDateTime": day,
        }
        if person.menopausal_status is None:  # not documented: said as such
            status["dataAbsentReason"] = {
                "coding": [{"system": DATA_ABSENT_REASON, "code": "unknown"}]
            }
        else:
            status["valueCodeableConcept"] = {
                "coding": [{"system": MENOPAUSAL_STATUS_SYSTEM, "code": person.menopausal_status}]
            }
        out.append((_urn(enc.claim_id, "menopausal-status"), status))
    factors: Entries = [
        (
            _urn(enc.claim_id, f"risk/{factor}"),
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {
                    "coding": [{"system": RISK_FACTOR_SYSTEM, "code": factor}],
                    "text": factor.replace("_", " "),
                },
                "subject": subject,
                "effectiveDateTime": day,
                "valueBoolean": True,
            },
        )
        for factor in person.risk_factors
    ]
    drugs: Entries = [
        (
            _urn(enc.claim_id, f"medication/{n}"),
            {
                "resourceType": "MedicationStatement",
                "status": "active" if med.status == "current" else "completed",
                "medicationCodeableConcept": {"text": med.name},
                "subject": subject,
            },
        )
        for n, med in enumerate(person.medications, 1)
    ]
    conditions: Entries = [
        (
            _urn(enc.claim_id, f"condition/{n}"),
            {
                "resourceType": "Condition",
                "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
                "code": {"coding": [{"system": ICD10CM, "code": code}]},
                "subject": subject,
            },
        )
        for n, code in enumerate(person.conditions, 1)
    ]
    studies: Entries = []
    for n, prior in enumerate(enc.history, 1):
        study: dict[str, Any] = {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"system": _code_system(prior.cpt), "code": prior.cpt}]},
            "subject": subject,
            "performedDateTime": prior.date_of_service.isoformat(),
        }
        if not prior.covered:
            study["extension"] = [{"url": NOT_COVERED_EXTENSION, "valueBoolean": True}]
        studies.append((_urn(enc.claim_id, f"history/{n}"), study))
    out += _listed(enc, refs, "patient.risk_factors", "Osteoporosis risk factors", factors)
    out += _listed(enc, refs, "patient.medications", "Medications", drugs)
    out += _listed(enc, refs, "patient.conditions", "Documented conditions", conditions)
    out += _listed(enc, refs, "history", "Prior bone density studies", studies)
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
    if enc.exam.vfa:
        # The VFA code billed, else the one the exam is (VFA alone, or with axial DXA):
        # read back, it says VFA was done, and with 77086 that no density site was measured.
        vfa_lines = [line.cpt for line in result.lines if line.cpt in VFA_CODES]
        vfa_code = vfa_lines[0] if vfa_lines else VFA_CODES[1 if not enc.exam.sites else 0]
        order["code"] = {"coding": [{"system": CPT, "code": vfa_code}]}
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
        *_patient_facts(enc, refs),
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
