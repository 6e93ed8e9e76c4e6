"""Code systems, LOINC codes and units for DXA in FHIR (data in ``loinc.toml``)."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from typing import Any

from dexacode.engine.interpret import vertebrae

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"  # HL7's canonical URL
# Read as CPT and HCPCS: CPT's URL and its OID form; HCPCS under its canonical URL and the
# https form dexacode wrote before 2026-11-28 (Bundles kept from then still read).
CPT_SYSTEMS = (CPT, "urn:oid:2.16.840.1.113883.6.12")
HCPCS_SYSTEMS = (HCPCS, "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets")
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
US_CORE_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"
US_CORE_BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
# dexacode's own code systems for facts FHIR has no standard code for.
ORDER_REASON_SYSTEM = "https://dexacode.org/fhir/CodeSystem/order-reason"
SITE_SYSTEM = "https://dexacode.org/fhir/CodeSystem/site"
PAYER_SYSTEM = "https://dexacode.org/fhir/payer-profile"
# Encounter facts FHIR has no element for, coded by their contract path ("exam.status",
# "patient.risk_factors"): the code of a Claim.supportingInfo, a List or an Observation.
FACT_SYSTEM = "https://dexacode.org/fhir/CodeSystem/encounter-fact"
RISK_FACTOR_SYSTEM = "https://dexacode.org/fhir/CodeSystem/risk-factor"
MENOPAUSAL_STATUS_SYSTEM = "https://dexacode.org/fhir/CodeSystem/menopausal-status"
# A prior study the payer family did not pay (history[].covered false), on its Procedure.
NOT_COVERED_EXTENSION = "https://dexacode.org/fhir/StructureDefinition/not-covered"
# The facts a Claim's supportingInfo carries (value absent: the fact is null): the ones
# its modifiers rest on (26/TC, 52/53, Q5/Q6, GA/GZ).
CLAIM_FACTS = (
    "billing.component",
    "billing.equipment_owner",
    "billing.interprets",
    "billing.substitute",
    "billing.substitute_days",
    "billing.abn_signed",
    "exam.status",
    "exam.will_repeat",
    "exam.peripheral_reason",
)
# The facts written as a List (emptyReason "nilknown" when there are none), so a reader
# tells "none" from "not said".
LISTED_FACTS = ("patient.risk_factors", "patient.medications", "patient.conditions", "history")
# HL7 terminology the facts are written with.
CLAIM_INFO_CATEGORY = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# The extension a value element carries instead of its value.
DATA_ABSENT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
LIST_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
# SNOMED CT sex codes US Core's us-core-sex extension uses.
SNOMED_SEX = {"248152002": "F", "248153007": "M"}
MEASURES = ("bmd", "t_score", "z_score")


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (none for anything else)."""
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def code_in(concept: Any, system: str) -> list[str]:
    """The codes a CodeableConcept gives in ``system``."""
    return [str(c["code"]) for c in codings(concept) if c.get("system") == system and c.get("code")]


def codes_in(concept: Any, systems: Sequence[str]) -> list[str]:
    """The codes a CodeableConcept gives in any of ``systems``, in the systems' order."""
    return [code for system in systems for code in code_in(concept, system)]


def procedure_codes(concept: Any) -> list[str]:
    """The CPT codes, then the HCPCS codes, of a CodeableConcept (``CPT_SYSTEMS``,
    ``HCPCS_SYSTEMS``)."""
    return codes_in(concept, CPT_SYSTEMS + HCPCS_SYSTEMS)


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


def import_r4b() -> ModuleType:
    """fhir.resources' R4B models (the ``formats`` extra), imported on first use."""
    try:
        import fhir.resources.R4B as r4b
    except ImportError:
        raise MissingExtraError(
            "FHIR needs the fhir.resources package: install dexacode's formats extra "
            "(pip install 'dexacode[formats]')."
        ) from None
    return r4b


@dataclass(frozen=True)
class LoincCode:
    loinc: str
    display: str
    measure: str
    site: str  # "" when the code has no laterality
    region: str


