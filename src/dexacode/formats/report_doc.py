"""The DXA report document: HTML (inline SVG charts) and PDF (WeasyPrint, the ``reports``
extra). Results table, a T-score chart per diagnostic region, the ISCD reading in plain
sentences, the comparison with the prior study, and the coding summary for billing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from dexacode.contract import CodingResult, Encounter, Result
from dexacode.engine.interpret import round_score
from dexacode.iscd import IscdReading, describe, device_words, figures
from dexacode.reports.model import ParsedReport

# The chart's scale and the WHO borders its bands follow (interpretation.toml; who-1994).
CHART_TOP, CHART_BOTTOM = 2.0, -5.0
NORMAL_FROM, OSTEOPOROSIS_AT = -1.0, -2.5
GREEN, YELLOW, RED = "#7cc47f", "#f3d36b", "#e57368"

PDF_MISSING = (
    "writing PDF reports needs WeasyPrint: install dexacode with the reports extra "
    "(pip install 'dexacode[reports]')"
)


class ReportDocError(RuntimeError):
    """The document could not be written (a missing optional library, one sentence)."""


@dataclass(frozen=True)
class ReportDocument:
    encounter: Encounter
    coding: CodingResult
    reading: IscdReading
    parsed: ParsedReport | None = None
    prior_date: dt.date | None = None
    prior: ParsedReport | None = None  # the prior study's printout, when one was read


def _minus(value: float, fmt: str) -> str:
    return format(value, fmt).replace("-", "−")


def tscore_chart_svg(title: str, t_score: float, *, width: int = 320, height: int = 190) -> str:
    """A vertical T-score scale from +2 to −5 with green / yellow / red bands at −1.0 and
    −2.5 and the patient's value marked."""
    top, bottom, left, bar = 24, height - 16, 46, 110
    span = CHART_TOP - CHART_BOTTOM

    def y(score: float) -> float:
        clamped = min(CHART_TOP, max(CHART_BOTTOM, score))
        return top + (CHART_TOP - clamped) / span * (bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)} T-score chart">',
        f'<text x="{left}" y="14" font-size="11" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{y(CHART_TOP):.1f}" width="{bar}" '
        f'height="{y(NORMAL_FROM) - y(CHART_TOP):.1f}" fill="{GREEN}"/>',
        f'<rect x="{left}" y="{y(NORMAL_FROM):.1f}" width="{bar}" '
        f'height="{y(OSTEOPOROSIS_AT) - y(NORMAL_FROM):.1f}" fill="{YELLOW}"/>',
        f'<rect x="{left}" y="{y(OSTEOPOROSIS_AT):.1f}" width="{bar}" '
        f'height="{y(CHART_BOTTOM) - y(OSTEOPOROSIS_AT):.1f}" fill="{RED}"/>',
    ]
    for tick in range(int(CHART_TOP), int(CHART_BOTTOM) - 1, -1):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="9" text-anchor="end">'
            f"{_minus(tick, '+d') if tick else '0'}</text>"
        )
    for border in (NORMAL_FROM, OSTEOPOROSIS_AT):
        parts.append(
            f'<line x1="{left}" x2="{left + bar}" y1="{y(border):.1f}" y2="{y(border):.1f}" '
            'stroke="#555" stroke-width="0.6"/>'
        )
    for high, low, words in (
        (CHART_TOP, NORMAL_FROM, "normal"),
        (NORMAL_FROM, OSTEOPOROSIS_AT, "low bone mass"),
        (OSTEOPOROSIS_AT, CHART_BOTTOM, "osteoporosis"),
    ):
        middle = (y(high) + y(low)) / 2 + 3
        parts.append(f'<text x="{left + bar + 6}" y="{middle:.1f}" font-size="8">{words}</text>')
    marker = y(t_score)
    parts += [
        f'<line x1="{left - 4}" x2="{left + bar + 4}" y1="{marker:.1f}" y2="{marker:.1f}" '
        'stroke="#000" stroke-width="2"/>',
        f'<circle cx="{left + bar / 2}" cy="{marker:.1f}" r="5" fill="#000"/>',
        f'<text x="{left + bar / 2 + 9}" y="{marker - 5:.1f}" font-size="11" '
        f'font-weight="bold">T = {_minus(round_score(t_score), "+.1f")}</text>',
        "</svg>",
    ]
    return "".join(parts)


