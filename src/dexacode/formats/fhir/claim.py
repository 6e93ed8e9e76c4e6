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

A Claim that does not carry them (another system's) gives what the modifiers of its
bone density lines say, as an 837 does (26/TC the component, 52/53 the exam's status,
Q5/Q6 a substitute, GA an ABN, their meanings read from the rule book; a modifier on
another code says nothing about the study), and who owns the equipment stays unknown.
Those facts need the payer's rule book: when the payer comes from an overlay or an
option, ``read.supply`` derives them once it is given.

Another system's Claim is read as far as it can be, never refused:

- a code is read as CPT in ``terms.CPT_SYSTEMS`` (its URL or OID) and as HCPCS in
  ``terms.HCPCS_SYSTEMS`` (HL7's http canonical URL, or https); a line coded in another
  system (a chargemaster) keeps its code when it has a line code's shape (5 letters or
  digits: the engine reports a code it does not check as CPT-UNKNOWN), else it is left
  out with a note, as is a modifier that is not 2 letters or digits;
- a diagnosis with no ICD-10-CM code (SNOMED CT, a local code) is left out with a note;
  the lines' pointers to it go with it (a line pointing only to such diagnoses points to
  none);
- a Claim that cannot be read faithfully (a line's units not a whole number from 1 to 99,
  a pointer naming no diagnosis of the Claim, no line with a code) is not checked: it
  gives no ``submitted`` claim, with a note saying why, and the encounter is coded as
  one without a Claim is.

