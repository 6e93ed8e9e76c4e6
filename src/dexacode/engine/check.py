"""A submitted claim against the derived one: every difference becomes a finding."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from dexacode.contract import Line, SubmittedClaim, SubmittedLine
from dexacode.engine import covered
from dexacode.engine.diagnoses import IcdRelease, check_list, site_code_hint
from dexacode.engine.findings import FindingSink, listing
from dexacode.engine.modifiers import distinct_modifiers, distinct_pairs
from dexacode.icd10 import normalize
from dexacode.rulebook import RuleSet


def check_submitted(
    submitted: SubmittedClaim,
    derived_lines: Sequence[Line],
    derived_dx: Sequence[str],
    screening: bool,
    rules: RuleSet,
    icd: IcdRelease,
    sink: FindingSink,
    distinct_elsewhere: set[str] | frozenset[str] = frozenset(),
) -> None:
    """``distinct_elsewhere``: codes whose distinct-service modifier a pair with another
    claim of the date explains (``same_date``)."""
    codes = [line.cpt.upper() for line in submitted.lines]
    carried = {line.cpt for line in derived_lines}
    explained = _pairs_and_units(submitted, codes, carried, rules, sink)
    _distinct_modifiers(submitted, derived_lines, rules, sink, distinct_elsewhere)
    _lines_against_derived(submitted, derived_lines, explained, rules, sink)
    _diagnoses(submitted.diagnoses, derived_dx, screening, rules, icd, sink)
    # The same list and the same words as the coded claim's check: a submitted line that
    # points to the codes dexacode chose gives the same finding, raised once.
    covered.check_lines(
        [(line.cpt.upper(), _pointed(submitted, line, rules)) for line in submitted.lines],
        rules,
        sink,
    )
    if any(line.diagnosis_pointers for line in derived_lines):  # lines that take pointers
        _pointers(submitted, rules, sink)
    _vfa_screening(submitted, rules, sink)


def _pointed(submitted: SubmittedClaim, line: SubmittedLine, rules: RuleSet) -> list[str]:
    """The diagnoses a submitted line points to: its own pointers when given, else the
    claim's first ones (as a line points when nothing says otherwise)."""
    codes = [normalize(c) for c in submitted.diagnoses]
    if line.diagnosis_pointers is None:
        return codes[: rules.diagnosis_limits.pointers_per_line]
    return [codes[p - 1] for p in line.diagnosis_pointers]


def _pointers(submitted: SubmittedClaim, rules: RuleSet, sink: FindingSink) -> None:
    """Each line points to the claim's first diagnoses, in list order (domain-rules §4);
    a line that points elsewhere can be denied for the code it leaves out."""
    first = list(
        range(1, min(len(submitted.diagnoses), rules.diagnosis_limits.pointers_per_line) + 1)
    )
    for line in submitted.lines:
        if line.diagnosis_pointers is None or line.diagnosis_pointers == first:
            continue
        cpt = line.cpt.upper()
        if cpt not in rules.procedures:
            continue  # not a code dexacode checks (CPT-UNKNOWN): its pointers are its own
        sink.add(
            "DIAGNOSIS-POINTER",
            line=cpt,
            cpt=cpt,
            found=", ".join(map(str, line.diagnosis_pointers)) or "no diagnosis",
            codes=listing(_pointed(submitted, line, rules)) or "none",
            expected=", ".join(map(str, first)),
            first=listing([normalize(c) for c in submitted.diagnoses[: len(first)]]),
        )


def _vfa_screening(submitted: SubmittedClaim, rules: RuleSet, sink: FindingSink) -> None:
    """A submitted VFA line whose diagnoses are only screening or menopause codes."""
    for line in submitted.lines:
        cpt = line.cpt.upper()
        pointed = _pointed(submitted, line, rules)
        if rules.procedure_group(cpt) != "vfa" or not pointed:
            continue
        if set(pointed) <= set(rules.vfa_screening.codes):
            sink.add("VFA-SCREENING", line=cpt, cpt=cpt, codes=", ".join(pointed))


