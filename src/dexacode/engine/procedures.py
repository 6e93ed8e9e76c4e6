"""Exam -> procedure codes: axial or peripheral, with or without VFA; one unit each."""

from __future__ import annotations

from dexacode.contract import Encounter
from dexacode.rulebook import RuleBookError, RuleSet


def groups_examined(enc: Encounter, rules: RuleSet) -> tuple[bool, bool]:
    """(any axial site, any appendicular site)."""
    groups = {rules.sites[s].group for s in enc.exam.sites if s in rules.sites}
    return "axial" in groups, "appendicular" in groups


def choose_codes(enc: Encounter, rules: RuleSet) -> list[str]:
    axial, peripheral = groups_examined(enc, rules)
    choice = rules.choice
    codes: list[str] = []
    if axial:
        codes.append(choice.axial_with_vfa if enc.exam.vfa else choice.axial)
    if peripheral:
        codes.append(choice.peripheral)
    if enc.exam.vfa and not axial:
        codes.append(choice.vfa_alone)
    for code in codes:
        if code not in rules.procedures:
            raise RuleBookError(
                f"procedures.toml: {code} is chosen but not in force on {rules.day}"
            )
    return codes
