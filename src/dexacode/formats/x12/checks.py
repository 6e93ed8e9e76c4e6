"""Checks on an 837P claim that pyx12 does not make: it validates structure against the
implementation guide's map, but not the NPI check digit, the billing provider's 9-digit
ZIP, the ICD-10-CM codes in HI, the procedure codes and modifiers in SV1, or the
situational rule that DMG is present when the subscriber is the patient.

Each check returns plain sentences (empty when the claim is fine); none prints anything
that identifies a patient.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from dexacode.engine.diagnoses import IcdRelease
from dexacode.formats.x12.model import Claim837

# The NPI check digit is the Luhn digit of the nine identifier digits prefixed by 80840
# (the ISO health-industry card issuer prefix), per CMS's NPI check-digit note.
NPI_PREFIX = "80840"
_NPI_SHAPE = re.compile(r"^[0-9]{10}$")
_ZIP9 = re.compile(r"^[0-9]{9}$")
_ICD_UNDOTTED = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")
MAX_MODIFIERS = 4
MAX_DIAGNOSES = 12


def luhn_digit(digits: str) -> int:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, starting next to the check
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def npi_problem(npi: str) -> str | None:
    if not _NPI_SHAPE.match(npi):
        return f"an NPI is 10 digits, got {len(npi)} characters"
    if luhn_digit(NPI_PREFIX + npi[:9]) != int(npi[9]):
        return f"NPI {npi} fails its check digit (Luhn over 80840 + the first nine digits)"
    return None


def zip9_problem(zip_code: str) -> str | None:
    if not _ZIP9.match(zip_code):
        return (
            "the billing provider's ZIP must be 9 digits (ZIP+4, no dash) in an 837P, "
            f"got {len(zip_code)} characters"
        )
    return None


def icd_problems(codes: Collection[str], icd: IcdRelease) -> list[str]:
    """Dotted, malformed, unknown or non-billable ICD-10-CM codes in HI."""
    problems: list[str] = []
    for code in codes:
        if "." in code:
            problems.append(f"diagnosis {code} is dotted; X12 HI carries codes without the dot")
            continue
        if not _ICD_UNDOTTED.match(code):
            problems.append(f"diagnosis {code!r} is not shaped like an ICD-10-CM code")
            continue
        info = icd.lookup(code)
        if info is None:
            problems.append(f"diagnosis {code} is not in ICD-10-CM {icd.label}")
        elif not info.billable:
            problems.append(f"diagnosis {code} is a header, not billable in ICD-10-CM {icd.label}")
    return problems


def claim_problems(
    claim: Claim837,
    icd: IcdRelease,
    procedures: Collection[str],
    modifiers: Collection[str],
) -> list[str]:
    """Everything wrong with one claim that pyx12 would let through.

    ``procedures`` and ``modifiers`` are the codes the rule book knows on the date of
    service (``RuleSet.procedures`` and ``RuleSet.modifiers``).
    """
    problems: list[str] = []
    who = f"claim {claim.claim_id}"
    if claim.referring_npi and (p := npi_problem(claim.referring_npi)):
        problems.append(f"{who}: referring provider: {p}")
    if claim.relationship == "18":
        s = claim.subscriber
        if s.birth_date is None or s.sex not in ("F", "M", "U"):
            problems.append(
                f"{who}: DMG (birth date and sex) is required when the subscriber is the patient"
            )
    if not claim.diagnoses:
        problems.append(f"{who}: no diagnosis in HI")
    if len(claim.diagnoses) > MAX_DIAGNOSES:
        problems.append(f"{who}: {len(claim.diagnoses)} diagnoses; HI carries at most 12")
    problems += [f"{who}: {p}" for p in icd_problems(claim.diagnoses, icd)]
    if not claim.lines:
        problems.append(f"{who}: no service line")
    for n, line in enumerate(claim.lines, 1):
        where = f"{who} line {n}"
        if line.cpt not in procedures:
            problems.append(f"{where}: procedure code {line.cpt} is not one dexacode knows")
        unknown = [m for m in line.modifiers if m not in modifiers]
        if unknown:
            problems.append(f"{where}: unknown modifier {', '.join(unknown)}")
        if len(line.modifiers) > MAX_MODIFIERS:
            problems.append(f"{where}: {len(line.modifiers)} modifiers; SV1 carries at most 4")
        if not line.pointers or len(line.pointers) > 4:
            problems.append(f"{where}: needs one to four diagnosis pointers")
        elif any(p < 1 or p > len(claim.diagnoses) for p in line.pointers):
            problems.append(f"{where}: a diagnosis pointer points past the claim's diagnoses")
        if line.units < 1:
            problems.append(f"{where}: units must be at least 1")
    return problems
