"""PDF round trips, the rendered report (opened and rasterised), and the commands."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dexacode.cli_reports import merge_report_into_encounter, read_command, report_command
from dexacode.formats.report_doc import tscore_chart_svg
from dexacode.reports import parse_report_text, read_report_file
from tests.conftest import make_encounter, store_with_prior

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"
EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "dexacode" / "reports" / "examples"

HAS_WEASYPRINT = importlib.util.find_spec("weasyprint") is not None
needs_weasyprint = pytest.mark.skipif(
    not HAS_WEASYPRINT, reason="WeasyPrint (the reports extra, with pango) is not installed"
)
needs_pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm (Debian package poppler-utils) is missing"
)


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds these lines (Courier, like a printout)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 9 Tf 11 TL 36 800 Td " + " ".join(f"({esc(x)}) '" for x in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def test_pdf_round_trip(tmp_path: Path) -> None:
    text = (DATA / "lunar_spine_dualfemur.txt").read_text(encoding="utf-8")
    ascii_lines = [
        line.replace("\u2212", "-").replace("²", "2").replace("±", "+/-")
        for line in text.splitlines()
    ]
    pdf = tmp_path / "lunar.pdf"
    pdf.write_bytes(text_pdf(ascii_lines))
    from_pdf = read_report_file(pdf)
    from_text = parse_report_text(text)
    assert from_pdf.results == from_text.results
    assert from_pdf.scan_date == from_text.scan_date and from_pdf.vendor == "lunar"


@needs_weasyprint
def test_pdf_round_trip_unicode_minus(tmp_path: Path) -> None:
    from html import escape

    from dexacode.formats.report_doc import render_pdf

    text = (DATA / "hologic_spine_dualhip.txt").read_text(encoding="utf-8")
    pdf = tmp_path / "hologic.pdf"
    pdf.write_bytes(render_pdf(f"<pre style='font-size:7pt'>{escape(text)}</pre>"))
    parsed = read_report_file(pdf)
    assert parsed.results == parse_report_text(text).results
    assert parsed.unread == []


def test_chart_svg() -> None:
    svg = tscore_chart_svg("left total hip", -2.46)
    assert svg.startswith("<svg") and "T = −2.5" in svg
    assert svg.count("<rect") == 3


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("read")(read_command)
    cli.command("report")(report_command)
    return cli


runner = CliRunner()


def test_read_command_text_and_json() -> None:
    ok = runner.invoke(app(), ["read", str(EXAMPLES / "hologic-spine-dualhip.txt")])
    assert ok.exit_code == 0, ok.output
    assert "Hologic Horizon W" in ok.output and "total_hip_mean" in ok.output
    # The mean and difference rows are both hips', never shown as the left hip's.
    (mean_row,) = [row for row in ok.output.splitlines() if "total_hip_mean" in row]
    assert mean_row.split()[:2] == ["both", "hips"] and "left_hip" not in mean_row
    assert "Nothing: every results row was read." in ok.output
    js = runner.invoke(app(), ["read", str(DATA / "lunar_spine_dualfemur.txt"), "-f", "json"])
    data = json.loads(js.output)
    assert data["vendor"] == "lunar" and data["scan_date"] == "2026-03-18"
    assert {
        "site": "right_hip",
        "region": "total_hip",
        "bmd": 0.838,
        "t_score": -1.4,
        "z_score": -0.2,
    } in data["results"]


def test_read_command_partial_and_bad(tmp_path: Path) -> None:
    text = (DATA / "hologic_spine_young.txt").read_text()
    squeezed = tmp_path / "squeezed.txt"
    squeezed.write_text("\n".join(" ".join(x.split()) for x in text.splitlines()))
    partial = runner.invoke(app(), ["read", str(squeezed)])
    assert partial.exit_code == 1 and "NOT READ" in partial.output
    letter = tmp_path / "letter.txt"
    letter.write_text("Dear colleague\n")
    bad = runner.invoke(app(), ["read", str(letter)])
    assert bad.exit_code == 2 and "no results table" in bad.output


def test_merge_report_into_encounter() -> None:
    enc = make_encounter()
    parsed = read_report_file(DATA / "lunar_spine_dualfemur.txt")
    merged = merge_report_into_encounter(enc, parsed)
    l1l4 = [r for r in merged["results"] if r["region"] == "L1-L4"]
    assert l1l4 == [
        {"site": "lumbar_spine", "region": "L1-L4", "bmd": 0.982, "t_score": -1.8, "z_score": -0.3}
    ]
    assert merged["exam"] == enc["exam"] and enc["results"][0]["bmd"] == 1.02  # copy
    assert len(merged["results"]) == len(parsed.results) + 0  # the three were replaced


@pytest.fixture
def encounter_file(tmp_path: Path) -> Path:
    path = tmp_path / "enc.json"
    path.write_text(
        json.dumps(
            make_encounter(
                exam__sites=["lumbar_spine", "left_hip", "right_hip"],
                # The example printouts' patient: 68 on both scan dates.
                patient__birth_date="1957-04-02",
            )
        )
    )
    return path


def test_report_html(tmp_path: Path, encounter_file: Path) -> None:
    out = tmp_path / "report.html"
    args = [
        "report",
        str(encounter_file),
        "--report",
        str(EXAMPLES / "hologic-spine-dualhip.txt"),
        "--options",
        str(EXAMPLES / "report-options.toml"),
        "--out",
        str(out),
    ]
    got = runner.invoke(app(), args)
    assert got.exit_code in (0, 1), got.output
    html = out.read_text()
    assert "<svg" in html and "L1-L2,L4 is used" in html and "LSC" in html
    assert "Coding summary" in html and "77080" in html
    assert "Interpreting physician" in html


def _report_html(tmp_path: Path, enc: dict[str, Any]) -> str:
    """``dexacode report`` of an encounter, as HTML (coded with or without errors)."""
    src = tmp_path / "enc.json"
    src.write_text(json.dumps(enc))
    out = tmp_path / "report.html"
    got = runner.invoke(app(), ["report", str(src), "--out", str(out)])
    assert got.exit_code in (0, 1), got.output
    return out.read_text()


def test_the_report_reads_only_the_sites_the_exam_measured(tmp_path: Path) -> None:
    """A left hip result on a spine-and-right-hip exam is listed but decides neither the
    coded claim nor the physician's reading, which must agree."""
    enc = make_encounter(
        exam__sites=["lumbar_spine", "right_hip"],
        results=[
            {"site": "lumbar_spine", "region": "L1-L4", "t_score": -1.2},
            {"site": "right_hip", "region": "total_hip", "t_score": -0.8},
            {"site": "left_hip", "region": "total_hip", "t_score": -3.1},
        ],
    )
    html = _report_html(tmp_path, enc)
    text = " ".join(re.sub("<[^>]+>", " ", html).split())
    assert "RESULT-SITE-NOT-MEASURED" in html
    assert "L1-L4 −1.2 lowest, decides" in text
    assert "left total hip −3.1 shown" in text  # listed, not read
    assert "M81.0" not in html


