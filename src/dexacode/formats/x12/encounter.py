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
  a substitute from Q5/Q6;
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
from dexacode.formats.x12.model import Claim837
from dexacode.icd10 import Icd10Library, normalize
from dexacode.rulebook import RuleBook, RuleSet

# Facts an 837P cannot carry, as contract paths.
# All of them: an 837 claim carries none of these facts (the contract's vocabulary).
UNKNOWN_FACTS: tuple[str, ...] = get_args(UnknownFact)
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
    modifiers = [m for line in claim.lines for m in line.modifiers]
    diagnoses = [normalize(c) for c in claim.diagnoses]
    # The modifiers' meanings come from the rule book, read backwards.
    component = _first_meaning(modifiers, rules.component_modifier, "global")
    status = _first_meaning(modifiers, rules.status_modifier["professional"], "completed")
    substitute = _first_meaning(modifiers, rules.substitute_modifier, None)
    screening = rules.encounter_codes.screening
    person = claim.subscriber
    encounter: dict[str, Any] = {
        "claim_id": claim.claim_id,
        "date_of_service": served.isoformat(),
        "payer": claim.payer_profile,
        "patient": {
            "id": person.member_id,
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
