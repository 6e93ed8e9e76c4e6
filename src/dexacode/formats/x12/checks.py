"""Checks on an 837P claim that pyx12 does not make: it validates structure against the
implementation guide's map, but not the NPI check digit, the billing provider's 9-digit
ZIP, the ICD-10-CM codes in HI, the procedure codes and modifiers in SV1, the diagnosis
pointers in SV107, or the situational rule that DMG is present when the subscriber is the
patient.

Two parts, because a claim read back is judged by the engine as well:

- ``form_problems``: what the claim form itself gets wrong (NPIs, ZIP+4, DMG, dotted or
  too many diagnoses, modifiers and pointers per line, units). Once a read claim is an
  encounter nobody sees these again, so reading applies them too.
- the codes (``_codes``): unknown or non-billable diagnoses, procedure codes and modifiers
  dexacode does not know. The engine reports these on a read claim (ICD10-INVALID,
  MODIFIER-EXTRA...), so only writing applies them.

``claim_problems`` is both, for writing. Each check returns plain sentences (empty when
the claim is fine); none prints anything that identifies a patient.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

from dexacode.engine.diagnoses import IcdRelease
from dexacode.formats.x12.model import Claim837
from dexacode.formats.x12.segments import MEMBER_ID_RULE, member_id_ok
from dexacode.rulebook import load_rulebook

# The NPI check digit is the Luhn digit of the nine identifier digits prefixed by 80840
# (the ISO health-industry card issuer prefix), per CMS's NPI check-digit note.
NPI_PREFIX = "80840"
_NPI_SHAPE = re.compile(r"^[0-9]{10}$")
_ZIP9 = re.compile(r"^[0-9]{9}$")
_ICD_UNDOTTED = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")


@dataclass(frozen=True)
class FormLimits:
    """How many modifiers and pointers an SV1 line, and diagnoses an HI segment, carry."""

    modifiers: int
    diagnoses: int
    pointers: int


@cache
def form_limits() -> FormLimits:
    """The 837P's limits, from the rule book, which is their one home (it cites the 837P
    guide for them). The latest row is the form's: the 5010 layout is not dated per claim."""
    book = load_rulebook()
    latest = max(book.diagnosis_limits, key=lambda row: row.effective)
    return FormLimits(
        modifiers=book.max_modifiers_per_line,
        diagnoses=latest.max_professional,
        pointers=latest.pointers_per_line,
    )


# A problem found on the claim (line None) or on one of its lines (1-based).
_Problem = tuple[int | None, str]


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


def _form(claim: Claim837) -> list[_Problem]:
    problems: list[_Problem] = []
    # The billing provider is read back from an 837 only; the provider file a claim is
    # written from was checked when it was loaded.
    if claim.billing_npi and (p := npi_problem(claim.billing_npi)):
        problems.append((None, f"billing provider (loop 2010AA): {p}"))
    if claim.billing_zip and (p := zip9_problem(claim.billing_zip)):
        problems.append((None, f"billing provider (loop 2010AA): {p}"))
    if claim.referring_npi and (p := npi_problem(claim.referring_npi)):
        problems.append((None, f"referring provider: {p}"))
    if claim.patient is not None:
        patient = claim.patient
        if patient.birth_date is None or patient.sex not in ("F", "M", "U"):
            problems.append(
                (None, "DMG (birth date and sex) is required for the patient (loop 2010CA)")
            )
    elif claim.relationship == "18":
        s = claim.subscriber
        if s.birth_date is None or s.sex not in ("F", "M", "U"):
            problems.append(
                (None, "DMG (birth date and sex) is required when the subscriber is the patient")
            )
    if not member_id_ok(claim.subscriber.member_id):
        problems.append((None, f"the subscriber's member id (NM109) {MEMBER_ID_RULE}"))
    limits = form_limits()
    if len(claim.diagnoses) > limits.diagnoses:
        problems.append(
            (None, f"{len(claim.diagnoses)} diagnoses; HI carries at most {limits.diagnoses}")
        )
    dotted = [c for c in claim.diagnoses if "." in c]
    if dotted:
        many = len(dotted) > 1
        problems.append(
            (
                None,
                f"{'diagnoses' if many else 'diagnosis'} {', '.join(dotted)} "
                f"{'are' if many else 'is'} dotted; X12 HI carries codes without the dot",
            )
        )
    for n, line in enumerate(claim.lines, 1):
        if len(line.modifiers) > limits.modifiers:
            problems.append(
                (n, f"{len(line.modifiers)} modifiers; SV1 carries at most {limits.modifiers}")
            )
        if not line.pointers or len(line.pointers) > limits.pointers:
            problems.append((n, f"needs 1 to {limits.pointers} diagnosis pointers"))
        # A pointer outside the list leaves the line without its diagnosis: payers reject
        # the claim before anyone reads the codes.
        for pointer in line.pointers:
            if not 1 <= pointer <= len(claim.diagnoses):
                problems.append(
                    (
                        n,
                        f"diagnosis pointer {pointer} (SV107) does not point at one of the "
                        f"claim's {len(claim.diagnoses)} diagnoses",
                    )
                )
        if line.units < 1:
            problems.append((n, "units must be at least 1"))
    return problems


def _codes(
    claim: Claim837,
    icd: IcdRelease,
    procedures: Collection[str],
    modifiers: Collection[str],
) -> list[_Problem]:
    problems: list[_Problem] = []
    if not claim.diagnoses:
        problems.append((None, "no diagnosis in HI"))
    undotted = [c for c in claim.diagnoses if "." not in c]  # dotted: a form problem
    problems += [(None, p) for p in icd_problems(undotted, icd)]
    if not claim.lines:
        problems.append((None, "no service line"))
    for n, line in enumerate(claim.lines, 1):
        if line.cpt not in procedures:
            problems.append((n, f"procedure code {line.cpt} is not one dexacode knows"))
        unknown = [m for m in line.modifiers if m not in modifiers]
        if unknown:
            problems.append((n, f"unknown modifier {', '.join(unknown)}"))
    return problems


def form_problems(claim: Claim837) -> list[str]:
    """What the claim form gets wrong that pyx12 lets through, whoever judges the codes;
    a sentence about one line names it (``service line 2: ...``), none names the claim
    (the reader's caller does)."""
    return [text if n is None else f"service line {n}: {text}" for n, text in _form(claim)]


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
    who = f"claim {claim.claim_id}"
    return [
        f"{who}: {text}" if n is None else f"{who} line {n}: {text}"
        for n, text in _form(claim) + _codes(claim, icd, procedures, modifiers)
    ]
