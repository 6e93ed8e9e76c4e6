"""What the engine needs to know about the patient, worked out once per encounter."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from dexacode.contract import Encounter
from dexacode.icd10 import normalize
from dexacode.rulebook import RuleSet


def age_on(born: dt.date, day: dt.date) -> int:
    """Whole years of age on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class Facts(NamedTuple):
    # A named tuple, not a frozen dataclass: one is made for every encounter, and a frozen
    # dataclass of eleven fields takes three times as long to build.
    age: int
    sex: str
    menopausal_status: str | None
    reason: str
    risk_factors: frozenset[str]
    current_classes: frozenset[str]  # drug classes of current medications
    completed_classes: frozenset[str]
    current_drugs_by_class: dict[str, list[str]]
    unknown_drugs: tuple[str, ...]
    conditions: tuple[str, ...]  # normalized, dotted
    fragility_fracture: bool

    def has_condition(self, prefixes: tuple[str, ...]) -> bool:
        return _starts_with_any(self.conditions, prefixes)


def gather(enc: Encounter, rules: RuleSet) -> Facts:
    current: set[str] = set()
    completed: set[str] = set()
    by_class: dict[str, list[str]] = {}
    unknown: list[str] = []
    for med in enc.patient.medications:
        drug = rules.drugs.get(med.name.strip().lower())
        if drug is None:
            unknown.append(med.name)
            continue
        if med.status == "current":
            current.add(drug.drug_class)
            by_class.setdefault(drug.drug_class, []).append(drug.name)
        else:
            completed.add(drug.drug_class)
    conditions = tuple(dict.fromkeys(normalize(c) for c in enc.patient.conditions))
    risks = frozenset(enc.patient.risk_factors)
    if conditions:
        # A risk factor's own code in conditions documents it (the rule book maps risk
        # factors to codes and is silent on the way back): E21.0 is primary
        # hyperparathyroidism, for the guideline and for Medicare's categories alike.
        documented = {
            r.name for r in rules.risk_factors.values() if r.code and r.code in conditions
        }
        risks = risks | documented
    healed = rules.encounter_codes.healed_fragility_fracture
    fracture = any(
        rules.risk_factors[r].code == healed for r in risks if r in rules.risk_factors
    ) or _starts_with_any(conditions, rules.fragility_fracture.condition_prefixes)
    return Facts(
        age=age_on(enc.patient.birth_date, enc.date_of_service),
        sex=enc.patient.sex,
        menopausal_status=enc.patient.menopausal_status,
        reason=enc.order.reason,
        risk_factors=risks,
        current_classes=frozenset(current),
        completed_classes=frozenset(completed),
        current_drugs_by_class=by_class,
        unknown_drugs=tuple(unknown),
        conditions=conditions,
        fragility_fracture=fracture,
    )


def _starts_with_any(codes: tuple[str, ...], prefixes: tuple[str, ...]) -> bool:
    """Does any code fall under any prefix (dots ignored: 'M80' covers 'M80.08XA')?"""
    return any(c.replace(".", "").startswith(p.replace(".", "")) for c in codes for p in prefixes)
