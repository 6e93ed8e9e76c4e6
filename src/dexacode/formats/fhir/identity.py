"""The patient's id from a FHIR Patient: the identifier chosen by type, as
``identity.toml`` orders them (medical record number, member id, subscriber id, any other
identifier), else the resource id. An SSN, driver's licence or passport number is never
used. Identifier values never appear in notes."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class IdentityRules:
    type_system: str
    prefer: tuple[frozenset[str], ...]  # type codes, tier by tier
    never_types: frozenset[str]
    never_systems: frozenset[str]
    never_system_prefixes: tuple[str, ...]
    never_type_text: re.Pattern[str]
    never_value: re.Pattern[str]


@functools.cache
def identity_rules() -> IdentityRules:
    text = (resources.files("dexacode.formats.fhir") / "identity.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(text)
    never = data["never"]
    words = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in never["type_text"])
    return IdentityRules(
        type_system=data["type_system"],
        prefer=tuple(frozenset(tier) for tier in data["prefer"]),
        never_types=frozenset(never["types"]),
        never_systems=frozenset(never["systems"]),
        never_system_prefixes=tuple(never["system_prefixes"]),
        never_type_text=re.compile(rf"\b(?:{words})\b", re.I),
        never_value=re.compile(never["value_pattern"]),
    )


def _type_codes(ident: Mapping[str, Any], system: str | None) -> set[str]:
    """The identifier's type codes: those in ``system`` (or in none), or with ``system``
    None, those of any system."""
    concept = ident.get("type")
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return {
        str(c["code"])
        for c in codings or []
        if isinstance(c, Mapping)
        and c.get("code")
        and (system is None or c.get("system") in (None, system))
    }


def never_used(ident: Mapping[str, Any], rules: IdentityRules) -> bool:
    """An SSN, driver's licence or passport number, by type, system, type text or shape."""
    if _type_codes(ident, None) & rules.never_types:
        return True
    system = ident.get("system")
    if isinstance(system, str) and (
        system in rules.never_systems or system.startswith(rules.never_system_prefixes)
    ):
        return True
    concept = ident.get("type")
    text = concept.get("text") if isinstance(concept, Mapping) else None
    if isinstance(text, str) and rules.never_type_text.search(text):
        return True
    return bool(rules.never_value.match(str(ident.get("value", "")).strip()))


def _rank(ident: Mapping[str, Any], rules: IdentityRules) -> int:
    """The identifier's tier: a preferred type's, else the tier after them."""
    codes = _type_codes(ident, rules.type_system)
    for tier, types in enumerate(rules.prefer):
        if codes & types:
            return tier
    return len(rules.prefer)


def patient_id(patient: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The patient's id and, when no identifier could give it, a note saying so (naming no
    value). Within a tier the first identifier not marked ``use: old`` wins."""
    rules = identity_rules()
    given = [
        i for i in patient.get("identifier") or [] if isinstance(i, Mapping) and i.get("value")
    ]
    usable = [i for i in given if not never_used(i, rules)]
    if usable:
        best = min(usable, key=lambda i: (_rank(i, rules), i.get("use") == "old"))
        return str(best["value"]), None
    own = patient.get("id")
    rid = str(own) if isinstance(own, str) and own else None
    if not given:
        return rid, None
    fallback = "the Patient resource id is used" if rid else "patient.id is left to supply"
    return rid, (
        f"Patient: none of its {len(given)} identifier(s) is used as the patient id "
        f"(an SSN, driver's licence or passport number never is); {fallback}"
    )
