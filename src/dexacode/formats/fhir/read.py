"""FHIR R4 in: a Bundle, NDJSON or loose resources to an encounter, and the facts the
input lacked.

Every resource is first validated with fhir.resources' R4B models (R4-compatible). Then:

- Coverage: the payer profile, when its payor names one in dexacode's payer system.
- Patient: sex from ``gender``, else the US Core sex or birth-sex extension; birth date;
  the id from the first identifier (the medical record number), else the resource id.
- ServiceRequest / Procedure: the order reason and sites, when coded in dexacode's code
  systems (``ORDER_REASON_SYSTEM``, ``SITE_SYSTEM``); a VFA procedure code (77085/77086).
- Condition: ICD-10-CM codes as documented conditions.
- MedicationStatement / MedicationRequest: the drug's name and whether it is current.
- DiagnosticReport (DXA panel) and its Observations: BMD, T- and Z-scores per site and
  region by LOINC code (``loinc.toml``); its date is the date of service.

What FHIR does not say (the payer, usually the order reason and the sites) is listed in
``FhirImport.missing``, with the option or overlay key that supplies it.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dexacode.formats.fhir.terms import (
    CPT,
    ICD10CM,
    LOINC,
    ORDER_REASON_SYSTEM,
    PAYER_SYSTEM,
    SITE_SYSTEM,
    SNOMED_SEX,
    US_CORE_BIRTHSEX,
    US_CORE_SEX,
    import_r4b,
    terms,
)

CLAIM_ID_SYSTEM = "urn:dexacode:claim-id"
READ_TYPES = (
    "Patient",
    "Claim",
    "Coverage",
    "ServiceRequest",
    "Procedure",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "DiagnosticReport",
    "Observation",
)
VFA_CODES = ("77085", "77086")


class FhirInputError(ValueError):
    """The FHIR input cannot be read; the message names the resource and the field."""


@dataclass(frozen=True)
class Missing:
    field: str  # contract path
    how: str  # how to supply it


# How each required fact is supplied when FHIR lacks it.
SUPPLY = {
    "claim_id": "--claim-id, or claim_id in the overlay",
    "date_of_service": 'date_of_service = "YYYY-MM-DD" in the overlay',
    "payer": "--payer, or payer in the overlay",
    "patient.id": "[patient] id in the overlay",
    "patient.sex": '[patient] sex = "F" or "M" in the overlay',
    "patient.birth_date": "[patient] birth_date in the overlay",
    "order.reason": "--reason, or [order] reason in the overlay",
    "exam.sites": "--sites, or [exam] sites in the overlay",
}


@dataclass
class FhirImport:
    encounter: dict[str, Any]
    missing: list[Missing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- resources from files ------------------------------------------------------------------


def resources_of(data: Any, where: str) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from resources_of(item, where)
        return
    if not isinstance(data, dict) or "resourceType" not in data:
        raise FhirInputError(f"{where}: not a FHIR resource (no resourceType)")
    if data["resourceType"] == "Bundle":
        for n, entry in enumerate(data.get("entry") or [], 1):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if res is None:
                raise FhirInputError(f"{where}: Bundle entry {n} has no resource")
            yield from resources_of(res, f"{where} entry {n}")
        return
    yield data


def validate_resource(resource: dict[str, Any], where: str) -> None:
    r4b = import_r4b()
    rtype = resource.get("resourceType")
    try:
        model = r4b.get_fhir_model_class(rtype)
    except (KeyError, ValueError, AttributeError):
        raise FhirInputError(f"{where}: unknown resourceType {rtype!r}") from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise FhirInputError(
            f"{where}: {rtype}/{resource.get('id', '?')} is not valid FHIR R4 at {loc}: "
            f"{first['msg']}"
        ) from None


def load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FhirInputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise FhirInputError(f"{path.name}: not UTF-8 text") from None
    stripped = text.strip()
    if not stripped:
        raise FhirInputError(f"{path.name}: the file is empty")
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    items = []  # NDJSON: one resource or Bundle per line
    for number, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise FhirInputError(f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
    return items


def gather(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every resource of the files (Bundles opened), each validated as R4."""
    out: list[dict[str, Any]] = []
    for path in paths:
        for res in resources_of(load_json(path), path.name):
            validate_resource(res, path.name)
            out.append(res)
    return out


