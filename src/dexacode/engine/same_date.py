"""Claims of one patient on one date, seen together: the same study billed twice, or a
pair edit split over two claims.

Only a caller that holds the other claims (a batch) can ask: history rows carry no
modifiers, so a 26/TC split cannot be told from a duplicate there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dexacode.contract import Encounter
from dexacode.engine.findings import FindingSink, listing
from dexacode.engine.modifiers import component_for, distinct_pairs
from dexacode.rulebook import RuleSet

__all__ = ["SameDateClaim", "billed_as", "check"]


@dataclass(frozen=True, slots=True)
class SameDateClaim:
    """Another claim of the patient on the encounter's date of service."""

    claim_id: str
    billed: str  # a key of the rule book's [parts_billed]: a component, or institutional
    codes: tuple[str, ...]


def billed_as(enc: Encounter, rules: RuleSet) -> str | None:
    """What a claim of this encounter bills of a study: its component on a professional
    claim (None when it bills nothing), ``institutional`` on a facility's claim."""
    if enc.billing.claim_form == "institutional":
        return "institutional"
    return component_for(enc, rules)


def check(
    codes: Sequence[str],
    billed: str | None,
    others: Sequence[SameDateClaim],
    marked: frozenset[str],
    rules: RuleSet,
    sink: FindingSink,
) -> set[str]:
    """Findings on this claim's ``codes`` against the other claims of its date. A pair
    finding goes on the claim whose line the pair edit denies; a duplicate on both.

    ``marked`` are this claim's codes whose line already carries a distinct-service
    modifier. Returns the codes whose distinct-service modifier another claim of the date
    explains, so the submitted-claim check does not call it one too many."""
    explained: set[str] = set()
    if billed is None or not others:
        return explained
    mine = set(rules.parts_billed[billed])
    for other in others:
        overlap = mine.intersection(rules.parts_billed.get(other.billed, ()))
        if not overlap:  # a split: the reading on one claim, the equipment on the other
            continue
        name = f"claim {other.claim_id}"
        for code in codes:
            if code in other.codes:
                sink.add(
                    "SAME-DATE-DUPLICATE",
                    line=code,
                    cpt=code,
                    other=name,
                    overlap=f"{listing(sorted(overlap))} part{'s' if len(overlap) > 1 else ''}",
                )
            for theirs in other.codes:
                # A code this claim bills too is a duplicate there, not a pair across claims.
                if theirs not in codes and _pair(code, theirs, name, marked, rules, sink):
                    explained.add(code)
    return explained


def _pair(
    code: str, theirs: str, other: str, marked: frozenset[str], rules: RuleSet, sink: FindingSink
) -> bool:
    """The pair finding of ``code`` beside another claim's ``theirs``; True when ``code``
    is the one that takes the distinct-service modifier."""
    pair = rules.ptp.get(frozenset((code, theirs)))
    if pair is None or code == theirs:
        return False
    if pair.modifier_indicator == 0 and pair.column2 == code:
        sink.add(
            "SAME-DATE-PAIR",
            line=code,
            cpt=code,
            other_code=theirs,
            other=other,
            first=pair.column1,
            second=pair.column2,
            replace_with=pair.replace_with or pair.column1,
        )
    elif pair.modifier_indicator == 1 and rules.payer.distinct_modifier:
        # The code that carries the modifier, as on one claim (the payer's placement).
        (_, carrier), *_ = distinct_pairs([code, theirs], rules)
        if carrier != code:
            return False
        if code not in marked:  # a line that carries one already needs no advice
            sink.add(
                "SAME-DATE-DISTINCT",
                line=code,
                cpt=code,
                other_code=theirs,
                other=other,
                modifier=rules.payer.distinct_modifier,
            )
        return True
    return False
