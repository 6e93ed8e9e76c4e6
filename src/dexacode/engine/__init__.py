"""The coding engine: a pure function of the encounter, its prior studies and the rules.

No files, clock, network or database here: the caller hands in the rule set in force on
the date of service and the ICD-10-CM release of its fiscal year.
"""

from __future__ import annotations

from collections.abc import Sequence

from dexacode.contract import (
    Basis,
    CodingResult,
    Coverage,
    Encounter,
    Interpretation,
    Line,
    PriorStudy,
    build,
)
from dexacode.engine import (
    coverage,
    covered,
    diagnoses,
    interpret,
    modifiers,
    procedures,
    same_date,
)
from dexacode.engine.check import check_submitted
from dexacode.engine.diagnoses import IcdRelease
from dexacode.engine.facts import gather
from dexacode.engine.findings import FindingSink, listing
from dexacode.engine.same_date import SameDateClaim
from dexacode.icd10 import fiscal_year_of
from dexacode.rulebook import InputError, RuleSet

__all__ = ["IcdRelease", "SameDateClaim", "code_encounter"]


def code_encounter(
    enc: Encounter,
    rules: RuleSet,
    icd: IcdRelease,
    *,
    icd_exact: bool = True,
    history: Sequence[PriorStudy] = (),
    same_date_claims: Sequence[SameDateClaim] = (),
) -> CodingResult:
    """Code one encounter. ``history`` adds prior studies (e.g. from the history store)
    to the encounter's own; the same study listed twice counts once.
    ``same_date_claims`` are the patient's other claims of this date (a batch's other
    rows), checked against this one for duplicates and split pair edits."""
    for i, site in enumerate(enc.exam.sites):
        if site not in rules.sites:
            raise InputError(f"exam.sites[{i}]", f"site {site!r} is not in force on this date")
    sink = FindingSink(rules, frozenset(enc.unknown))
    if not icd_exact:
        sink.add("ICD10-VINTAGE", year=fiscal_year_of(enc.date_of_service), release=icd.label)
    facts = gather(enc, rules)
    prior = _merge_history(enc.history, history)

    reading = interpret.read(enc, facts, rules, sink)

    professional = enc.billing.claim_form == "professional"
    component = modifiers.component_for(enc, rules)
    codes = procedures.choose_codes(enc, rules)
    if professional and component is None:
        sink.add("NOTHING-TO-BILL")
        codes = []
    _same_day_warning(enc, codes, rules, sink)

    cover = coverage.assess(enc, facts, rules, codes, prior, sink)
    dx = diagnoses.derive(enc, facts, reading, cover.medicare_category, rules, icd, sink)
    dx_codes = [d.code for d in dx.codes]
    # A professional line is judged by the diagnoses it points to (the first four).
    pointed = dx_codes[: rules.diagnosis_limits.pointers_per_line] if professional else dx_codes
    covered.check(codes, pointed, rules, sink)
    drafts = modifiers.place(enc, codes, component, sink.expected_denials(), rules, sink)

    pointers = (
        list(range(1, min(len(dx_codes), rules.diagnosis_limits.pointers_per_line) + 1))
        if professional
        else []
    )
    lines = [
        build(
            Line,
            cpt=d.cpt,
            modifiers=d.modifiers,
            units=1,
            diagnosis_pointers=pointers,
            description=rules.procedures[d.cpt].description,
            modifier_reasons=d.reasons,
            unplaced_modifiers=d.unplaced,
        )
        for d in drafts
    ]
    _vfa_screening(lines, dx_codes, rules, sink)
    explained: set[str] = set()
    if same_date_claims:
        explained = same_date.check(
            [line.cpt for line in lines],
            same_date.billed_as(enc, rules),
            same_date_claims,
            _distinct_marked(enc, lines, rules),
            rules,
            sink,
        )

    if enc.submitted is not None:
        check_submitted(
            enc.submitted,
            lines,
            dx_codes,
            facts.reason in rules.encounter_codes.screening_reasons,
            rules,
            icd,
            sink,
            distinct_elsewhere=explained,
        )

    if enc.unknown:
        # Every rule that needs a missing fact, whether or not it would have fired on the
        # placeholders: none of them was really judged.
        missing = set(enc.unknown)
        unjudged = [fid for fid, rule in rules.findings.items() if missing.intersection(rule.needs)]
        if unjudged:
            sink.add(
                "NOT-JUDGED",
                rules=listing(unjudged),
                facts=listing([_FACT_WORDS.get(fact, fact) for fact in enc.unknown]),
            )

    liability = set(rules.liability_modifier.values())
    return build(
        CodingResult,
        claim_id=enc.claim_id,
        rules_version=rules.version,
        icd10cm_release=icd.label,
        payer=rules.payer.name,
        editions=[f"rule book {rules.version}", f"ICD-10-CM {icd.label}", *rules.editions],
        lines=lines,
        diagnoses=dx_codes,
        interpretation=_interpretation(reading),
        coverage=build(
            Coverage,
            medicare_category=cover.medicare_category.name if cover.medicare_category else None,
            guideline_indicated=cover.guideline_indicated,
            next_eligible_date=cover.next_eligible_date,
            abn_advised=any(m in liability for line in lines for m in line.modifiers),
        ),
        findings=sink.items,
        diagnosis_details=list(dx.details),
    )