# UCUM: an annotation alone ("{T-Score}"), or 1 with one ("1{score}"), is the unit 1.
_UCUM_UNITY = re.compile(r"1?\{[^{}]+\}|1")


@dataclass(frozen=True)
class Unit:
    code: str
    unit: str
    also_read: tuple[str, ...]
    unity: bool  # a measure without unit: any UCUM annotation alone, or "1", reads as it


@dataclass(frozen=True)
class StatusRule:
    not_used: tuple[str, ...]
    not_final: tuple[str, ...]


@dataclass(frozen=True)
class ForearmText:
    """How a "Radius and Ulna" code's region is read from its text (``[forearm_text]``)."""

    code_region: str
    regions: dict[str, tuple[str, ...]]  # region -> the words naming it
    not_read: tuple[str, ...]
    own_bones: tuple[str, ...]
    other_bones: tuple[str, ...]


@dataclass(frozen=True)
class Terms:
    report_code: str
    report_display: str
    report_panels: tuple[str, ...]
    units: dict[str, Unit]
    codes: dict[str, LoincCode]
    observation_status: StatusRule
    report_status: StatusRule
    excluded_after: tuple[str, ...]
    excluded_before: tuple[str, ...]
    forearm: ForearmText

    def unit_reads_as(self, code: object, measure: str) -> bool:
        """Whether a valueQuantity.code is a unit the measure's values are read in."""
        unit = self.units[measure]
        if not isinstance(code, str):
            return False
        if code in (unit.code, *unit.also_read):
            return True
        if not unit.unity or not _UCUM_UNITY.fullmatch(code.strip()):
            return False
        # Another measure's own annotation ({Z-score} on a T-score code) contradicts the
        # code: which of the two the value is cannot be told.
        folded = code.strip().casefold()
        return not any(
            other.unity and folded == other.code.casefold()
            for name, other in self.units.items()
            if name != measure
        )

    def code_for(self, site: str, region: str, measure: str) -> LoincCode | None:
        """The code to write for a result value. One lumbar code serves every vertebral
        region (the region goes in code.text, where the reader takes it from); a region
        naming no vertebrae ("L1-L4 mean") gets no code, so it is not read back as one that
        decides. Likewise the "Radius and Ulna" code serves every forearm region the reader
        takes from the text."""
        vertebral = vertebrae(region) is not None
        forearm = region in self.forearm.regions
        for code in self.codes.values():
            if code.measure != measure or code.site != site:
                continue
            if code.region == region or (vertebral and vertebrae(code.region) is not None):
                return code
            if forearm and code.region == self.forearm.code_region:
                return code
        return None


@functools.cache
def terms() -> Terms:
    text = (resources.files("dexacode.formats.fhir") / "loinc.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    report = data["report"]
    status = data["status"]
    forearm = data["forearm_text"]
    return Terms(
        report_code=report["code"],
        report_display=report["display"],
        report_panels=tuple(report["panels"]),
        units={
            name: Unit(u["code"], u["unit"], tuple(u["also_read"]), bool(u["unity"]))
            for name, u in data["units"].items()
        },
        codes={
            row["loinc"]: LoincCode(
                row["loinc"], row["display"], row["measure"], row["site"], row["region"]
            )
            for row in data["code"]
        },
        observation_status=StatusRule(
            tuple(status["observation"]["not_used"]), tuple(status["observation"]["not_final"])
        ),
        report_status=StatusRule(
            tuple(status["report"]["not_used"]), tuple(status["report"]["not_final"])
        ),
        excluded_after=tuple(data["region_text"]["excluded_after"]),
        excluded_before=tuple(data["region_text"]["excluded_before"]),
        forearm=ForearmText(
            code_region=forearm["code_region"],
            regions={name: tuple(words) for name, words in forearm["regions"].items()},
            not_read=tuple(forearm["not_read"]),
            own_bones=tuple(forearm["own_bones"]),
            other_bones=tuple(forearm["other_bones"]),
        ),
    )


def loinc_check_digit_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the Luhn scheme over the digits before the dash)."""
    body, _, check = code.partition("-")
    if not body.isdigit() or not check.isdigit() or len(check) != 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(check)
