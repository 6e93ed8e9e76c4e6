"""Reading + facts -> the claim's ICD-10-CM list, in order, validated against the release."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dexacode.contract import DiagnosisDetail, Encounter, build
from dexacode.engine.facts import Facts
from dexacode.engine.findings import FindingSink, listing
from dexacode.engine.interpret import Reading
from dexacode.engine.memo import MemoTables
from dexacode.icd10 import CodeInfo, normalize
from dexacode.rulebook import MedicareCategory, RuleSet


class IcdRelease(Protocol):
    """What the engine asks of an ICD-10-CM release (see dexacode.icd10)."""

    label: str

    def lookup(self, code: str) -> CodeInfo | None: ...

    def excludes1_conflict(self, a: str, b: str) -> bool: ...


@dataclass(frozen=True)
class Diagnosis:
    code: str
    reason: str
    fact: str | None = None  # the fact key it comes from, for ordering by Medicare category


@dataclass(frozen=True)
class DiagnosisList:
    codes: tuple[Diagnosis, ...]
    descriptions: dict[str, str]
    details: tuple[DiagnosisDetail, ...] = ()  # the output rows, built once with the list


def _suppressed(code: str, facts: Facts, rules: RuleSet) -> str | None:
    for rule in rules.documented_wins:
        if facts.has_condition(rule.condition_prefixes) and any(
            code.startswith(s) for s in rule.suppresses
        ):
            return rule.why
    return None


def reading_codes(reading: Reading, facts: Facts, rules: RuleSet) -> list[Diagnosis]:
    codes = rules.reading
    out: list[Diagnosis] = []
    if reading.scale != "t_score" or reading.category is None:
        return out  # a Z-score reading gives no osteoporosis/osteopenia code from BMD alone
    single = codes.by_category.get(reading.category)
    if single is not None:
        if not _suppressed(single, facts, rules):
            out.append(Diagnosis(single, f"reading: {reading.label}"))
            healed = rules.encounter_codes.healed_fragility_fracture
            for name in facts.risk_factors:
                risk = rules.risk_factors.get(name)
                if risk is not None and risk.code == healed:
                    out.append(Diagnosis(healed, f"{risk.label}, listed after {single}", name))
            if healed in facts.conditions and len(out) == 1:
                # The coder's own record of the healed fracture goes to the same place.
                out.append(Diagnosis(healed, "documented condition"))
    elif reading.category in codes.by_site_categories and reading.low_bone_mass_bones:
        bones = reading.low_bone_mass_bones
        code = (
            codes.multiple_sites
            if len(bones) > 1
            else codes.low_bone_mass_by_bone.get(bones[0], codes.multiple_sites)
        )
        if not _suppressed(code, facts, rules):
            where = listing([b.replace("_", " ") for b in bones])
            out.append(Diagnosis(code, f"reading: low bone mass at {where}"))
    return out


def fact_codes(enc: Encounter, facts: Facts, rules: RuleSet) -> list[Diagnosis]:
    enc_codes = rules.encounter_codes
    available: dict[str, Diagnosis] = {}
    if facts.sex == "F" and facts.menopausal_status in enc_codes.postmenopausal_statuses:
        available["postmenopausal"] = Diagnosis(
            enc_codes.postmenopausal, "postmenopausal status", "postmenopausal"
        )
    for name in facts.risk_factors:
        risk = rules.risk_factors.get(name)
        if risk is not None and risk.code:
            available[name] = Diagnosis(risk.code, risk.label, name)
    for name in facts.current_classes:
        cls = rules.drug_classes.get(name)
        if cls is not None and cls.code:
            drugs = ", ".join(facts.current_drugs_by_class.get(name, []))
            available[name] = Diagnosis(cls.code, f"current {cls.label} ({drugs})", name)
    # Z09: follow-up after a completed drug therapy (any drug of the table).
    if facts.completed_classes and facts.reason in enc_codes.follow_up_reasons:
        available["drug_therapy_completed"] = Diagnosis(
            enc_codes.drug_therapy_completed,
            "follow-up scan after completed drug therapy",
            "drug_therapy_completed",
        )
    return [available[name] for name in enc_codes.fact_order if name in available]


def _establishes(
    dx: Diagnosis, category: MedicareCategory | None, menopausal: tuple[str, ...]
) -> bool:
    """Does the fact behind this code put the patient in the reported Medicare category?"""
    if category is None or dx.fact is None:
        return False
    return (
        (dx.fact == "postmenopausal" and bool(set(menopausal) & set(category.menopausal_statuses)))
        or dx.fact in category.risk_factors
        or dx.fact in category.drug_classes
        or (dx.fact == "drug_therapy_completed" and bool(category.drug_classes))
    )


# The diagnosis list depends on a handful of facts that repeat across a batch; it is
# worked out once per combination and replayed, findings included. An entry costs about
# 3 kB; a busy payer's table would fill with a few hundred thousand rows.
_MEMO = MemoTables(max_entries=50_000)


def derive(
    enc: Encounter,
    facts: Facts,
    reading: Reading,
    category: MedicareCategory | None,
    rules: RuleSet,
    icd: IcdRelease,
    sink: FindingSink,
) -> DiagnosisList:
    """The claim's diagnoses (memoized on everything they depend on)."""
    key = (
        enc.billing.claim_form,
        facts.sex,
        facts.menopausal_status,
        facts.reason,
        facts.risk_factors,
        facts.current_classes,
        facts.completed_classes,
        tuple(sorted((k, tuple(v)) for k, v in facts.current_drugs_by_class.items())),
        facts.unknown_drugs,
        facts.conditions,
        reading.scale,
        reading.category,
        reading.label,
        reading.low_bone_mass_bones,
        category.name if category is not None else None,
        tuple(enc.submitted.diagnoses)
        if "results" in enc.unknown and enc.submitted is not None
        else None,
    )
    table = _MEMO.table(rules, icd)
    hit = table.get(key)
    if hit is not None:
        result, calls = hit
        sink.replay(calls)
        return result  # type: ignore[no-any-return]
    sink.record()
    result = _derive(enc, facts, reading, category, rules, icd, sink)
    _MEMO.store(table, key, (result, sink.recorded()))
    return result