def test_the_reports_coding_summary_counts_the_history_store(tmp_path: Path) -> None:
    url = store_with_prior(tmp_path / "history.sqlite3", "P-REP")
    src = tmp_path / "enc.json"
    src.write_text(
        json.dumps(
            make_encounter(patient__id="P-REP", date_of_service="2026-04-20", payer="medicare")
        )
    )
    out = tmp_path / "report.html"
    got = runner.invoke(app(), ["report", str(src), "--out", str(out), "--db", url])
    assert got.exit_code == 1, got.output  # the claim has an error-level finding
    assert "FREQUENCY" in out.read_text()
    got = runner.invoke(app(), ["report", str(src), "--out", str(out), "--db", url, "--no-store"])
    assert "FREQUENCY" not in out.read_text()


@needs_weasyprint
@needs_pdftoppm
def test_report_pdf_renders(tmp_path: Path, encounter_file: Path) -> None:
    out = tmp_path / "report.pdf"
    args = [
        "report",
        str(encounter_file),
        "--report",
        str(DATA / "lunar_spine_dualfemur.txt"),
        "--out",
        str(out),
    ]
    got = runner.invoke(app(), args)
    assert got.exit_code in (0, 1), got.output
    from pypdf import PdfReader

    reader = PdfReader(str(out))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "L1-L3 is used" in text and "Coding summary" in text
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(reader.pages) >= 1
    from PIL import Image

    for page in pages:
        with Image.open(page) as img:
            extrema = img.convert("L").getextrema()
            assert isinstance(extrema[0], int) and isinstance(extrema[1], int)
            assert extrema[0] < 128 < extrema[1]  # something is drawn on every page


def test_report_bad_out(tmp_path: Path, encounter_file: Path) -> None:
    got = runner.invoke(app(), ["report", str(encounter_file), "--out", str(tmp_path / "x.doc")])
    assert got.exit_code == 2 and ".html or .pdf" in got.output


def test_the_reports_table_prints_scores_as_the_reading_rounds_them(tmp_path: Path) -> None:
    """-1.95 is -2.0 for the reading (decimal rounding); the table must not say -1.9."""
    enc = make_encounter(
        results=[
            {"site": "lumbar_spine", "region": "L1-L4", "t_score": -1.95, "z_score": -0.45},
            {"site": "left_hip", "region": "total_hip", "t_score": -0.8},
        ],
    )
    cells = re.findall(r'<td class="num">([^<]*)</td>', _report_html(tmp_path, enc))
    assert "−2.0" in cells and "−0.5" in cells
    assert "−1.9" not in cells and "−0.4" not in cells
