"""The result as a coder reads it at a desk: lines, diagnoses, reading, coverage, findings."""

from __future__ import annotations

from collections.abc import Mapping

from dexacode.contract import Basis, CodingResult, Finding
from dexacode.rulebook import Source

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _problem(finding: Finding) -> str:
    return finding.message.removesuffix(finding.action).strip()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render(
    result: CodingResult,
    sources: Mapping[str, Source],
    *,
    payer_label: str = "",
    date_of_service: str = "",
) -> str:
    out: list[str] = []
    head = f"Claim {result.claim_id}"
    if payer_label:
        head += f" - {payer_label}"
    if date_of_service:
        head += f" - date of service {date_of_service}"
    editions = ", ".join(result.editions) or (
        f"rule book {result.rules_version}, ICD-10-CM {result.icd10cm_release}"
    )
    out += [head, f"Checked against: {editions}", ""]

    out.append("CLAIM LINES")
    if not result.lines:
        out.append("  (none: nothing can be billed; see the findings)")
    for i, line in enumerate(result.lines, 1):
        mods = "-".join(line.modifiers)
        code = f"{line.cpt}-{mods}" if mods else line.cpt
        pointers = ",".join(str(p) for p in line.diagnosis_pointers) or "-"
        out.append(f"  {i}. {code:<16} {_plural(line.units, 'unit')}   dx pointers {pointers}")
        if line.description:
            out.append(f"       {line.description}")
        for mod in line.modifiers:
            reason = line.modifier_reasons.get(mod, "")
            out.append(f"       {mod}: {reason}")
    out.append("")

    out.append("DIAGNOSES")
    if not result.diagnoses:
        out.append("  (none)")
    details = {d.code: d for d in result.diagnosis_details}
    for i, code in enumerate(result.diagnoses, 1):
        detail = details.get(code)
        desc = detail.description if detail else ""
        out.append(f"  {i}. {code:<9} {desc}")
        if detail and detail.reason:
            out.append(f"     {'':<9} why: {detail.reason}")
    out.append("")

    interp = result.interpretation
    out.append("READING")
    scale = "T-score" if interp.scale == "t_score" else "Z-score"
    if interp.category is None or interp.basis is None:
        out.append(f"  No category (read by {scale}).")
    else:
        basis = interp.basis
        score = basis.t_score if interp.scale == "t_score" else basis.z_score
        where = f"{basis.site.replace('_', ' ')} {basis.region.replace('_', ' ')}"
        out.append(f"  {(interp.label or interp.category).capitalize()}")
        out.append(f"  lowest {scale} {score:+.1f} at {where}")
        others = [r for r in interp.results_read if r != basis]
        if others:
            out.append(
                "  also read: " + "; ".join(_where_and_score(r, interp.scale) for r in others)
            )
        out.append(
            "  The interpreting physician's report must state this diagnosis for it to be coded."
        )
    out.append("")

    cov = result.coverage
    out.append("COVERAGE")
    if cov.medicare_category is not None:
        out.append(f"  Medicare category: {cov.medicare_category.replace('_', ' ')}")
    if cov.guideline_indicated is not None:
        out.append(f"  Screening guideline met: {'yes' if cov.guideline_indicated else 'no'}")
    if cov.next_eligible_date is not None:
        out.append(f"  Next covered study allowed from: {cov.next_eligible_date.isoformat()}")
    else:
        out.append("  No earlier covered study on record.")
    out.append(f"  ABN advised: {'yes' if cov.abn_advised else 'no'}")
    out.append("")

    counts = {s: sum(1 for f in result.findings if f.severity == s) for s in _SEVERITY_ORDER}
    out.append(
        f"FINDINGS ({_plural(counts['error'], 'error')}, {_plural(counts['warning'], 'warning')}, "
        f"{counts['info']} info)"
    )
    if not result.findings:
        out.append("  None: the claim is clean.")
    ordered = sorted(result.findings, key=lambda f: _SEVERITY_ORDER[f.severity])
    for f in ordered:
        on = f" on {f.line}" if f.line else ""
        out.append(f"  {f.severity.upper():<7} {f.id}{on}")
        out.append(f"     What: {_problem(f)}")
        if f.action:
            out.append(f"     Do:   {f.action}")
        cited = [f"{key} ({sources[key].title})" if key in sources else key for key in f.sources]
        out.append(f"     Source: {'; '.join(cited)}")
    return "\n".join(out) + "\n"


def _where_and_score(result: Basis, scale: str) -> str:
    """'left hip total hip -1.2': a result the reading weighed."""
    score = result.t_score if scale == "t_score" else result.z_score
    where = f"{result.site.replace('_', ' ')} {result.region.replace('_', ' ')}"
    return where if score is None else f"{where} {score:+.1f}"
