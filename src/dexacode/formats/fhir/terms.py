"""Code systems, LOINC codes and units for DXA in FHIR (data in ``loinc.toml``)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from types import ModuleType
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
US_CORE_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"
US_CORE_BIRTHSEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
# dexacode's own code systems for facts FHIR has no standard code for.
ORDER_REASON_SYSTEM = "https://dexacode.org/fhir/CodeSystem/order-reason"
SITE_SYSTEM = "https://dexacode.org/fhir/CodeSystem/site"
PAYER_SYSTEM = "https://dexacode.org/fhir/payer-profile"
# SNOMED CT sex codes US Core's us-core-sex extension uses.
SNOMED_SEX = {"248152002": "F", "248153007": "M"}
MEASURES = ("bmd", "t_score", "z_score")


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


@dataclass(frozen=True)
class Unit:
    code: str
    unit: str
    also_read: tuple[str, ...]


@dataclass(frozen=True)
class Terms:
    report_code: str
    report_display: str
    report_panels: tuple[str, ...]
    units: dict[str, Unit]
    codes: dict[str, LoincCode]

    def code_for(self, site: str, region: str, measure: str) -> LoincCode | None:
        """The code to write for a result value; lumbar regions all use the lumbar code."""
        for code in self.codes.values():
            if code.measure != measure or code.site != site:
                continue
            if code.region == region or (site == "lumbar_spine" and region.startswith(("L", "T"))):
                return code
        return None


@functools.cache
def terms() -> Terms:
    text = (resources.files("dexacode.formats.fhir") / "loinc.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    report = data["report"]
    return Terms(
        report_code=report["code"],
        report_display=report["display"],
        report_panels=tuple(report["panels"]),
        units={
            name: Unit(u["code"], u["unit"], tuple(u["also_read"]))
            for name, u in data["units"].items()
        },
        codes={
            row["loinc"]: LoincCode(
                row["loinc"], row["display"], row["measure"], row["site"], row["region"]
            )
            for row in data["code"]
        },
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
