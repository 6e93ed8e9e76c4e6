"""A FHIR Claim in: the encounter's ``submitted`` claim, checked as the 837 door's is, and
the billing and exam facts of its supportingInfo.

- ``item``: one submitted line each, in ``sequence`` order: the code of
  productOrService (CPT, or HCPCS for G0130), the codes of ``modifier``, the units of
  ``quantity`` (1 when absent), and ``diagnosisSequence`` as 1-based pointers into the
  diagnoses (as an 837's SV107 is).
- ``diagnosis``: in ``sequence`` order, the ICD-10-CM code of diagnosisCodeableConcept,
  or of the Condition diagnosisReference names.
- ``type``: the claim form (professional, institutional).
- ``supportingInfo`` coded in dexacode's encounter-fact system (``terms.CLAIM_FACTS``):
  the component, who owns the equipment, who interprets, a substitute physician, an ABN,
  the exam's status, a repeat and a peripheral reason, as dexacode writes them. A fact
  given with no value is null.

A Claim that does not carry them (another system's) gives what its modifiers say, as an
837 does (26/TC the component, 52/53 the exam's status, Q5/Q6 a substitute, GA an ABN,
their meanings read from the rule book), and who owns the equipment stays unknown.

A Claim entered in error or cancelled is not a claim to check: it is left out with a note.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dexacode.formats.fhir.terms import (
    CLAIM_FACTS,
    CLAIM_TYPE,
    CPT,
    FACT_SYSTEM,
    HCPCS,
    ICD10CM,
    code_in,
    codings,
)
from dexacode.rulebook import RuleBook, RuleSet

Resolve = Callable[[Any], Mapping[str, Any] | None]
NOT_A_CLAIM = ("entered-in-error", "cancelled")


class ClaimUnreadable(ValueError):
    """The Claim's lines or diagnoses cannot be read as a submitted claim."""


def _sequenced(items: Any) -> list[Mapping[str, Any]]:
    rows = [i for i in items or [] if isinstance(i, Mapping)]
    return sorted(rows, key=lambda i: i["sequence"] if isinstance(i.get("sequence"), int) else 0)


def _procedure_code(concept: Any) -> str | None:
    found = code_in(concept, CPT) + code_in(concept, HCPCS)
    return found[0] if found else None


def _modifier(concept: Any) -> str | None:
    return _procedure_code(concept) or next(
        (str(c["code"]) for c in codings(concept) if c.get("code")), None
    )


def _diagnoses(claim: Mapping[str, Any], resolve: Resolve) -> tuple[list[str], dict[int, int]]:
    """The diagnosis codes in sequence order, and each sequence number's 1-based place."""
    codes: list[str] = []
    place: dict[int, int] = {}
    for n, dx in enumerate(_sequenced(claim.get("diagnosis")), 1):
        found = code_in(dx.get("diagnosisCodeableConcept"), ICD10CM)
        if not found:
            condition = resolve(dx.get("diagnosisReference"))
            found = code_in((condition or {}).get("code"), ICD10CM)
        if not found:
            raise ClaimUnreadable(
                f"the Claim's diagnosis {n} has no ICD-10-CM code (system {ICD10CM}), in "
                "diagnosisCodeableConcept or the Condition it names"
            )
        codes.append(found[0])
        if isinstance(dx.get("sequence"), int):
            place[dx["sequence"]] = n
    return codes, place


def _units(item: Mapping[str, Any], n: int) -> int:
    quantity = item.get("quantity")
    value = quantity.get("value") if isinstance(quantity, Mapping) else None
    if value is None:
        return 1
    if isinstance(value, int | float) and float(value).is_integer() and value >= 1:
        return int(value)
    raise ClaimUnreadable(f"the Claim's item {n}: quantity.value is not a whole number of units")