def _pairs_and_units(
    submitted: SubmittedClaim,
    codes: list[str],
    carried: set[str],
    rules: RuleSet,
    sink: FindingSink,
) -> set[str]:
    """MUE and pair edits; returns the codes a pair finding already explains.

    A pair finding tells the coder what to bill instead, so it is raised only when the
    corrected claim (``carried``) bills just that: the exam decides the code, not the
    pair. Otherwise LINE-EXTRA and LINE-MISSING say what to remove and what to add."""
    units: dict[str, list[int]] = defaultdict(list)
    for line in submitted.lines:
        units[line.cpt.upper()].append(line.units)
    for cpt, counts in units.items():
        proc = rules.procedures.get(cpt)
        if proc is None:
            sink.add("CPT-UNKNOWN", line=cpt, cpt=cpt)
            continue
        meaning = rules.mue_adjudication[proc.mue_indicator]
        # A date-of-service edit (and the shipped values) counts every line of the code.
        for count in counts if meaning.per == "line" else [sum(counts)]:
            if count > proc.mue:
                sink.add(
                    "MUE-EXCEEDED",
                    line=cpt,
                    cpt=cpt,
                    units=count,
                    mue=proc.mue,
                    where=meaning.where,
                    edit=f" ({meaning.past_the_limit})" if meaning.past_the_limit else "",
                )
                break

    explained: set[str] = set()
    distinct = list(dict.fromkeys(codes))
    for i, first in enumerate(distinct):
        for second in distinct[i + 1 :]:
            pair = rules.ptp.get(frozenset((first, second)))
            if pair is not None and pair.finding is not None:
                keep = pair.replace_with or pair.column1
                # E.g. the code with VFA when no VFA was done: "keep it" would contradict
                # the corrected claim, which bills the code without VFA.
                if keep not in carried or carried & ({first, second} - {keep}):
                    continue
                sink.add(
                    pair.finding,
                    line=pair.column2,
                    first=pair.column1,
                    second=pair.column2,
                    replace_with=keep,
                )
                explained.update((first, second, keep))
            elif pair is None:
                group = rules.procedure_group(first)
                same = group in ("axial", "peripheral") and group == rules.procedure_group(second)
                # "Keep the one that describes the study" needs one of them to be it.
                if same and carried & {first, second}:
                    sink.add("PTP-SAME-GROUP", line=second, first=first, second=second, group=group)
                    explained.update((first, second))
    return explained


def _distinct_modifiers(
    submitted: SubmittedClaim,
    derived: Sequence[Line],
    rules: RuleSet,
    sink: FindingSink,
    elsewhere: set[str] | frozenset[str],
) -> None:
    """Distinct-service modifiers against the corrected claim: the right one on the right
    line. Lines the corrected claim does not have are LINE-EXTRA's business."""
    payer = rules.payer
    distinct_mods = distinct_modifiers(rules)
    derived_by_code = {line.cpt: line for line in derived}
    # The code of each pair that carries the modifier, as the engine placed it (the
    # payer's placement applied).
    pair_of = {
        carrier: (other, carrier)
        for other, carrier in distinct_pairs([line.cpt for line in derived], rules)
    }
    expected_on = (
        listing(sorted({*pair_of, *elsewhere})) or "no line (no pair on this claim needs one)"
    )
    for line in submitted.lines:
        cpt = line.cpt.upper()
        want_line = derived_by_code.get(cpt)
        if want_line is None:
            continue
        placed = [m for m in want_line.modifiers if m in distinct_mods]
        # One the line needs but could not carry (MODIFIER-OVERFLOW) is needed all the same.
        want = placed or [m for m in want_line.unplaced_modifiers if m in distinct_mods]
        found = [m.upper() for m in line.modifiers if m.upper() in distinct_mods]
        # An X modifier beside the 59 it is a subset of: never both on one line.
        both = any(rules.modifiers[m].subset_of in found for m in found)
        if placed and not found:
            column1, column2 = pair_of.get(cpt, ("", cpt))
            sink.add(
                "DISTINCT-MODIFIER-MISSING",
                line=cpt,
                first=column1,
                second=column2,
                column2=column2,
                modifier=want[0],
            )
            continue
        if not found:
            continue
        if not want and cpt in elsewhere and payer.distinct_modifier:
            want = [payer.distinct_modifier]  # its pair is on another claim of the date
        if not want:
            expected = (
                f"{payer.label} takes no distinct-service modifier on these codes"
                if pair_of and not payer.distinct_modifier
                else "no pair on this claim needs a distinct-service modifier on this line"
            )
            fix = f"Remove {listing(found)} from the {cpt} line."
        elif both or any(m not in payer.distinct_modifiers_accepted for m in found):
            wrong = [m for m in found if m != want[0]]
            expected = f"this payer expects {want[0]} on {expected_on}"
            fix = f"Use {want[0]} alone on the {cpt} line (remove {listing(wrong)})."
        else:
            # The corrected claim shows the profile's own modifier whatever was submitted;
            # another the profile accepts is no mistake, but the difference is said.
            if placed and len(set(found)) == 1 and found[0] != placed[0]:
                sink.add(
                    "DISTINCT-MODIFIER-ACCEPTED",
                    line=cpt,
                    cpt=cpt,
                    found=found[0],
                    expected=placed[0],
                    payer=payer.label,
                )
            continue
        sink.add(
            "DISTINCT-MODIFIER-WRONG",
            line=cpt,
            cpt=cpt,
            found=listing(found),
            expected=expected,
            fix=fix,
        )


def _lines_against_derived(
    submitted: SubmittedClaim,
    derived: Sequence[Line],
    explained: set[str],
    rules: RuleSet,
    sink: FindingSink,
) -> None:
    by_code = {line.cpt.upper(): line for line in submitted.lines}
    derived_codes = {line.cpt for line in derived}
    for line in derived:
        if line.cpt not in by_code:
            if line.cpt not in explained:
                sink.add(
                    "LINE-MISSING",
                    line=line.cpt,
                    cpt=line.cpt,
                    description=line.description or line.cpt,
                )
            continue
        _modifiers_against_derived(by_code[line.cpt], line, rules, sink)
    for cpt in by_code:
        if cpt not in derived_codes and cpt not in explained and cpt in rules.procedures:
            sink.add("LINE-EXTRA", line=cpt, cpt=cpt)


