"""A coded encounter to an 837P claim, or the reasons it is held back.

The claim is the result's (corrected) claim: its lines, modifiers, units, pointers and
diagnoses, priced from the fee file. Encounters with an error-level finding are held back
unless the caller includes them; institutional claims never go into an 837P.
"""

from __future__ import annotations

import dataclasses

from dexacode.contract import CodingResult, Encounter
from dexacode.formats.x12.checks import form_limits
from dexacode.formats.x12.fees import FeeSchedule
from dexacode.formats.x12.model import Claim837, Person, ServiceLine
from dexacode.formats.x12.provider import ProviderFile
from dexacode.formats.x12.segments import MEMBER_ID_RULE, clean, member_id_ok


def undotted(code: str) -> str:
    return code.replace(".", "").strip().upper()


def claim_for(
    enc: Encounter,
    result: CodingResult,
    *,
    provider: ProviderFile,
    fees: FeeSchedule,
    family: str,
    patients: dict[str, Person] | None = None,
    include_errors: bool = False,
) -> Claim837 | list[str]:
    """The 837P claim of one coded encounter, or why it cannot go out."""
    reasons: list[str] = []
    if len(enc.claim_id) > 20 or clean(enc.claim_id) != enc.claim_id.upper():
        reasons.append(
            "the claim id must be at most 20 letters, digits or dashes to be an 837 patient "
            "control number (CLM01)"
        )
    if enc.billing.claim_form != "professional":
        reasons.append("an institutional claim belongs in an 837I, not an 837P")
    errors = [f for f in result.findings if f.severity == "error"]
    if errors and not include_errors:
        reasons += [f"{f.id}: {f.message}" for f in errors]
    if not result.lines:
        reasons.append("the result has no line to bill")
    if not result.diagnoses:
        reasons.append("the result has no diagnosis")
    payer = provider.payer(enc.payer) or provider.payer(family)
    if payer is None:
        reasons.append(
            f"payer {enc.payer!r} has no entry under [payers] in the provider file "
            "(name and payer id)"
        )
    lines: list[ServiceLine] = []
    for line in result.lines:
        charge = fees.charge(line.cpt, line.modifiers)
        if charge is None:
            shown = "-".join([line.cpt, *line.modifiers])
            reasons.append(f"the fee file has no charge for {shown}")
            continue
        lines.append(
            ServiceLine(
                cpt=line.cpt,
                modifiers=tuple(line.modifiers),
                units=line.units,
                charge=charge * line.units,
                pointers=tuple(line.diagnosis_pointers),
                date_of_service=enc.date_of_service,
            )
        )
    known = (patients or {}).get(enc.patient.id)
    # The member id goes out exactly as given, or not at all: a cleaned one (upper-cased,
    # letters dropped) would be another member's, or nobody's.
    member = known.member_id if known else enc.patient.id
    if not member_id_ok(member):
        reasons.append(
            f"the member id the patients file gives for this patient {MEMBER_ID_RULE} (NM109)"
            if known
            else f"the patient id, which is the member id without a --patients file, "
            f"{MEMBER_ID_RULE} (NM109); give the member id in a --patients file"
        )
    if reasons or payer is None:
        return reasons
    person = known or Person(member_id=member, last_name=clean(member) or "UNKNOWN")
    person = dataclasses.replace(person, sex=enc.patient.sex, birth_date=enc.patient.birth_date)
    referring = provider.referring
    return Claim837(
        claim_id=enc.claim_id,
        payer_profile=enc.payer,
        payer_name=payer.name,
        payer_id=payer.id,
        filing_code=provider.filing_code(enc.payer, family),
        relationship="18",
        subscriber=person,
        place_of_service=provider.billing.place_of_service,
        diagnoses=tuple(undotted(c) for c in result.diagnoses[: form_limits().diagnoses]),
        lines=tuple(lines),
        referring_npi=referring.npi if referring else "",
        referring_last=referring.last_name if referring else "",
        referring_first=referring.first_name if referring else "",
    )
