"""Medical necessity: the screening guideline, Medicare's categories, monitoring, frequency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from dexacode.contract import Encounter, PriorStudy
from dexacode.engine.facts import Facts
from dexacode.engine.findings import FindingSink, listing
from dexacode.engine.memo import MemoTables
from dexacode.rulebook import MedicareCategory, RuleSet


class CoverageView(NamedTuple):  # one per encounter: a named tuple builds fastest
    medicare_category: MedicareCategory | None
    guideline_indicated: bool | None
    next_eligible_date: dt.date | None


def guideline_indicated(facts: Facts, rules: RuleSet) -> bool:
    """Screening indication (uspstf for women, bhof for men)."""
    ind = rules.indication
    if facts.sex == "F":
        if facts.age >= ind.women_from_age:
            return True
        younger_ok = facts.menopausal_status in ind.women_with_risk_statuses
    else:
        if facts.age >= ind.men_from_age:
            return True
        younger_ok = facts.age >= ind.men_with_risk_from_age
    return younger_ok and _has_risk(facts, rules)


def _has_risk(facts: Facts, rules: RuleSet) -> bool:
    if facts.risk_factors:
        return True
    return any(
        rules.drug_classes[c].bone_loss_risk
        for c in facts.current_classes
        if c in rules.drug_classes
    )


def medicare_categories(facts: Facts, rules: RuleSet) -> list[MedicareCategory]:
    """Every qualified-individual category the facts support, lowest rank first."""
    found = []
    drug_classes = facts.current_classes | facts.completed_classes
    for cat in rules.medicare_categories:
        if cat.sex is not None and facts.sex != cat.sex:
            continue
        if cat.order_reasons and facts.reason not in cat.order_reasons:
            continue
        if (
            (
                facts.menopausal_status is not None
                and facts.menopausal_status in cat.menopausal_statuses
            )
            or any(r in facts.risk_factors for r in cat.risk_factors)
            or any(c in drug_classes for c in cat.drug_classes)
        ):
            found.append(cat)
    return found


# The reported category depends on six facts that repeat across a batch: it is worked
# out once per combination for each rule set.
_CATEGORY_MEMO = MemoTables(max_entries=10_000)
_NOT_YET = object()


def reported_category(facts: Facts, rules: RuleSet) -> MedicareCategory | None:
    # Every fact medicare_categories() and the preference below read, and nothing else.
    key = (
        facts.sex,
        facts.reason,
        facts.menopausal_status,
        facts.risk_factors,
        facts.current_classes,
        facts.completed_classes,
    )
    table = _CATEGORY_MEMO.table(rules)
    cached = table.get(key, _NOT_YET)
    if cached is not _NOT_YET:
        return cached  # type: ignore[no-any-return]
    cats = medicare_categories(facts, rules)
    found: MedicareCategory | None = next(
        (cat for cat in cats if facts.reason in cat.preferred_for), None
    )
    if found is None and cats:
        found = cats[0]
    _CATEGORY_MEMO.store(table, key, found)
    return found


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def next_eligible(last: dt.date, whole_months: int) -> dt.date:
    """First day after ``whole_months`` whole months have passed after ``last``'s month."""
    return add_months(last.replace(day=1), whole_months + 1)


def _prior_studies(
    dos: dt.date, history: Sequence[PriorStudy], rules: RuleSet, covered_only: bool
) -> list[PriorStudy]:
    # Rows of one date are one study (a 26 and a TC line from two providers included);
    # a row on the date of service itself is this study's other half, not a prior.
    return [
        h
        for h in history
        if h.date_of_service < dos and rules.is_bmm(h.cpt) and (h.covered or not covered_only)
    ]