def _modifiers_against_derived(
    sub_line: SubmittedLine, line: Line, rules: RuleSet, sink: FindingSink
) -> None:
    have = [m.upper() for m in sub_line.modifiers]
    want = line.modifiers
    kind = {code: mod.kind for code, mod in rules.modifiers.items()}
    # No overflow check on the submitted count: MODIFIER-OVERFLOW is about what the line
    # needs (the derived line's, raised where it was placed). A submitted line past four
    # carries modifiers it does not need, and each has its finding: 26/TC and the others
    # here, the distinct-service one in _distinct_modifiers, a repeat in MODIFIER-ORDER.
    # 26/TC first: one finding names the whole pricing mismatch.
    have_pricing = [m for m in have if kind.get(m) == "pricing"]
    want_pricing = [m for m in want if kind.get(m) == "pricing"]
    if sorted(have_pricing) != sorted(want_pricing):
        sink.add(
            "COMPONENT-MISMATCH",
            line=line.cpt,
            cpt=line.cpt,
            found=listing(have_pricing) or "no 26/TC (global)",
            expected=listing(want_pricing) or "no 26/TC (global)",
        )
    for mod in want:
        if mod not in have and kind.get(mod) not in ("pricing", "distinct"):
            sink.add(
                "MODIFIER-MISSING",
                line=line.cpt,
                cpt=line.cpt,
                modifier=mod,
                meaning=rules.modifiers[mod].meaning,
            )
    for mod in have:
        if mod in line.unplaced_modifiers:
            continue  # it applies; it only did not fit (MODIFIER-OVERFLOW says so)
        if mod not in want and kind.get(mod) not in ("pricing", "distinct"):
            sink.add("MODIFIER-EXTRA", line=line.cpt, cpt=line.cpt, modifier=mod)
    # A distinct modifier the payer accepts in place of the one placed (XU for 59) stands
    # in its place for the order (DISTINCT-MODIFIER-ACCEPTED says the rest).
    placed = next((m for m in want if kind.get(m) == "distinct"), None)
    accepted = rules.payer.distinct_modifiers_accepted
    as_placed = [
        placed if placed and kind.get(m) == "distinct" and m in accepted else m for m in have
    ]
    _modifier_order(sub_line, as_placed, line, sink)


def _modifier_order(
    sub_line: SubmittedLine, have: list[str], line: Line, sink: FindingSink
) -> None:
    """The modifiers the corrected line carries, in the order (and number) it carries them:
    the engine placed them by the rank of their kind, so its line is the order expected.
    Modifiers it does not carry are other findings' business and are left out."""
    kept = [m for m in have if m in line.modifiers]
    if kept == [m for m in line.modifiers if m in kept]:
        return
    sink.add(
        "MODIFIER-ORDER",
        line=line.cpt,
        cpt=line.cpt,
        found="-".join([sub_line.cpt.upper(), *(m.upper() for m in sub_line.modifiers)]),
        expected="-".join([line.cpt, *line.modifiers]),
    )


def _diagnoses(
    submitted_dx: Sequence[str],
    derived_dx: Sequence[str],
    screening: bool,
    rules: RuleSet,
    icd: IcdRelease,
    sink: FindingSink,
) -> None:
    codes = list(dict.fromkeys(normalize(c) for c in submitted_dx))
    valid: list[str] = []
    for code in codes:
        info = icd.lookup(code)
        if info is None:
            sink.add("ICD10-INVALID", code=code, where="submitted", release=icd.label)
        elif not info.billable:
            sink.add(
                "ICD10-NOT-BILLABLE",
                code=code,
                where="submitted",
                release=icd.label,
                description=info.description,
            )
        else:
            valid.append(code)
            if code == rules.reading.unspecified:
                better = [c for c in derived_dx if c.startswith(code[:5]) and c != code]
                sink.add(
                    "M8580-UNSPECIFIED",
                    code=code,
                    where="submitted",
                    suggestion=site_code_hint(better[0] if better else None),
                )
    if valid != list(derived_dx):  # the same list was checked as the corrected claim's
        check_list(valid, "submitted claim", rules, icd, sink, supported=derived_dx)
    screening_code = rules.encounter_codes.screening
    if screening and screening_code in codes and codes[0] != screening_code:
        sink.add("DIAGNOSIS-ORDER", position=codes.index(screening_code) + 1)
    for code in derived_dx:
        if code not in codes:
            info = icd.lookup(code)
            sink.add("DIAGNOSIS-MISSING", code=code, description=info.description if info else code)
    for code in valid:
        if code not in derived_dx and code != rules.reading.unspecified:
            sink.add("DIAGNOSIS-EXTRA", code=code)