def _derive(
    enc: Encounter,
    facts: Facts,
    reading: Reading,
    category: MedicareCategory | None,
    rules: RuleSet,
    icd: IcdRelease,
    sink: FindingSink,
) -> DiagnosisList:
    enc_codes = rules.encounter_codes
    ordered: list[Diagnosis] = []
    if facts.reason in enc_codes.screening_reasons:
        ordered.append(Diagnosis(enc_codes.screening, "screening encounter"))
    ordered += reading_codes(reading, facts, rules)
    documented = [Diagnosis(c, "documented condition") for c in facts.conditions]
    facts_part = fact_codes(enc, facts, rules)
    menopausal = enc_codes.postmenopausal_statuses
    ordered += [d for d in facts_part if _establishes(d, category, menopausal)]
    ordered += [d for d in facts_part if not _establishes(d, category, menopausal)]
    ordered += documented

    _fact_notes(enc, facts, rules, sink)
    reading_code = next((d.code for d in ordered if d.reason.startswith("reading")), None)

    kept: list[Diagnosis] = []
    descriptions: dict[str, str] = {}
    seen: set[str] = set()
    for dx in ordered:
        code = normalize(dx.code)
        if code in seen:
            continue
        seen.add(code)
        info = icd.lookup(code)
        where = "conditions" if dx.reason == "documented condition" else "derived"
        if info is None:
            sink.add("ICD10-INVALID", code=code, where=where, release=icd.label)
            continue
        if not info.billable:
            sink.add(
                "ICD10-NOT-BILLABLE",
                code=code,
                where=where,
                release=icd.label,
                description=info.description,
            )
            continue
        if code == rules.reading.unspecified:
            # Never on the corrected claim: the reading's site code, or the coder's.
            sink.add(
                "M8580-UNSPECIFIED", code=code, where=where, suggestion=site_code_hint(reading_code)
            )
            continue
        if where == "derived":
            # A code dexacode derives never creates an Excludes1 pair: a documented
            # condition wins over it, and so does a code placed earlier in the list.
            rival = next(
                (
                    other
                    for other in [*facts.conditions, *(k.code for k in kept)]
                    if other != code and icd.excludes1_conflict(code, other)
                ),
                None,
            )
            if rival is not None:
                sink.add("ICD10-EXCLUDES1-AVOIDED", code=code, kept=rival, release=icd.label)
                continue
        kept.append(Diagnosis(code, dx.reason, dx.fact))
        descriptions[code] = info.description
    if "results" in enc.unknown and enc.submitted is not None:
        # Without the results (an 837) the order's inputs are unknown: the reading's code
        # is only one of the claim's own codes. The claim's order stands, so a claim read
        # back keeps its principal diagnosis instead of a status code moving ahead of it.
        kept = _in_submitted_order(kept, enc.submitted.diagnoses, enc_codes.screening)

    limits = rules.diagnosis_limits
    professional = enc.billing.claim_form == "professional"
    limit = limits.max_professional if professional else limits.max_institutional
    if len(kept) > limit:
        dropped = [d.code for d in kept[limit:]]
        sink.add(
            "DIAGNOSIS-LIMIT",
            count=len(kept),
            form=enc.billing.claim_form,
            limit=limit,
            dropped=listing(dropped),
        )
        kept = kept[:limit]

    codes = [d.code for d in kept]
    check_list(codes, "corrected claim", rules, icd, sink, facts)
    if facts.reason in enc_codes.follow_up_reasons and enc_codes.drug_therapy_completed in codes:
        history = tuple(p.replace(".", "") for p in rules.z09.history_prefixes)
        if not any(c.replace(".", "").startswith(history) for c in codes):
            sink.add("Z09-HISTORY")
    details = tuple(
        build(
            DiagnosisDetail, code=d.code, description=descriptions.get(d.code, ""), reason=d.reason
        )
        for d in kept
    )
    return DiagnosisList(tuple(kept), descriptions, details)