def _lines(claim: Mapping[str, Any], place: Mapping[int, int]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for n, item in enumerate(_sequenced(claim.get("item")), 1):
        cpt = _procedure_code(item.get("productOrService"))
        if cpt is None:
            raise ClaimUnreadable(
                f"the Claim's item {n} has no CPT or HCPCS code in productOrService "
                f"(system {CPT} or {HCPCS})"
            )
        modifiers = [m for m in (_modifier(c) for c in item.get("modifier") or []) if m]
        line: dict[str, Any] = {"cpt": cpt, "modifiers": modifiers, "units": _units(item, n)}
        sequences = item.get("diagnosisSequence")
        if sequences:
            past = [s for s in sequences if s not in place]
            if past:
                raise ClaimUnreadable(
                    f"the Claim's item {n}: diagnosisSequence {past[0]} names no diagnosis "
                    "of the Claim"
                )
            line["diagnosis_pointers"] = [place[s] for s in sequences]
        lines.append(line)
    return lines


def _info_value(info: Mapping[str, Any]) -> Any:
    if "valueBoolean" in info:
        return info["valueBoolean"]
    if "valueString" in info:
        return info["valueString"]
    quantity = info.get("valueQuantity")
    if isinstance(quantity, Mapping):
        value = quantity.get("value")
        return int(value) if isinstance(value, float) and value.is_integer() else value
    return None


def _facts(claim: Mapping[str, Any], enc: dict[str, Any]) -> set[str]:
    given: set[str] = set()
    for info in claim.get("supportingInfo") or []:
        if not isinstance(info, Mapping):
            continue
        for path in code_in(info.get("code"), FACT_SYSTEM):
            if path in CLAIM_FACTS and path not in given:
                group, name = path.split(".")
                enc.setdefault(group, {})[name] = _info_value(info)
                given.add(path)
    return given


def read_claim(
    claim: Mapping[str, Any], resolve: Resolve, enc: dict[str, Any], notes: list[str]
) -> set[str]:
    """The Claim into ``enc``: the submitted claim, the claim form and the facts of its
    supportingInfo; returns the contract paths of the facts it gave. ClaimUnreadable
    when a line or a diagnosis cannot be read."""
    if claim.get("status") in NOT_A_CLAIM:
        notes.append(f"the Claim has status {claim['status']}; not checked")
        return set()
    forms = [
        c for c in code_in(claim.get("type"), CLAIM_TYPE) if c in ("professional", "institutional")
    ]
    if forms:
        enc.setdefault("billing", {})["claim_form"] = forms[0]
    given = _facts(claim, enc)
    diagnoses, place = _diagnoses(claim, resolve)
    lines = _lines(claim, place)
    if lines:
        enc["submitted"] = {"lines": lines, "diagnoses": diagnoses}
    elif diagnoses:
        notes.append("the Claim has diagnoses but no item (line); not checked")
    return given


@functools.cache
def _book() -> RuleBook:
    from dexacode.coding import configured_payer_dirs
    from dexacode.rulebook import load_rulebook

    return load_rulebook(configured_payer_dirs())


def _rules(enc: Mapping[str, Any]) -> RuleSet | None:
    day, payer = enc.get("date_of_service"), enc.get("payer")
    if not isinstance(day, str) or not isinstance(payer, str):
        return None
    try:
        return _book().in_force(dt.date.fromisoformat(day), payer)
    except ValueError:
        return None  # coding the encounter says what is wrong with the date or payer


def _first_meaning(modifiers: Sequence[str], meanings: Mapping[str, str]) -> str | None:
    by_modifier = {mod: meaning for meaning, mod in meanings.items() if mod}
    return next((by_modifier[m] for m in modifiers if m in by_modifier), None)


def facts_from_modifiers(enc: dict[str, Any], given: set[str]) -> None:
    """The billing and exam facts the Claim did not carry, from its lines' modifiers (as
    the 837 door reads them), so the claim is not judged against defaults it contradicts."""
    submitted = enc.get("submitted")
    rules = _rules(enc) if isinstance(submitted, Mapping) else None
    if rules is None or not isinstance(submitted, Mapping):
        return
    modifiers = [str(m).upper() for line in submitted["lines"] for m in line["modifiers"]]
    billing = enc.setdefault("billing", {})
    if "billing.component" not in given:
        billing["component"] = _first_meaning(modifiers, rules.component_modifier) or "global"
    if "billing.substitute" not in given:
        billing["substitute"] = _first_meaning(modifiers, rules.substitute_modifier)
    if "billing.abn_signed" not in given:
        billing["abn_signed"] = rules.liability_modifier["abn_signed"] in modifiers
    if "exam.status" not in given:
        form = billing.get("claim_form", "professional")
        meanings = rules.status_modifier.get(form) or rules.status_modifier["professional"]
        enc.setdefault("exam", {})["status"] = _first_meaning(modifiers, meanings) or "completed"
