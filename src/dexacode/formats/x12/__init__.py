"""ASC X12 837P (005010X222A1): coded encounters out as claim files, claim files in as
encounters with a ``submitted`` claim.

Writing needs no third-party package; validating and reading use pyx12 (the ``formats``
extra), imported on first use.
"""

from __future__ import annotations

from dexacode.formats.x12.build import build_segments, interchange_text
from dexacode.formats.x12.checks import claim_problems, form_problems, npi_problem, zip9_problem
from dexacode.formats.x12.claims import claim_for
from dexacode.formats.x12.encounter import UNKNOWN_FACTS, ClaimNotCodable, claim_to_encounter
from dexacode.formats.x12.fees import FeeFileError, FeeSchedule, load_fees
from dexacode.formats.x12.model import Claim837, Envelope, HeldBack, Person, ServiceLine
from dexacode.formats.x12.patients import PatientFileError, load_patients
from dexacode.formats.x12.provider import (
    ProviderFile,
    ProviderFileError,
    example_provider_path,
    load_provider,
)
from dexacode.formats.x12.pyx12_import import MissingExtraError
from dexacode.formats.x12.read import ClaimProblem, X12ReadError, parse_837, read_837
from dexacode.formats.x12.rows import read_837_rows
from dexacode.formats.x12.validate import Validation, validate_837

__all__ = [
    "UNKNOWN_FACTS",
    "Claim837",
    "ClaimNotCodable",
    "ClaimProblem",
    "Envelope",
    "FeeFileError",
    "FeeSchedule",
    "HeldBack",
    "MissingExtraError",
    "PatientFileError",
    "Person",
    "ProviderFile",
    "ProviderFileError",
    "ServiceLine",
    "Validation",
    "X12ReadError",
    "build_segments",
    "claim_for",
    "claim_problems",
    "claim_to_encounter",
    "example_provider_path",
    "form_problems",
    "interchange_text",
    "load_fees",
    "load_patients",
    "load_provider",
    "npi_problem",
    "parse_837",
    "read_837",
    "read_837_rows",
    "validate_837",
    "zip9_problem",
]
