"""Synthetic FHIR resources of another system's record, for the FHIR door's tests: one
Patient (pt-1), its Coverage, a DXA order of the left hip, a DXA report and its results."""

from __future__ import annotations

from typing import Any

from dexacode.formats.fhir.terms import LOINC, UCUM

ORDER_REASON = "https://dexacode.org/fhir/CodeSystem/order-reason"
SITE = "https://dexacode.org/fhir/CodeSystem/site"
PAYER = "https://dexacode.org/fhir/payer-profile"
SUBJECT = {"reference": "Patient/pt-1"}


def patient(mrn: str, birth_date: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pt-1",
        "identifier": [{"system": "urn:example:mrn", "value": mrn}],
        "gender": "female",
        "birthDate": birth_date,
    }


def coverage(payer: str) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": "cov-1",
        "status": "active",
        "beneficiary": SUBJECT,
        "payor": [{"identifier": {"system": PAYER, "value": payer}}],
    }


def left_hip_order(reason: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": "sr-1",
        "status": "completed",
        "intent": "order",
        "subject": SUBJECT,
        "reasonCode": [{"coding": [{"system": ORDER_REASON, "code": reason}]}],
        "bodySite": [{"coding": [{"system": SITE, "code": "left_hip"}]}],
    }


def t_score(oid: str, loinc: str, value: float | None, unit: str | None = "{T-score}") -> Any:
    """A T-score Observation; no value leaves valueQuantity out, no unit its code."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2026-03-02",
    }
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit is not None:
            quantity.update(system=UCUM, code=unit)
        res["valueQuantity"] = quantity
    return res


def dxa_report(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport",
        "id": "rep-1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "38269-7"}]},
        "subject": SUBJECT,
        "effectiveDateTime": "2026-03-02",
        "result": [{"reference": f"Observation/{r['id']}"} for r in results],
    }
