"""An 837P claim as an encounter with a ``submitted`` claim, for the scrubber.

An 837 carries the codes, not the facts behind them: no measured sites, no results, no
risk factors, medications or menopausal status. The encounter gets the least that lets
the rules run and says which facts stand in:

- ``exam.sites``: one placeholder site per procedure group the submitted codes bill
  (the rule book's first axial or appendicular site), so the derived lines are the
  submitted ones and only pairs, units, modifiers and diagnoses are judged;
- ``exam.vfa``: true when a submitted code includes VFA;
- ``order.reason``: screening when Z13.820 is among the diagnoses, else diagnostic;
- ``billing``: the component from 26/TC, the exam status from 52/53, an ABN from GA,
  a substitute from Q5/Q6, read from the DXA lines only (a 26 on another code says
  nothing about the study); a line with both 26 and TC, or DXA lines billing different
  components, is not coded (ClaimNotCodable): no arrangement gives either, and the
  engine's COMPONENT-MISMATCH needs the arrangement, which an 837 does not carry;
- ``patient``: the subscriber (loop 2010BA), or the dependent patient of loop 2010CA
  with their own sex and birth date and the id ``Claim837.patient_id`` gives (the
  subscriber's member id, ``-DEP-`` and a digest of the dependent's first name and birth
  date);
- ``patient.conditions``: the claim's diagnoses other than the screening code, as the
  only record there is, so the corrected claim keeps the submitted codes (DIAGNOSIS-EXTRA
  cannot fire; order, Excludes1 and the screening-code-alone checks still do). Only the
  codes the corrected claim could carry: a code not in the release, a header, or M85.80
  is left out, because the engine judges the submitted list and the documented
  conditions alike, and would otherwise report the one code twice ("(conditions)" and
  "(submitted)"); the submitted claim still carries it, so it is reported once.
  ``menopausal_status`` postmenopausal when Z78.0 is among them, else unknown;
- ``results``, risk factors, medications: empty (unknown).

``UNKNOWN_FACTS`` names them in ``Encounter.unknown``, so the engine reports the rules
that need them as not judged (NOT-JUDGED) instead of firing on the placeholders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, get_args

from dexacode.contract import UnknownFact
from dexacode.engine.diagnoses import IcdRelease
from dexacode.formats.x12.model import Claim837, ServiceLine
from dexacode.icd10 import Icd10Library, normalize
from dexacode.rulebook import RuleBook, RuleSet

# Facts an 837P cannot carry, as contract paths: all of the contract's vocabulary but the
# submitted claim, which is what an 837 is.
UNKNOWN_FACTS: tuple[str, ...] = tuple(f for f in get_args(UnknownFact) if f != "submitted")
_GROUP_OF_SITE = {"axial": "axial", "peripheral": "appendicular"}


class ClaimNotCodable(ValueError):
    """The claim cannot become an encounter (no DXA code, different dates...)."""


def _placeholder_sites(codes: list[str], rules: RuleSet) -> tuple[list[str], bool]:
    sites: list[str] = []
    vfa = False
    for cpt in codes:
        proc = rules.procedures.get(cpt)
        if proc is None:
            continue
        vfa = vfa or proc.includes_vfa
        wanted = _GROUP_OF_SITE.get(proc.group)
        if wanted is None:
            continue
        site = next((s.name for s in rules.sites.values() if s.group == wanted), None)
        if site is not None and site not in sites:
            sites.append(site)
    return sites, vfa


def _first_meaning(
    modifiers: list[str], meanings: Mapping[str, str], default: str | None
) -> str | None:
    by_modifier = {mod: meaning for meaning, mod in meanings.items() if mod}
    return next((by_modifier[m] for m in modifiers if m in by_modifier), default)


def _component(lines: list[ServiceLine], rules: RuleSet) -> str:
    """The component the DXA lines bill (global, professional, technical), read from their
    26/TC. The engine judges 26/TC against the arrangement (COMPONENT-MISMATCH), which an
    837 does not carry; lines that name two components contradict themselves whatever the
    arrangement, so they are not read as either."""
    meaning_of = {mod: meaning for meaning, mod in rules.component_modifier.items() if mod}
    billed: list[str] = []
    for line in lines:
        named = [m for m in line.modifiers if m in meaning_of]
        if len(set(named)) > 1:
            raise ClaimNotCodable(
                f"the {line.cpt} line carries both {' and '.join(dict.fromkeys(named))}: a line "
                "bills the reading (26), the equipment's part (TC) or the whole study (neither), "
                "never two; correct the line and scrub it again"
            )
        billed.append(meaning_of[named[0]] if named else "global")
    if len(set(billed)) > 1:
        shown = ", ".join(
            f"{line.cpt}{''.join('-' + m for m in line.modifiers if m in meaning_of)}"
            for line in lines
        )
        raise ClaimNotCodable(
            f"the claim's DXA lines bill different components ({shown}); dexacode checks one "
            "billing arrangement per encounter: split the claim by component"
        )
    return billed[0] if billed else "global"


def _conditions(diagnoses: list[str], rules: RuleSet, icd: IcdRelease) -> list[str]:
    """The submitted codes that stand in for the record (see the module's docstring)."""
    kept: list[str] = []
    for code in diagnoses:
        if code in (rules.encounter_codes.screening, rules.reading.unspecified):
            continue
        info = icd.lookup(code)
        if info is not None and info.billable:
            kept.append(code)
    return kept


def claim_to_encounter(claim: Claim837, book: RuleBook, library: Icd10Library) -> dict[str, Any]:
    """The encounter dict (contract shape) of one read claim; ClaimNotCodable when it
    cannot be one. ``library`` gives the ICD-10-CM release of the date of service, as it
    does to the scrubber."""
    dates = {line.date_of_service for line in claim.lines}
    if len(dates) > 1:
        raise ClaimNotCodable(
            "the claim's lines have different dates of service; dexacode checks one date "
            "of service per encounter"
        )
    served: dt.date = dates.pop()
    try:
        rules = book.in_force(served, claim.payer_profile)
    except ValueError as exc:
        raise ClaimNotCodable(str(exc)) from None
    try:
        icd, _ = library.for_date(served)
    except LookupError as exc:
        raise ClaimNotCodable(str(exc)) from None
    codes = [line.cpt for line in claim.lines]
    sites, vfa = _placeholder_sites(codes, rules)
    if not sites and not vfa:
        raise ClaimNotCodable(
            f"no DXA procedure code on the claim ({', '.join(codes)}); nothing for dexacode "
            "to check"
        )
    # The billing facts come from the DXA lines' modifiers: another code's (a 26 on an
    # ECG, a 25 on a visit) says nothing about the study.
    dxa_lines = [line for line in claim.lines if line.cpt in rules.procedures]
    component = _component(dxa_lines, rules)
    modifiers = [m for line in dxa_lines for m in line.modifiers]
    diagnoses = [normalize(c) for c in claim.diagnoses]
    # The modifiers' meanings come from the rule book, read backwards.
    status = _first_meaning(modifiers, rules.status_modifier["professional"], "completed")
    substitute = _first_meaning(modifiers, rules.substitute_modifier, None)
    screening = rules.encounter_codes.screening
    person = claim.patient or claim.subscriber
    encounter: dict[str, Any] = {
        "claim_id": claim.claim_id,
        "date_of_service": served.isoformat(),
        "payer": claim.payer_profile,
        "patient": {
            "id": claim.patient_id,
            "sex": person.sex,
            "birth_date": person.birth_date.isoformat() if person.birth_date else None,
            "menopausal_status": "postmenopausal"
            if person.sex == "F" and rules.encounter_codes.postmenopausal in diagnoses
            else None,
            "conditions": _conditions(diagnoses, rules, icd),
        },
        "order": {"reason": "screening" if screening in diagnoses else "diagnostic"},
        "exam": {"sites": sites, "vfa": vfa, "status": status},
        "billing": {
            "claim_form": "professional",
            "component": component,
            "substitute": substitute,
            "abn_signed": rules.liability_modifier["abn_signed"] in modifiers,
        },
        "submitted": {
            "lines": [
                {
                    "cpt": line.cpt,
                    "modifiers": list(line.modifiers),
                    "units": line.units,
                    "diagnosis_pointers": list(line.pointers) or None,
                }
                for line in claim.lines
            ],
            "diagnoses": diagnoses,
        },
    }
    encounter["unknown"] = list(UNKNOWN_FACTS)
    return encounter
