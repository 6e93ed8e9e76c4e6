"""Billing arrangement, exam status, payer and expected denials -> each line's modifiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dexacode.contract import Encounter
from dexacode.engine.findings import FindingSink, listing
from dexacode.rulebook import RuleSet


@dataclass
class DraftLine:
    cpt: str
    modifiers: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)

    def put(self, modifier: str, reason: str) -> None:
        if modifier and modifier not in self.modifiers:
            self.modifiers.append(modifier)
            self.reasons[modifier] = reason


def component_for(enc: Encounter, rules: RuleSet) -> str | None:
    """global / professional / technical, or None when the provider has nothing to bill."""
    if enc.billing.component is not None:
        return enc.billing.component
    return rules.arrangements.get((enc.billing.equipment_owner, enc.billing.interprets))


def distinct_modifiers(rules: RuleSet) -> set[str]:
    """The distinct-service modifiers (59, XU, ...) of the rule book."""
    return {m for m, mod in rules.modifiers.items() if mod.kind == "distinct"}


def distinct_pairs(codes: Sequence[str], rules: RuleSet) -> list[tuple[str, str]]:
    """(the other code, the code that takes the modifier) of every pair on the claim that a
    distinct modifier lets through: column 2 of the pair, unless the payer's profile puts it
    on the code of one group (``distinct_placement``)."""
    placement = rules.payer.distinct_placement
    pairs = []
    for i, first in enumerate(codes):
        for second in codes[i + 1 :]:
            pair = rules.ptp.get(frozenset((first, second)))
            if pair is None or pair.modifier_indicator != 1:
                continue
            other, carrier = pair.column1, pair.column2
            if placement != "pair" and rules.procedure_group(other) == placement:
                other, carrier = carrier, other
            pairs.append((other, carrier))
    return pairs


def place(
    enc: Encounter,
    codes: Sequence[str],
    component: str | None,
    denials: Mapping[str, list[str]],
    rules: RuleSet,
    sink: FindingSink,
) -> list[DraftLine]:
    billing = enc.billing
    form = billing.claim_form
    professional = form == "professional"
    payer = rules.payer
    lines = [DraftLine(c) for c in codes]

    # 1. Pricing: 26 / TC (professional claims only).
    if professional and component is not None:
        mod = rules.component_modifier.get(component, "")
        who = {
            "professional": "the billing provider reads the study on equipment it does not own",
            "technical": "the billing provider owns the equipment; someone else reads the study",
        }.get(component, "")
        for line in lines:
            line.put(mod, who or rules.modifiers[mod].meaning if mod else "")
    elif not professional and billing.component is not None:
        sink.add("INSTITUTIONAL-COMPONENT", component=billing.component)

    # 2. Status: 52 / 53.
    status = enc.exam.status
    if status != "completed":
        mod = rules.status_modifier[form][status]
        for line in lines:
            line.put(mod, f"the study was {status}: {rules.modifiers[mod].meaning}")
        on_professional = rules.status_modifier["professional"][status]
        if professional or mod == on_professional:
            sink.add("STATUS-MODIFIER", status=status, modifier=mod)
        else:  # the facility's modifier differs from the physician's: say why
            sink.add("FACILITY-52", status=status, professional_modifier=on_professional)
        if enc.exam.will_repeat and payer.medicare_family:
            sink.add("REPEAT-FREQUENCY", status=status, modifier=mod)

    # 3. Distinct service: 59 / XU on one code of a pair with modifier indicator 1
    # (a payer whose profile names no distinct modifier takes none).
    for other, carrier in distinct_pairs(codes, rules) if payer.distinct_modifier else []:
        for line in lines:
            if line.cpt == carrier:
                line.put(
                    payer.distinct_modifier,
                    f"{carrier} is a separate study from {other} on the same date; "
                    f"{payer.label} expects {payer.distinct_modifier} on {carrier}",
                )

    # 4. Substitute physician: Q5 / Q6 on professional and global lines.
    if billing.substitute is not None and professional:
        mod = rules.substitute_modifier[billing.substitute]
        if component in rules.substitute_components:
            for line in lines:
                line.put(mod, rules.modifiers[mod].meaning)
    too_long = (billing.substitute_days or 0) > rules.substitute_max_days
    if billing.substitute is not None and professional and too_long:
        sink.add(
            "SUBSTITUTE-60-DAYS", days=billing.substitute_days, limit=rules.substitute_max_days
        )

    # 5. Liability: GA / GZ on lines the payer is expected to deny.
    if payer.abn_modifiers:
        for line in lines:
            reasons = denials.get(line.cpt)
            if not reasons:
                continue
            said = listing(reasons)
            if billing.abn_signed:
                mod = rules.liability_modifier["abn_signed"]
                sink.add("ABN-ON-FILE", line=line.cpt, cpt=line.cpt, reasons=said)
            else:
                mod = rules.liability_modifier["no_abn"]
                sink.add("ABN-MISSING", line=line.cpt, cpt=line.cpt, reasons=said)
            line.put(mod, f"expected denial ({said}): {rules.modifiers[mod].meaning}")
        if enc.submitted is not None and sink.denials_unjudged():
            _keep_submitted_liability(enc, lines, rules)

    for line in lines:
        _order_and_fit(line, rules, sink)
    return lines


def _keep_submitted_liability(enc: Encounter, lines: list[DraftLine], rules: RuleSet) -> None:
    """When the input lacks a fact an expected denial turns on (an 837 carries no risk
    factors), the claim's own GA or GZ stands: dropping it would lose the provider's right
    to bill the patient, and domain-rules §2 never drops them."""
    assert enc.submitted is not None
    liability = set(rules.liability_modifier.values())
    for line in lines:
        if liability.intersection(line.modifiers):
            continue
        for sub in enc.submitted.lines:
            if sub.cpt.upper() != line.cpt:
                continue
            for mod in (m.upper() for m in sub.modifiers):
                if mod in liability:
                    line.put(
                        mod,
                        "kept from the submitted claim: the facts that decide an expected "
                        f"denial are not in the input ({rules.modifiers[mod].meaning})",
                    )


def _order_and_fit(line: DraftLine, rules: RuleSet, sink: FindingSink) -> None:
    def rank(mod: str) -> int:
        return rules.modifier_kinds[rules.modifiers[mod].kind].rank

    line.modifiers.sort(key=rank)
    if len(line.modifiers) <= rules.max_modifiers_per_line:
        return
    keep = [
        m for m in line.modifiers if rules.modifier_kinds[rules.modifiers[m].kind].keep_on_overflow
    ]
    dropped = [m for m in line.modifiers if m not in keep]
    sink.add(
        "MODIFIER-OVERFLOW",
        line=line.cpt,
        cpt=line.cpt,
        count=len(line.modifiers),
        dropped=listing(dropped),
    )
    line.modifiers = keep
    line.unplaced = dropped
    line.reasons = {m: r for m, r in line.reasons.items() if m in keep}
