"""`dexacode report` refuses a partly read scanner report as `code --report` does; the
document keeps this exam's unread rows apart from another study's; day-first dates.

Every report here is synthetic.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.cli import app
from dexacode.cli_reports import render_parsed_text
from dexacode.reports import parse_report_text
from tests.conftest import make_encounter
from tests.reports.test_reader_audit import HOLOGIC_HIP_CLEAN, HOLOGIC_HIP_PARTLY, HOLOGIC_TREND

runner = CliRunner()


def run_report(tmp_path: Path, report: str | None, *extra: str, prior: str | None = None) -> Any:
    """``dexacode report`` of a left hip encounter with these printouts."""
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(make_encounter(exam__sites=["lumbar_spine", "left_hip"], results=[])))
    args = ["report", str(enc), "--out", str(tmp_path / "report.html"), "--no-store", *extra]
    if report is not None:
        (tmp_path / "report.txt").write_text(report)
        args += ["--report", str(tmp_path / "report.txt")]
    if prior is not None:
        (tmp_path / "prior.txt").write_text(prior)
        args += ["--prior", str(tmp_path / "prior.txt")]
    return runner.invoke(app, args)


def code_report(tmp_path: Path, report: str) -> Any:
    enc = tmp_path / "code-enc.json"
    enc.write_text(json.dumps(make_encounter(exam__sites=["lumbar_spine", "left_hip"], results=[])))
    src = tmp_path / "code-report.txt"
    src.write_text(report)
    return runner.invoke(app, ["code", "--no-store", "-f", "json", "--report", str(src), str(enc)])


def html_text(tmp_path: Path) -> str:
    html = (tmp_path / "report.html").read_text()
    return " ".join(re.sub("<[^>]+>", " ", html).split())


# --- 1. report refuses a partly read report unless --accept-unread ----------------------------


def test_report_refuses_a_partly_read_report_as_code_does(tmp_path: Path) -> None:
    got = run_report(tmp_path, HOLOGIC_HIP_PARTLY)
    assert got.exit_code == 2, got.output
    assert not (tmp_path / "report.html").exists()  # no document to sign
    assert got.stderr.count("\n") == 1 and got.stderr.startswith("dexacode: input error: ")
    said = "the scanner report was only partly read, 1 item not read (line 7 Neck)"
    assert said in got.stderr and "--accept-unread to write the report" in got.stderr
    for private in ("0.67", "-2.9", "SYNTHPATIENT", "SYN-7001"):
        assert private not in got.stderr
    coded = code_report(tmp_path, HOLOGIC_HIP_PARTLY)
    assert coded.exit_code == got.exit_code and said in coded.stderr


def test_report_accept_unread_writes_the_document_listing_what_was_not_read(
    tmp_path: Path,
) -> None:
    got = run_report(tmp_path, HOLOGIC_HIP_PARTLY, "--accept-unread")
    assert got.exit_code in (0, 1), got.output
    assert "warning" in got.stderr and "line 7 Neck" in got.stderr
    text = html_text(tmp_path)
    assert "Not read from the scanner report line 7: Neck" in text


def test_report_refuses_a_partly_read_prior_report(tmp_path: Path) -> None:
    # The prior study is an earlier exam (a prior dated on this exam's day is refused).
    earlier = HOLOGIC_HIP_PARTLY.replace("March 02, 2026", "March 02, 2024")
    got = run_report(tmp_path, HOLOGIC_HIP_CLEAN, prior=earlier)
    assert got.exit_code == 2, got.output
    assert not (tmp_path / "report.html").exists()
    assert "the prior study's scanner report was only partly read" in got.stderr
    assert "line 7 Neck" in got.stderr and "[prior] results" in got.stderr
    accepted = run_report(tmp_path, HOLOGIC_HIP_CLEAN, "--accept-unread", prior=earlier)
    assert accepted.exit_code in (0, 1), accepted.output
    text = html_text(tmp_path)
    assert "Not read from the prior study's scanner report line 7: Neck" in text
    assert "Not read from the scanner report" not in text  # this exam's was read whole


def test_report_help_documents_accept_unread() -> None:
    got = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert "--accept-unread" in got.stdout and "--prior" in got.stdout


# --- 2. another study's rows are not listed as this exam's -----------------------------------


def test_a_trend_tables_rows_are_not_listed_as_this_exams_unread_rows(tmp_path: Path) -> None:
    got = run_report(tmp_path, HOLOGIC_TREND)
    assert got.exit_code in (0, 1), got.output  # nothing of this exam is missing
    text = html_text(tmp_path)
    assert "Not read from the scanner report" not in text
    assert "another study's values, in a trend" not in text
    assert "Other studies' values on the scanner report, not read: 3 rows" in text
    assert "(lines 13, 14, 15)" in text


def test_this_exams_unread_rows_and_a_trend_tables_are_listed_apart(tmp_path: Path) -> None:
    report = HOLOGIC_TREND.replace("0.670       -1.6", "0.67        -1.6")
    got = run_report(tmp_path, report, "--accept-unread")
    assert got.exit_code in (0, 1), got.output
    text = html_text(tmp_path)
    listed = text.split("Not read from the scanner report", 1)[1].split("Other studies'")[0]
    assert "line 7: Neck" in listed
    assert "line 13" not in listed and "another study" not in listed
    assert "not read: 3 rows of a trend or comparison table (lines 13, 14, 15)" in text
    shown = render_parsed_text(parse_report_text(report))
    assert "NOT READ (1)" in shown and "ANOTHER STUDY'S VALUES, NOT READ (3)" in shown


# --- 3. day-first dates ------------------------------------------------------------------------

DAY_FIRST = """\
Synthetic Imaging Centre                                   GE Healthcare
Patient:       SMITH, MARY SYNTH          Measured: {measured}  9:41:07 (16)
Birth Date:    {birth}                 Printed: {printed}
Patient ID:    MRN-99887766