_CSS = """
@page { size: A4; margin: 16mm 14mm; @bottom-right { content: "page " counter(page) " of "
  counter(pages); font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #111; }
h1 { font-size: 16pt; margin: 0 0 4pt; } h2 { font-size: 12pt; margin: 14pt 0 4pt;
  border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
th, td { border: 1px solid #bbb; padding: 2pt 5pt; text-align: left; font-size: 9pt; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #555; } .charts svg { margin: 2pt 6pt 2pt 0; }
.sign { margin-top: 24pt; } .sign div { margin-top: 18pt; border-top: 1px solid #000;
  width: 70mm; padding-top: 2pt; display: inline-block; margin-right: 14mm; }
ul { margin: 2pt 0; padding-left: 14pt; }
"""


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else _minus(value, fmt)


def _score(value: float | None) -> str:
    """A score as the reading classified it: rounded half away from zero on the value as
    written (-1.95 is -2.0), never by binary formatting (which prints -1.9)."""
    return "" if value is None else _minus(round_score(value), "+.1f")


def _use(reading: IscdReading, r: Result) -> str:
    if r.region.endswith(("_mean", "_diff")):
        return "shown, never diagnostic (both sides)"
    if any(s.result == r for s in reading.diagnostic):
        return "lowest, decides" if reading.lowest and reading.lowest.result == r else "diagnostic"
    if r.site == "lumbar_spine" and reading.spine.region is not None:
        return "not the region used"
    return "shown"