A Claim entered in error or cancelled is not a claim to check: it is left out with a
note, before the Claims of an import are counted (``read.to_encounter``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from dexacode.contract import SubmittedLine
from dexacode.formats.fhir.terms import (
    CLAIM_FACTS,
    CLAIM_TYPE,
    FACT_SYSTEM,
    ICD10CM,
    code_in,
    codings,
    procedure_codes,
)
from dexacode.rulebook import RuleBook, RuleSet

Resolve = Callable[[Any], Mapping[str, Any] | None]
NOT_A_CLAIM = ("entered-in-error", "cancelled")


# The shape of a code a submitted line can carry (CPT, CPT category II/III, HCPCS Level
# II: five letters or digits) and of a modifier (two), whatever system gives it.
_LINE_CODE = re.compile(r"[0-9A-Za-z]{5}")
_MODIFIER = re.compile(r"[0-9A-Za-z]{2}")


class ClaimUnreadable(ValueError):
    """The Claim cannot be read faithfully as a submitted claim: it is not checked."""


# Claim.use values that are not a claim sent for payment: an estimate asked in advance.
NOT_SENT_USES = ("predetermination", "preauthorization")


def not_a_claim(claim: Mapping[str, Any]) -> str | None:
    """Why a Claim is no claim to check (entered in error, cancelled, or a predetermination
    or preauthorization, never sent for payment), or None when it is one."""
    if claim.get("status") in NOT_A_CLAIM:
        return f"status {claim['status']}"
    if claim.get("use") in NOT_SENT_USES:
        return f"use {claim['use']} (asked in advance, not sent for payment)"
    return None


def _sequenced(items: Any) -> list[Mapping[str, Any]]:
    rows = [i for i in items or [] if isinstance(i, Mapping)]
    return sorted(rows, key=lambda i: i["sequence"] if isinstance(i.get("sequence"), int) else 0)


def _first_shaped(concept: Any, shape: re.Pattern[str]) -> str | None:
    """The first code of the concept with the shape, CPT and HCPCS before any other."""
    others = [str(c["code"]) for c in codings(concept) if c.get("code")]
    return next(
        (c.strip() for c in procedure_codes(concept) + others if shape.fullmatch(c.strip())), None
    )


def _diagnoses(
    claim: Mapping[str, Any], resolve: Resolve, notes: list[str]
) -> tuple[list[str], dict[int, int], set[int]]:
    """The ICD-10-CM diagnosis codes in sequence order, each read one's sequence number
    with its 1-based place, and the sequence numbers of the diagnoses left out (no
    ICD-10-CM code)."""
    codes: list[str] = []
    place: dict[int, int] = {}
    dropped: set[int] = set()
    for n, dx in enumerate(_sequenced(claim.get("diagnosis")), 1):
        found = code_in(dx.get("diagnosisCodeableConcept"), ICD10CM)
        if not found:
            condition = resolve(dx.get("diagnosisReference"))
            found = code_in((condition or {}).get("code"), ICD10CM)
        sequence = dx.get("sequence")
        if not found:
            notes.append(
                f"the Claim's diagnosis {n} has no ICD-10-CM code (system {ICD10CM}) in "
                "diagnosisCodeableConcept or the Condition it names; left out of the "
                "submitted claim, and the lines' pointers to it with it"
            )
            if isinstance(sequence, int):
                dropped.add(sequence)
            continue
        codes.append(found[0])
        if isinstance(sequence, int):
            place[sequence] = len(codes)
    return codes, place, dropped


def _units(item: Mapping[str, Any], n: int) -> int:
    quantity = item.get("quantity")
    value = quantity.get("value") if isinstance(quantity, Mapping) else None
    if value is None:
        return 1
    if isinstance(value, int | float) and float(value).is_integer() and value >= 1:
        return int(value)
    raise ClaimUnreadable(f"the Claim's item {n}: quantity.value is not a whole number of units")


def _pointers(
    sequences: Sequence[Any], place: Mapping[int, int], dropped: set[int], n: int
) -> list[int]:
    """A line's diagnosisSequence as 1-based places in the diagnoses read; a pointer to a
    diagnosis left out goes with it."""
    past = [s for s in sequences if s not in place and s not in dropped]
    if past:
        raise ClaimUnreadable(
            f"the Claim's item {n}: diagnosisSequence {past[0]} names no diagnosis of the Claim"
        )
    return [place[s] for s in sequences if s in place]


def _lines(
    claim: Mapping[str, Any], place: Mapping[int, int], dropped: set[int], notes: list[str]
) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for n, item in enumerate(_sequenced(claim.get("item")), 1):
        cpt = _first_shaped(item.get("productOrService"), _LINE_CODE)
        if cpt is None:
            notes.append(
                f"the Claim's item {n} has no procedure code dexacode can read in "
                "productOrService (CPT or HCPCS, or five letters or digits in another "
                "system); left out of the submitted claim"
            )
            continue
        modifiers: list[str] = []
        for concept in item.get("modifier") or []:
            modifier = _first_shaped(concept, _MODIFIER)
            if modifier is None:
                notes.append(
                    f"the Claim's item {n} has a modifier that is not two letters or digits; "
                    "left out of the submitted claim"
                )
            else:
                modifiers.append(modifier)
        line: dict[str, Any] = {"cpt": cpt, "modifiers": modifiers, "units": _units(item, n)}
        try:
            SubmittedLine.model_validate(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ClaimUnreadable(f"the Claim's item {n}: {where} {first['msg']}") from None
        sequences = item.get("diagnosisSequence")
        if sequences:
            line["diagnosis_pointers"] = _pointers(sequences, place, dropped, n)
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
    supportingInfo; returns the contract paths of the facts it gave, ``submitted``
    among them when its lines were read. What cannot be read is left out, or the Claim not
    checked, with a note; the Claim is never refused."""
    why = not_a_claim(claim)
    if why is not None:
        notes.append(f"the Claim has {why}; not checked")
        return {"submitted"}  # no claim was sent: nothing is unknown
    forms = [
        c for c in code_in(claim.get("type"), CLAIM_TYPE) if c in ("professional", "institutional")
    ]
    if forms:
        enc.setdefault("billing", {})["claim_form"] = forms[0]
    given = _facts(claim, enc)
    read_notes: list[str] = []
    diagnoses, place, dropped = _diagnoses(claim, resolve, read_notes)
    try:
        lines = _lines(claim, place, dropped, read_notes)
    except ClaimUnreadable as exc:
        notes.append(f"{exc}; the Claim is not checked (no submitted claim)")
        return given
    notes += read_notes
    if lines:
        enc["submitted"] = {"lines": lines, "diagnoses": diagnoses}
        given.add("submitted")
    elif claim.get("item"):
        notes.append(
            "none of the Claim's items has a procedure code dexacode can read; the Claim is "
            "not checked (no submitted claim)"
        )
    elif diagnoses:
        notes.append("the Claim has diagnoses but no item (line); not checked")
    else:
        given.add("submitted")  # a Claim billing nothing (dexacode's own, for one)
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
    """The billing and exam facts neither the Claim nor ``given`` carry, from the
    modifiers of its bone density lines (as the 837 door reads them), so the claim is not
    judged against defaults it contradicts. Needs the date of service and the payer (the
    modifiers' meanings are the payer's rule book's): run again once they are given."""
    submitted = enc.get("submitted")
    rules = _rules(enc) if isinstance(submitted, Mapping) else None
    if rules is None or not isinstance(submitted, Mapping):
        return
    # The bone density lines' modifiers only: a 26 on another code says nothing about the study.
    modifiers = [
        str(m).upper()
        for line in submitted["lines"]
        if str(line["cpt"]).upper() in rules.procedures
        for m in line["modifiers"]
    ]
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