def check_list(
    codes: list[str],
    where: str,
    rules: RuleSet,
    icd: IcdRelease,
    sink: FindingSink,
    facts: Facts | None = None,
    supported: Sequence[str] = (),
) -> None:
    """Checks that hold for any diagnosis list: empty, screening alone, Excludes1 pairs.
    ``supported`` are the codes the record gives, named when a submitted list is empty."""
    if not codes:
        hint = f" (the record supports {listing(list(supported))})" if supported else ""
        sink.add("NO-DIAGNOSIS", where=where, supported=hint)
        return
    screening = rules.encounter_codes.screening
    if codes == [screening]:
        sink.add("Z13820-ALONE", where=where, facts=_reason_hint(rules, facts))
    for i, first in enumerate(codes):
        for second in codes[i + 1 :]:
            if icd.excludes1_conflict(first, second):
                sink.add("ICD10-EXCLUDES1", first=first, second=second, release=icd.label)


def _in_submitted_order(
    kept: list[Diagnosis], submitted: Sequence[str], screening: str
) -> list[Diagnosis]:
    """The codes in the submitted claim's order, the screening code still first and codes
    the claim lacks after the others, in the order derived."""
    place: dict[str, int] = {}
    for i, code in enumerate(submitted):
        place.setdefault(normalize(code), i)
    lead = [d for d in kept if d.code == screening]
    rest = sorted(
        (d for d in kept if d.code != screening), key=lambda d: place.get(d.code, len(place))
    )
    return lead + rest


def site_code_hint(reading_code: str | None) -> str:
    """What to put in place of M85.80."""
    if reading_code:
        return f"the reading's site code {reading_code}"
    return "the site-specific M85.8- code of the site the record documents (the reading gives none)"


def _reason_hint(rules: RuleSet, facts: Facts | None) -> str:
    enc = rules.encounter_codes
    risks = [r.code for r in rules.risk_factors.values() if r.code]
    drugs = [c.code for c in rules.drug_classes.values() if c.code]
    reading = dict.fromkeys(
        [
            *rules.reading.by_category.values(),
            *rules.reading.low_bone_mass_by_bone.values(),
            rules.reading.multiple_sites,
        ]
    )
    menopause = (
        f"postmenopausal status ({enc.postmenopausal}), "
        if facts is None or facts.sex == "F"
        else ""
    )
    return (
        f"{menopause}a documented risk factor ({', '.join(risks)}), a current drug "
        f"({', '.join(drugs)}), or the reading's diagnosis ({', '.join(reading)})"
    )


def _fact_notes(enc: Encounter, facts: Facts, rules: RuleSet, sink: FindingSink) -> None:
    for name in facts.unknown_drugs:
        sink.add("DRUG-UNRECOGNISED", drug=name)
    for name, drugs in facts.current_drugs_by_class.items():
        cls = rules.drug_classes.get(name)
        needed = cls.confirm_with_risk_factor if cls else None
        if needed and needed not in facts.risk_factors:
            sink.add("GLUCOCORTICOID-UNCONFIRMED", drug=listing(drugs))
    for name in sorted(facts.risk_factors):
        risk = rules.risk_factors.get(name)
        if risk is not None and risk.no_code_note:
            sink.add("RISK-FACTOR-NO-CODE", label=risk.label.capitalize(), note=risk.no_code_note)
