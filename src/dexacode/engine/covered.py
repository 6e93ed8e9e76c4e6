"""The claim's diagnoses against the covered-diagnosis list that applies to its payer.

Pure: the list (a payer profile's starter list or a loaded contractor article) arrives in
the rule set. "No list" and "not on the list" are different answers: the first is an info
finding saying nothing was checked, the second an expected denial.
"""

from __future__ import annotations

from collections.abc import Sequence

from dexacode.engine.findings import FindingSink, listing
from dexacode.rulebook import CoveredDx, RuleSet

# How many of the list's entries a finding quotes as examples of what would do.
_EXAMPLES = 6


def check(codes: Sequence[str], dx_codes: Sequence[str], rules: RuleSet, sink: FindingSink) -> None:
    """COVERED-DX for each governed line whose diagnoses miss the list or a pairing rule;
    COVERED-DX-UNKNOWN when the payer has no list. A claim with no diagnosis at all is
    NO-DIAGNOSIS's business, not this check's."""
    if not codes or not dx_codes:
        return
    covered = rules.covered
    if covered is None:
        sink.add("COVERED-DX-UNKNOWN", payer=rules.payer.name, cpt=listing(list(codes)))
        return
    check_lines([(cpt, dx_codes) for cpt in codes], rules, sink)


def check_lines(
    lines: Sequence[tuple[str, Sequence[str]]], rules: RuleSet, sink: FindingSink
) -> None:
    """COVERED-DX for each governed line, judged by the diagnoses it points to: the coded
    claim's, or a submitted claim's own (a coder's claim is checked against the list, not
    only dexacode's). A line with no diagnosis is left to the pointer and diagnosis checks."""
    covered = rules.covered
    if covered is None:
        return
    for cpt, dx_codes in lines:
        if cpt not in covered.procedures or not dx_codes:
            continue
        for problem, needed in _problems(dx_codes, covered):
            sink.add(
                "COVERED-DX", line=cpt, cpt=cpt, list=covered.label, problem=problem, needed=needed
            )


def _problems(dx_codes: Sequence[str], covered: CoveredDx) -> list[tuple[str, str]]:
    """(what is wrong, what would put it right) for each unmet rule of the list."""
    problems: list[tuple[str, str]] = []
    if not any(covered.covered.matches(code) for code in dx_codes):
        named_off = [code for code in dx_codes if covered.noncovered.matches(code)]
        problem = f"none of the claim's diagnoses ({listing(list(dx_codes))}) is on it"
        if named_off:
            problem += f", and it names {listing(named_off)} as not covered"
        examples = list(covered.examples[:_EXAMPLES])
        more = ", ..." if len(covered.examples) > _EXAMPLES else ""
        problems.append((problem + ".", f"the list includes {', '.join(examples)}{more}"))
    for pairing in covered.pairings:
        present = [code for code in dx_codes if pairing.codes.matches(code)]
        if present and not any(pairing.partners.matches(code) for code in dx_codes):
            where = f" (group {pairing.group})" if pairing.group else ""
            problems.append(
                (
                    f"{listing(present)} must be billed with one of {pairing.partner_text}"
                    f"{where}, and the claim has none.",
                    f"one of {pairing.partner_text} beside {listing(present)}",
                )
            )
    return problems