# The contract's unknown facts in words, for NOT-JUDGED (a fact missing here is named by
# its contract path).
_FACT_WORDS = {
    "exam.sites": "the sites measured",
    "results": "the scan results",
    "patient.risk_factors": "the risk factors",
    "patient.medications": "the medications",
    "patient.conditions": "the documented conditions",
    "patient.menopausal_status": "the menopausal status",
    "order.reason": "the order's reason",
    "billing.equipment_owner": "who owns the equipment",
    "submitted": "a submitted claim it could read (one was sent, but not readable)",
}


def _merge_history(own: Sequence[PriorStudy], more: Sequence[PriorStudy]) -> list[PriorStudy]:
    """One study per date and code; the encounter's own record of it wins. Within each
    source, a copy this payer family covered wins over one it did not, whichever comes
    first: a paid 26 beside a denied TC is a paid study, and the same study billed to
    two families is covered for the family that paid it."""
    seen: dict[tuple[object, ...], PriorStudy] = {}
    for study in own:
        key = (study.date_of_service, study.cpt)
        kept = seen.get(key)
        if kept is None or (study.covered and not kept.covered):
            seen[key] = study
    own_keys = frozenset(seen)
    for study in more:
        key = (study.date_of_service, study.cpt)
        kept = seen.get(key)
        if kept is None or (study.covered and not kept.covered and key not in own_keys):
            seen[key] = study
    return list(seen.values())


def _distinct_marked(enc: Encounter, lines: Sequence[Line], rules: RuleSet) -> frozenset[str]:
    """The codes whose line, as billed (the submitted claim when there is one), carries a
    distinct-service modifier."""
    distinct = modifiers.distinct_modifiers(rules)
    if enc.submitted is not None:
        billed = [
            (line.cpt.upper(), [m.upper() for m in line.modifiers]) for line in enc.submitted.lines
        ]
    else:
        billed = [(line.cpt, line.modifiers) for line in lines]
    return frozenset(cpt for cpt, mods in billed if distinct.intersection(mods))


def _same_day_warning(
    enc: Encounter, codes: Sequence[str], rules: RuleSet, sink: FindingSink
) -> None:
    if not rules.payer.same_day_warning:
        return
    axial = [c for c in codes if rules.procedure_group(c) == "axial"]
    peripheral = [c for c in codes if rules.procedure_group(c) == "peripheral"]
    if axial and peripheral:
        reason = enc.exam.peripheral_reason
        sink.add(
            "SAME-DAY-AXIAL-PERIPHERAL",
            axial=axial[0],
            peripheral=peripheral[0],
            reason=f'"{reason}".' if reason else "none given (exam.peripheral_reason is empty).",
        )


def _vfa_screening(
    lines: Sequence[Line], dx_codes: Sequence[str], rules: RuleSet, sink: FindingSink
) -> None:
    screening_only = set(rules.vfa_screening.codes)
    for line in lines:
        if rules.procedure_group(line.cpt) != "vfa" or not dx_codes:
            continue
        pointed = [dx_codes[p - 1] for p in line.diagnosis_pointers] or list(dx_codes)
        if set(pointed) <= screening_only:
            sink.add("VFA-SCREENING", line=line.cpt, cpt=line.cpt, codes=", ".join(pointed))


def _interpretation(reading: interpret.Reading) -> Interpretation:
    read = [_basis(s) for s in reading.diagnostic]
    basis = None
    if reading.basis is not None:
        basis = read[reading.diagnostic.index(reading.basis)]
    return build(
        Interpretation,
        category=reading.category,
        basis=basis,
        scale=reading.scale,
        label=reading.label,
        results_read=read,
    )


def _basis(scored: interpret.Scored) -> Basis:
    r = scored.result
    return build(
        Basis, site=r.site, region=r.region, t_score=scored.t_score, z_score=scored.z_score
    )