def _results_table(reading: IscdReading, results: Sequence[Result]) -> str:
    rows = [
        "<table><tr><th>Region</th><th>BMD (g/cm²)</th><th>T-score</th><th>Z-score</th>"
        "<th>Use</th></tr>"
    ]
    for r in results:
        rows.append(
            f"<tr><td>{escape(describe(r.site, r.region))}</td>"
            f'<td class="num">{_num(r.bmd, ".3f")}</td>'
            f'<td class="num">{_score(r.t_score)}</td>'
            f'<td class="num">{_score(r.z_score)}</td>'
            f"<td>{escape(_use(reading, r))}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _comparison(reading: IscdReading) -> str:
    comp = reading.comparison
    if comp is None:
        return "<p>No prior study was given.</p>"
    out = [
        f"<p>Devices: prior study {escape(device_words(comp.prior_device))}; this study "
        f"{escape(device_words(comp.device))}.</p>",
        "<table><tr><th>Region</th><th>Prior BMD</th><th>Now</th><th>Change g/cm²</th>"
        "<th>Change %</th><th>LSC</th><th>Verdict</th></tr>",
    ]
    starred = False
    for c in comp.changes:
        shown = figures(c)
        lsc = ""
        if shown.lsc_g_cm2:
            star = " *" if c.precision_default else ""
            starred = starred or bool(star)
            lsc = f"{shown.lsc_g_cm2} ({shown.lsc_percent} %){star}"
        verdict = c.verdict.replace("_", " ")
        if not shown.change:
            verdict += f": {c.note}"
        out.append(
            f"<tr><td>{escape(describe(c.site, c.region))}</td>"
            f'<td class="num">{c.prior_bmd:.3f}</td><td class="num">{c.current_bmd:.3f}</td>'
            f'<td class="num">{escape(shown.change)}</td>'
            f'<td class="num">{escape(shown.percent)}</td><td class="num">{escape(lsc)}</td>'
            f"<td>{escape(verdict)}</td></tr>"
        )
    out.append("</table>")
    if starred:
        out.append(
            '<p class="muted">* LSC from the ISCD minimum acceptable precision (a default); '
            "the facility's own precision error should replace it.</p>"
        )
    return "".join(out)


def _coding(coding: CodingResult) -> str:
    out = ["<table><tr><th>#</th><th>CPT</th><th>Modifiers</th><th>Units</th>"]
    out.append("<th>Dx pointers</th><th>Description</th></tr>")
    for i, line in enumerate(coding.lines, 1):
        out.append(
            f"<tr><td>{i}</td><td>{escape(line.cpt)}</td>"
            f"<td>{escape('-'.join(line.modifiers))}</td><td>{line.units}</td>"
            f"<td>{','.join(str(p) for p in line.diagnosis_pointers)}</td>"
            f"<td>{escape(line.description)}</td></tr>"
        )
    out.append("</table>")
    details = {d.code: d.description for d in coding.diagnosis_details}
    out.append("<p><b>Diagnoses:</b></p><ul>")
    out += [f"<li>{escape(c)} {escape(details.get(c, ''))}</li>" for c in coding.diagnoses]
    out.append("</ul><p><b>Findings:</b></p><ul>")
    if not coding.findings:
        out.append("<li>None: the claim is clean.</li>")
    for f in coding.findings:
        out.append(f"<li>{escape(f.severity.upper())} {escape(f.id)}: {escape(f.message)}</li>")
    out.append(
        f'</ul><p class="muted">Rule book {escape(coding.rules_version)}, ICD-10-CM '
        f"{escape(coding.icd10cm_release)}.</p>"
    )
    return "".join(out)


def _not_read(parsed: ParsedReport, printout: str, whose: str) -> list[str]:
    """What of a printout was not read: this exam's rows as a list under their own
    heading; another study's (a trend or comparison table) apart, in one sentence, since
    they are no part of the exam this printout reports."""
    out: list[str] = []
    mine = [u for u in parsed.unread if not u.other_study]
    if mine:
        out += [f"<h2>Not read from {printout}</h2>", "<ul>"]
        out += [
            f"<li>{'line ' + str(u.line) + ': ' if u.line else ''}{escape(u.text)} — "
            f"{escape(u.reason)}</li>"
            for u in mine
        ]
        out.append("</ul>")
    others = [u for u in parsed.unread if u.other_study]
    if others:
        numbers = sorted({u.line for u in others if u.line})
        lines = ", ".join(str(n) for n in numbers)
        lines = f" (line{'s' if len(numbers) > 1 else ''} {lines})" if numbers else ""
        out.append(
            f'<p class="muted">Other studies\' values on {printout}, not read: '
            f"{len(others)} row{'s' if len(others) > 1 else ''} of a trend or comparison "
            f"table{lines}; they are not {whose} results.</p>"
        )
    return out


def render_html(doc: ReportDocument) -> str:
    """The whole report as one self-contained HTML page."""
    enc, reading, parsed = doc.encounter, doc.reading, doc.parsed
    results = list(enc.results)
    age = (
        enc.date_of_service.year
        - enc.patient.birth_date.year
        - (
            (enc.date_of_service.month, enc.date_of_service.day)
            < (enc.patient.birth_date.month, enc.patient.birth_date.day)
        )
    )
    study = [
        f"Patient {escape(enc.patient.id)}, {'female' if enc.patient.sex == 'F' else 'male'}, "
        f"age {age}",
        f"Date of service {enc.date_of_service.isoformat()}",
        f"Indication: {escape(enc.order.reason.replace('_', ' '))}",
    ]
    if parsed is not None:
        if parsed.scanner or parsed.vendor:
            study.append(f"Scanner: {escape(parsed.scanner or parsed.vendor or '')}")
        if parsed.scan_date:
            study.append(f"Scan date {parsed.scan_date.isoformat()}")
        study += [f"Reference: {escape(r)}" for r in parsed.reference]
    body = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>DXA report {escape(enc.claim_id)}</title><style>{_CSS}</style></head><body>",
        "<h1>Bone densitometry (DXA) report</h1>",
        "<p>" + "<br>".join(study) + "</p>",
        "<h2>Results</h2>",
        _results_table(reading, results) if results else "<p>No results were given.</p>",
    ]
    if reading.scale == "t_score":
        charts = [
            tscore_chart_svg(describe(s.result.site, s.result.region), s.result.t_score)
            for s in reading.diagnostic
            if s.result.t_score is not None
        ]
        if charts:
            body += ["<h2>T-score charts</h2>", '<div class="charts">', *charts, "</div>"]
    else:
        body.append(
            '<p class="muted">Read by Z-score: the WHO T-score bands do not apply, so no '
            "T-score chart is drawn.</p>"
        )
    body += ["<h2>Reading</h2>", "<ul>"]
    body += [f"<li>{escape(s)}</li>" for s in reading.sentences]
    body += ["</ul>", "<h2>Comparison with the prior study</h2>", _comparison(reading)]
    if parsed is not None:
        body += _not_read(parsed, "the scanner report", "this exam's")
    if doc.prior is not None:
        body += _not_read(doc.prior, "the prior study's scanner report", "the prior study's")
    if doc.coding.interpretation.category != reading.category:
        body.append(
            f'<p class="muted">The coding engine read '
            f"{escape(str(doc.coding.interpretation.label))}; the ISCD reading above differs "
            "(vertebral exclusion or forearm rule). Code from the signed reading.</p>"
        )
    body += ["<h2>Coding summary (billing office)</h2>", _coding(doc.coding)]
    body += [
        '<div class="sign"><div>Interpreting physician</div><div>Date and signature</div></div>',
        "</body></html>",
    ]
    return "\n".join(body)


def render_pdf(html: str) -> bytes:
    """The HTML report as PDF bytes (WeasyPrint, imported only here)."""
    try:
        import weasyprint  # type: ignore[import-untyped, unused-ignore]
    except (ImportError, OSError):
        raise ReportDocError(PDF_MISSING) from None
    data = weasyprint.HTML(string=html).write_pdf()
    if not isinstance(data, bytes):
        raise ReportDocError("WeasyPrint returned no PDF")
    return data