# --- resources to facts --------------------------------------------------------------------


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _code_in(concept: Any, system: str) -> list[str]:
    return [
        str(c["code"]) for c in _codings(concept) if c.get("system") == system and c.get("code")
    ]


def _date_part(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _sex(patient: Mapping[str, Any]) -> str | None:
    gender = patient.get("gender")
    if gender in ("female", "male"):
        return "F" if gender == "female" else "M"
    for ext in patient.get("extension") or []:
        url = ext.get("url")
        if url == US_CORE_SEX:
            code = ext.get("valueCode") or (ext.get("valueCoding") or {}).get("code")
            if code in SNOMED_SEX:
                return SNOMED_SEX[code]
    for ext in patient.get("extension") or []:
        if ext.get("url") == US_CORE_BIRTHSEX and ext.get("valueCode") in ("F", "M"):
            return str(ext["valueCode"])
    return None


def _patient(res: Mapping[str, Any], enc: dict[str, Any], notes: list[str]) -> None:
    patient = enc.setdefault("patient", {})
    identifiers = [i for i in res.get("identifier") or [] if i.get("value")]
    patient["id"] = str(identifiers[0]["value"]) if identifiers else res.get("id")
    sex = _sex(res)
    if sex:
        patient["sex"] = sex
    birth = res.get("birthDate")
    if isinstance(birth, str) and len(birth) == 10:
        patient["birth_date"] = birth
    elif birth:
        notes.append("Patient.birthDate is not a full date (YYYY-MM-DD); not used")


def _order(res: Mapping[str, Any], enc: dict[str, Any]) -> None:
    for concept in res.get("reasonCode") or []:
        reasons = _code_in(concept, ORDER_REASON_SYSTEM)
        if reasons:
            enc.setdefault("order", {})["reason"] = reasons[0]
        for code in _code_in(concept, ICD10CM):
            _add_condition(enc, code)
    sites = [s for concept in res.get("bodySite") or [] for s in _code_in(concept, SITE_SYSTEM)]
    if sites:
        exam = enc.setdefault("exam", {})
        exam["sites"] = list(dict.fromkeys([*exam.get("sites", []), *sites]))
    if any(code in VFA_CODES for code in _code_in(res.get("code"), CPT)):
        enc.setdefault("exam", {})["vfa"] = True


def _coverage(res: Mapping[str, Any], enc: dict[str, Any]) -> None:
    """The payer profile, when the Coverage names one in dexacode's payer system."""
    for payor in res.get("payor") or []:
        ident = payor.get("identifier") or {}
        if ident.get("system") == PAYER_SYSTEM and ident.get("value"):
            enc["payer"] = str(ident["value"])
            return


def _add_condition(enc: dict[str, Any], code: str) -> None:
    conditions = enc.setdefault("patient", {}).setdefault("conditions", [])
    if code not in conditions:
        conditions.append(code)


def _medication(res: Mapping[str, Any], enc: dict[str, Any], notes: list[str]) -> None:
    concept = res.get("medicationCodeableConcept") or {}
    name = concept.get("text") or next(
        (c.get("display") for c in _codings(concept) if c.get("display")), None
    )
    if not name:
        notes.append(f"{res['resourceType']}/{res.get('id', '?')}: no drug name; not used")
        return
    status = "completed" if res.get("status") in ("completed", "stopped") else "current"
    meds = enc.setdefault("patient", {}).setdefault("medications", [])
    meds.append({"name": str(name).lower(), "status": status})


def _results(
    report: Mapping[str, Any] | None,
    observations: Mapping[str, Mapping[str, Any]],
    enc: dict[str, Any],
    notes: list[str],
) -> None:
    table = terms()
    if report is not None:
        wanted = [
            str(ref.get("reference", "")).rsplit("/", 1)[-1].removeprefix("urn:uuid:")
            for ref in report.get("result") or []
        ]
        chosen = [observations[i] for i in wanted if i in observations]
        absent = [i for i in wanted if i not in observations]
        if absent:
            notes.append(
                f"DiagnosticReport names {len(absent)} result(s) not in the input: "
                + ", ".join(absent)
            )
    else:
        chosen = list(observations.values())
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for obs in chosen:
        codes = [table.codes[c] for c in _code_in(obs.get("code"), LOINC) if c in table.codes]
        label = f"Observation/{obs.get('id', '?')}"
        if not codes:
            notes.append(f"{label}: not a DXA result dexacode knows (LOINC); not used")
            continue
        code = codes[0]
        if not code.site:
            notes.append(f"{label}: LOINC {code.loinc} does not say which side; not used")
            continue
        quantity = obs.get("valueQuantity") or {}
        value = quantity.get("value")
        if not isinstance(value, int | float):
            notes.append(f"{label}: no numeric value; not used")
            continue
        unit = table.units[code.measure]
        if quantity.get("code") not in (unit.code, *unit.also_read):
            notes.append(f"{label}: unit {quantity.get('code')!r} is not {unit.code}; not used")
            continue
        row = by_key.setdefault(
            (code.site, code.region), {"site": code.site, "region": code.region}
        )
        row[code.measure] = float(value)
        if "date_of_service" not in enc:
            day = _date_part(obs.get("effectiveDateTime"))
            if day:
                enc["date_of_service"] = day
    if by_key:
        enc["results"] = list(by_key.values())


def to_encounter(resources: Iterable[Mapping[str, Any]]) -> FhirImport:
    """The encounter the resources describe, with what is missing for coding it."""
    enc: dict[str, Any] = {}
    notes: list[str] = []
    observations: dict[str, Mapping[str, Any]] = {}
    report: Mapping[str, Any] | None = None
    table = terms()
    for res in resources:
        rtype = res.get("resourceType")
        if rtype == "Patient":
            _patient(res, enc, notes)
        elif rtype == "Claim":
            for ident in res.get("identifier") or []:
                if ident.get("system") == CLAIM_ID_SYSTEM and ident.get("value"):
                    enc["claim_id"] = str(ident["value"])
        elif rtype == "Coverage":
            _coverage(res, enc)
        elif rtype in ("ServiceRequest", "Procedure"):
            _order(res, enc)
        elif rtype == "Condition":
            for code in _code_in(res.get("code"), ICD10CM):
                _add_condition(enc, code)
        elif rtype in ("MedicationStatement", "MedicationRequest"):
            _medication(res, enc, notes)
        elif rtype == "Observation":
            observations[str(res.get("id", len(observations)))] = res
        elif rtype == "DiagnosticReport":
            if any(c in table.report_panels for c in _code_in(res.get("code"), LOINC)):
                report = res
                report_id = str(res.get("id") or "fhir-import")
                enc.setdefault("claim_id", report_id)
                day = _date_part(res.get("effectiveDateTime")) or _date_part(res.get("issued"))
                if day:
                    enc["date_of_service"] = day
        elif rtype not in READ_TYPES:
            notes.append(f"{rtype}: not read by dexacode")
    _results(report, observations, enc, notes)
    return FhirImport(enc, missing_facts(enc), notes)


# --- what is missing, and supplying it -----------------------------------------------------


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def missing_facts(enc: Mapping[str, Any]) -> list[Missing]:
    return [Missing(path, how) for path, how in SUPPLY.items() if _get(enc, path) in (None, [], "")]


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` laid over ``base``: tables merge, other values replace."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_overlay(path: Path) -> dict[str, Any]:
    """An overlay file: part of an encounter, as TOML (``.toml``) or JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FhirInputError(f"{path}: no such overlay file") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise FhirInputError(f"{path.name}: not valid {kind} ({exc})") from None
    if not isinstance(data, dict):
        raise FhirInputError(f"{path.name}: an overlay is a table of encounter fields")
    overlay: dict[str, Any] = _dates_as_text(data)
    return overlay


def _dates_as_text(data: Any) -> Any:
    """TOML dates become the contract's YYYY-MM-DD strings."""
    if isinstance(data, dict):
        return {k: _dates_as_text(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_dates_as_text(v) for v in data]
    if hasattr(data, "isoformat") and not isinstance(data, str):
        return data.isoformat()
    return data


def supply(imported: FhirImport, extra: Mapping[str, Any]) -> FhirImport:
    """The import with facts from an overlay or options laid over it."""
    enc = merge(imported.encounter, extra)
    return FhirImport(enc, missing_facts(enc), list(imported.notes))


def import_files(paths: Sequence[Path]) -> FhirImport:
    return to_encounter(gather(paths))