def assess(
    enc: Encounter,
    facts: Facts,
    rules: RuleSet,
    codes: Sequence[str],
    history: Sequence[PriorStudy],
    sink: FindingSink,
) -> CoverageView:
    payer = rules.payer
    bmm_lines = [c for c in codes if rules.is_bmm(c)]

    indicated: bool | None = None
    if facts.reason in rules.encounter_codes.screening_reasons:
        indicated = guideline_indicated(facts, rules)
        if not indicated:
            reason, fix = _why_not_indicated(facts, rules)
            sink.add(
                "GUIDELINE-NOT-MET",
                sex_label="woman" if facts.sex == "F" else "man",
                age=facts.age,
                reason=reason,
                fix=fix,
            )

    # Medicare's bone mass rules judge only bone mass measurement lines: a claim without
    # one (VFA alone, or nothing to bill) has no category to report.
    category = reported_category(facts, rules) if payer.medicare_family and bmm_lines else None
    if payer.medicare_family and bmm_lines:
        if category is None:
            for code in bmm_lines:
                sink.add("NOT-QUALIFIED", line=code, cpt=code)
        else:
            sink.add("MEDICARE-CATEGORY", label=category.label, record=category.record)
        if facts.reason in rules.monitoring.order_reasons:
            for code in bmm_lines:
                if code not in rules.monitoring.allowed_codes:
                    sink.add("MONITORING-NOT-AXIAL", line=code, cpt=code)

    covered = _prior_studies(enc.date_of_service, history, rules, covered_only=True)
    months = payer.frequency_months
    next_date = None
    last: PriorStudy | None = None
    if covered:
        last = max(covered, key=lambda h: h.date_of_service)
        next_date = next_eligible(last.date_of_service, months)

    exception, note = _exception(enc, facts, rules, codes, history, sink)
    if last is not None and next_date is not None and enc.date_of_service < next_date and bmm_lines:
        if exception is not None:
            sink.add(
                "FREQUENCY-EXCEPTION", last=last.date_of_service.isoformat(), exception=exception
            )
        else:
            for code in bmm_lines:
                sink.add(
                    "FREQUENCY",
                    line=code,
                    cpt=code,
                    months=months,
                    last=last.date_of_service.isoformat(),
                    last_cpt=last.cpt,
                    next=next_date.isoformat(),
                    exception_note=note,
                )
    return CoverageView(category, indicated, next_date)


def _exception(
    enc: Encounter,
    facts: Facts,
    rules: RuleSet,
    codes: Sequence[str],
    history: Sequence[PriorStudy],
    sink: FindingSink,
) -> tuple[str | None, str]:
    """(the frequency exception that applies, or None; a note on why one does not)."""
    for exc in rules.frequency_exceptions.values():
        if facts.reason != exc.order_reason:
            continue
        if exc.requires_risk_factor and exc.requires_risk_factor not in facts.risk_factors:
            return None, (
                f" The exception for {exc.label} does not apply: the "
                f"{exc.requires_risk_factor} risk factor is not recorded."
            )
        if facts.reason == rules.confirm_baseline.order_reason:
            problem = _confirm_baseline_problem(enc, rules, codes, history, sink)
            if problem:
                return None, f" The exception for {exc.label} does not apply: {problem}"
        return exc.label, ""
    return None, ""


def _confirm_baseline_problem(
    enc: Encounter,
    rules: RuleSet,
    codes: Sequence[str],
    history: Sequence[PriorStudy],
    sink: FindingSink,
) -> str:
    """Why a confirmatory baseline is not one ('' when it is, or when there is no prior)."""
    rule = rules.confirm_baseline
    earlier = _prior_studies(enc.date_of_service, history, rules, covered_only=False)
    if not earlier:
        sink.add("CONFIRM-BASELINE-FIRST")
        return ""
    last = max(earlier, key=lambda h: h.date_of_service)
    axial_now = [c for c in codes if c in rule.axial_dxa_codes]
    problem = ""
    if not axial_now:
        problem = (
            "a confirmatory baseline must itself be axial DXA "
            f"({listing(list(rule.axial_dxa_codes), 'or')}); "
            f"this study is {listing(list(codes)) or 'no bone density code'}."
        )
    elif last.cpt in rule.axial_dxa_codes:
        problem = (
            f"the earlier study on {last.date_of_service.isoformat()} was already axial DXA "
            f"({last.cpt}), so there is nothing different to confirm."
        )
    if problem and rules.payer.medicare_family:
        for code in codes:
            if rules.is_bmm(code):
                sink.add(
                    "CONFIRM-BASELINE-INVALID", line=code, problem=problem[0].upper() + problem[1:]
                )
    return problem


def _why_not_indicated(facts: Facts, rules: RuleSet) -> tuple[str, str]:
    """(why the guideline does not indicate screening, what would change that)."""
    ind = rules.indication
    if facts.sex == "F":
        if facts.menopausal_status not in ind.women_with_risk_statuses:
            status = facts.menopausal_status or "not documented"
            return (
                f"under {ind.women_from_age}, screening needs a postmenopausal woman with a "
                f"risk factor, and her menopausal status is {status}",
                "Document the menopausal status if she is postmenopausal; otherwise the "
                "payer may deny the screening.",
            )
    elif facts.age < ind.men_with_risk_from_age:
        return (
            f"screening is for men from {ind.men_with_risk_from_age} with a risk factor and "
            f"all men from {ind.men_from_age}",
            "Order a diagnostic study if there is a reason for one; otherwise the payer may "
            "deny the screening.",
        )
    return (
        "at this age screening needs at least one risk factor, and none is documented",
        "Document a risk factor if there is one; otherwise the payer may deny the screening.",
    )