AP Spine Bone Density
Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
L1-L4     0.982          82        -1.8          96        -0.3
Lunar Prodigy DF+500475                    enCORE 16 SP1
"""


@pytest.mark.parametrize(
    ("measured", "printed", "scan_date"),
    [
        ("18/03/2026", "18/03/2026", "2026-03-18"),  # cannot be month-first
        ("04/03/2026", "18/03/2026", "2026-03-04"),  # doubtful, on a day-first report
        ("04/03/2026", "04/03/2026", "2026-04-03"),  # doubtful, nothing says: month-first
        ("04/03/2026", "03/18/2026", "2026-04-03"),  # doubtful, on a month-first report
    ],
)
def test_a_slashed_scan_date_is_read_in_the_reports_own_order(
    tmp_path: Path, measured: str, printed: str, scan_date: str
) -> None:
    report = DAY_FIRST.format(measured=measured, printed=printed, birth="02/04/1957")
    parsed = parse_report_text(report)
    assert str(parsed.scan_date) == scan_date and parsed.unread == []
    src = tmp_path / "report.txt"
    src.write_text(report)
    got = runner.invoke(app, ["read", str(src)])
    assert got.exit_code == 0 and f"Scan date: {scan_date}" in got.stdout


@pytest.mark.parametrize(
    ("measured", "birth"), [("18/03/2026", "02/04/1957"), ("04/03/2026", "25/04/1957")]
)
def test_a_report_mixing_day_first_and_month_first_dates_has_its_date_listed(
    tmp_path: Path, measured: str, birth: str
) -> None:
    report = DAY_FIRST.format(measured=measured, printed="03/19/2026", birth=birth)
    parsed = parse_report_text(report)
    assert parsed.scan_date is None
    [item] = parsed.unread
    assert (item.line, item.text) == (2, measured)
    assert "Measured" in item.reason and "mixes day-first and month-first" in item.reason
    said = render_parsed_text(parsed)
    for private in ("SMITH", "MARY", "MRN-99887766", birth, "03/19/2026"):
        assert private not in said
    got = code_report(tmp_path, report)
    assert got.exit_code == 2 and "1 item not read (line 2)" in got.stderr
    assert "03/19/2026" not in got.stderr and "SMITH" not in got.stderr


def test_a_heading_dated_the_day_first_scan_date_is_this_exams() -> None:
    text = (
        "Exam Date: 18/03/2026\nScanner: Hologic Horizon A\n\n"
        "LEFT HIP 18/03/2026\n"
        "Region        BMD      T-score    Z-score\n"
        "Total Hip     0.781    -1.4       -0.5\n"
    )
    parsed = parse_report_text(text)
    assert str(parsed.scan_date) == "2026-03-18" and parsed.unread == []
    assert [(r.site, r.region) for r in parsed.results] == [("left_hip", "total_hip")]
    # Dated otherwise, the heading is still another study's.
    other = parse_report_text(text.replace("LEFT HIP 18/03/2026", "LEFT HIP 18/03/2024"))
    assert other.results == []


# --- a report of another date than the encounter's ---------------------------------------------


def _scan_date_of(report: str) -> str:
    parsed = parse_report_text(report)
    assert parsed.scan_date is not None
    return parsed.scan_date.isoformat()


@pytest.mark.parametrize("command", ["code", "report"])
def test_a_report_of_another_date_is_used_with_a_warning_naming_no_date(
    tmp_path: Path, command: str
) -> None:
    scan = _scan_date_of(HOLOGIC_HIP_CLEAN)
    enc = tmp_path / "enc.json"
    enc.write_text(
        json.dumps(
            make_encounter(date_of_service="2026-04-20", exam__sites=["left_hip"], results=[])
        )
    )
    data = json.loads(enc.read_text())
    assert data["date_of_service"] != scan  # the report is of another day
    (tmp_path / "r.txt").write_text(HOLOGIC_HIP_CLEAN)
    args = [command, str(enc), "--report", str(tmp_path / "r.txt"), "--no-store"]
    if command == "report":
        args += ["--out", str(tmp_path / "out.html")]
    got = runner.invoke(app, args)
    assert got.exit_code in (0, 1), got.output
    assert "scan date is" in got.stderr and "another exam's report" in got.stderr
    assert scan not in got.stderr and data["date_of_service"] not in got.stderr


def test_a_report_of_the_encounters_own_date_raises_no_date_warning(tmp_path: Path) -> None:
    enc = tmp_path / "enc.json"
    enc.write_text(
        json.dumps(
            make_encounter(
                date_of_service=_scan_date_of(HOLOGIC_HIP_CLEAN),
                exam__sites=["left_hip"],
                results=[],
            )
        )
    )
    (tmp_path / "r.txt").write_text(HOLOGIC_HIP_CLEAN)
    got = runner.invoke(app, ["code", str(enc), "--report", str(tmp_path / "r.txt"), "--no-store"])
    assert got.exit_code in (0, 1), got.output
    assert "scan date" not in got.stderr
