"""FHIR R4 in and out, through fhir.resources' R4B models (the ``formats`` extra).

In: a Bundle, NDJSON or loose resources to an encounter, naming the facts FHIR lacked.
Out: a coded result as a Claim, and the reading as a DiagnosticReport with LOINC-coded
Observations.
"""

from __future__ import annotations

from dexacode.formats.fhir.read import (
    Entry,
    FhirImport,
    FhirInputError,
    Missing,
    gather,
    gather_entries,
    import_files,
    load_overlay,
    merge,
    missing_facts,
    supply,
    to_encounter,
)
from dexacode.formats.fhir.rows import read_fhir_rows
from dexacode.formats.fhir.terms import MissingExtraError, loinc_check_digit_ok, terms
from dexacode.formats.fhir.write import result_to_fhir

__all__ = [
    "Entry",
    "FhirImport",
    "FhirInputError",
    "Missing",
    "MissingExtraError",
    "gather",
    "gather_entries",
    "import_files",
    "load_overlay",
    "loinc_check_digit_ok",
    "merge",
    "missing_facts",
    "read_fhir_rows",
    "result_to_fhir",
    "supply",
    "terms",
    "to_encounter",
]
