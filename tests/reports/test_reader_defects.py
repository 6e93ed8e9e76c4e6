"""The report reader's second audit: two patients in a file, rows behind other text,
unscored diagnostic regions, GE Lunar's T12, names in labels, two exam dates, spine notes
on hip-only studies, older GE headers, odd minus signs, long lines, big files, UTF-16.

Every report here is synthetic.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.cli import app
from dexacode.cli_reports import render_parsed_text
from dexacode.contract import Result
from dexacode.iscd import Subject, choose_spine, load_iscd_rules, read_iscd
from dexacode.reports import (
    MAX_TEXT_BYTES,
    ParsedReport,
    ReportError,
    parse_report_text,
    read_report_file,
    scan_date_mismatch,
)
from dexacode.reports.parse import MAX_REPORT_CHARS
from dexacode.reports.tables import header_of
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter

runner = CliRunner()

Values = tuple[float | None, float | None, float | None]


def results(parsed: ParsedReport) -> dict[tuple[str, str], Values]:
    return {(r.site, r.region): (r.bmd, r.t_score, r.z_score) for r in parsed.results}


def unread(parsed: ParsedReport) -> dict[int | None, str]:
    return {u.line: u.text for u in parsed.unread}


def said(parsed: ParsedReport) -> str:
    return render_parsed_text(parsed) + json.dumps([u.model_dump() for u in parsed.unread])


def code_report(tmp_path: Path, report: str, *extra: str, **changes: Any) -> Any:
    enc = tmp_path / "enc.json"
    changes.setdefault("exam__sites", ["lumbar_spine", "left_hip"])
    enc.write_text(json.dumps(make_encounter(results=[], **changes)))
    src = tmp_path / "report.txt"
    src.write_text(report, encoding="utf-8")
    args = ["code", "--no-store", "-f", "json", "--report", str(src), str(enc), *extra]
    return runner.invoke(app, args)


def hologic(scan_type: str, rows: str, *, date: str = "March 02, 2026", head: str = "") -> str:
    return (
        f"HOLOGIC                Synthetic Clinic\n{head}"
        f"Scan Date: {date}   ID: A0302260A\n"
        f"Scan Type: {scan_type}\n"
        "DXA Results Summary:\n"
        "Region   Area(cm2)  BMC(g)  BMD(g/cm2)  T-score  PR (%)  Z-score  AM (%)\n"
        f"{rows}"
    )


SPINE_ROWS = """\
L1       12.88      8.01    0.622       -2.9     70      -1.2     81
L2       13.95      9.76    0.700       -2.8     71      -1.1     82
L3       14.61      11.10   0.760       -2.7     72      -1.0     83
L4       16.02      12.11   0.756       -2.8     71      -1.1     82
Total    57.46      41.08   0.715       -2.8     71      -1.1     82
"""
HIP_ROWS = """\
Neck     4.91       3.29    0.570       -2.9     69      -1.1     85
Total    32.91      27.89   0.747       -2.2     77      -0.9     88
"""
PATIENT_A = "Name: SYNTHA, ALPHA A              Patient ID: SYN-1001\nDOB: 01/02/1960\n"
PATIENT_B = "Name: SYNTHB, BRAVO B              Patient ID: SYN-2002\nDOB: 05/06/1954\n"


# --- 1. two patients in one file ---------------------------------------------------------


@pytest.mark.parametrize(
    "second",
    [
        PATIENT_B,  # name, ID and birth date all differ
        PATIENT_A.replace("SYN-1001", "SYN-2002"),  # the ID alone
        PATIENT_A.replace("SYNTHA, ALPHA A", "SYNTHB, BRAVO B"),  # the name alone
        PATIENT_A.replace("01/02/1960", "05/06/1954"),  # the birth date alone
    ],
)
def test_a_file_with_two_patients_is_refused_without_naming_them(
    tmp_path: Path, second: str
) -> None:
    text = (
        hologic("a Lumbar Spine", SPINE_ROWS, head=PATIENT_A)
        + "\n"
        + hologic("f Left Hip", HIP_ROWS, head=second)
    )
    with pytest.raises(ReportError, match="more than one patient") as caught:
        parse_report_text(text)
    got = code_report(tmp_path, text)
    assert got.exit_code == 2 and got.stdout == ""
    for private in ("SYNTHA", "SYNTHB", "ALPHA", "BRAVO", "SYN-1001", "SYN-2002", "1960", "1954"):
        assert private not in str(caught.value) and private not in got.stderr


def test_one_patients_header_printed_again_is_one_patient() -> None:
    again = PATIENT_A.replace("SYNTHA, ALPHA A", "Syntha,Alpha A").replace("01/02", "1/2")
    text = (
        hologic("a Lumbar Spine", SPINE_ROWS, head=PATIENT_A)
        + "\n"
        + hologic("f Left Hip", HIP_ROWS, head=again)
    )
    parsed = parse_report_text(text)
    assert parsed.unread == []
    assert ("left_hip", "femoral_neck") in results(parsed)


@pytest.mark.parametrize(
    "printed",
    [
        "Name: SYNTHA, ALPHA",  # the middle initial left out
        "Name: ALPHA A SYNTHA",  # first name first
        "Name: Alpha Syntha",
    ],
)
def test_one_patients_name_printed_another_way_is_one_patient(printed: str) -> None:
    again = PATIENT_A.replace("Name: SYNTHA, ALPHA A", printed)
    text = (
        hologic("a Lumbar Spine", SPINE_ROWS, head=PATIENT_A)
        + "\n"
        + hologic("f Left Hip", HIP_ROWS, head=again)
    )
    parsed = parse_report_text(text)
    assert ("left_hip", "femoral_neck") in results(parsed)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("SYNTHA, ALPHA A", "SYNTHA, BRAVO A"),  # another given name
        ("SYNTHA, ALPHA", "SYNTHA, ALPHA JR"),  # father and son
        ("SYNTHA, A", "SYNTHA, B"),  # given names as initials
        ("SYNTHA, MARY-JANE", "SYNTHA, JANE"),
    ],
)
def test_a_name_that_is_not_the_same_words_is_another_patient(first: str, second: str) -> None:
    text = (
        hologic("a Lumbar Spine", SPINE_ROWS, head=PATIENT_A.replace("SYNTHA, ALPHA A", first))
        + "\n"
        + hologic("f Left Hip", HIP_ROWS, head=PATIENT_A.replace("SYNTHA, ALPHA A", second))
    )
    with pytest.raises(ReportError, match="more than one patient"):
        parse_report_text(text)


def test_every_name_must_agree_with_every_other_not_only_the_first() -> None:
    # 'SYNTHA, ALPHA A' and 'SYNTHA, ALPHA B' each drop nothing the bare 'SYNTHA, ALPHA'
    # has, yet they are two people.
    heads = ["SYNTHA, ALPHA", "SYNTHA, ALPHA A", "SYNTHA, ALPHA B"]
    text = "\n".join(
        hologic(scan, rows, head=PATIENT_A.replace("SYNTHA, ALPHA A", name))
        for name, (scan, rows) in zip(
            heads,
            [("a Lumbar Spine", SPINE_ROWS), ("f Left Hip", HIP_ROWS), ("f Left Hip", HIP_ROWS)],
            strict=True,
        )
    )
    with pytest.raises(ReportError, match="more than one patient"):
        parse_report_text(text)


def test_a_field_name_inside_another_is_not_the_patients() -> None:
    text = hologic(
        "f Left Hip",
        HIP_ROWS + "Referring Physician Name: DR ONE\n\nReferring Physician Name: DR TWO\n",
        head=PATIENT_A,
    )
    assert ("left_hip", "femoral_neck") in results(parse_report_text(text))


# --- 2. a results row behind other text on its line --------------------------------------


def test_a_vertebra_row_behind_other_text_is_listed_and_the_total_is_not_guessed(
    tmp_path: Path,
) -> None:
    rows = SPINE_ROWS.replace("L2       13.95", "Page 2   L2  13.95")
    parsed = parse_report_text(hologic("a Lumbar Spine", rows))
    got = results(parsed)
    assert ("lumbar_spine", "L2") not in got
    assert not any("," in region or region == "L1-L4" for _, region in got)  # not L1,L3-L4
    assert unread(parsed)[7] == "L2" and 10 in unread(parsed)
    got_code = code_report(tmp_path, hologic("a Lumbar Spine", rows))
    assert got_code.exit_code == 2 and "line 7 L2" in got_code.stderr


def test_a_total_row_behind_a_comment_is_listed() -> None:
    rows = SPINE_ROWS.replace("Total    57.46", "Comment: L1-L4 reviewed   Total    57.46")
    parsed = parse_report_text(hologic("a Lumbar Spine", rows))
    assert ("lumbar_spine", "L1-L4") not in results(parsed)
    assert unread(parsed)[10] == "Total"
    assert "other text" in parsed.unread[0].reason


def test_the_spine_total_is_not_named_over_a_line_that_was_not_read() -> None:
    rows = SPINE_ROWS.replace(
        "L2       13.95      9.76    0.700       -2.8     71      -1.1     82", "L2 see note below"
    )
    parsed = parse_report_text(hologic("a Lumbar Spine", rows))
    assert not any("," in region for _, region in results(parsed))
    assert 10 in unread(parsed)
    # A vertebra left out of the table (excluded on the scanner) still names the Total.
    excluded = SPINE_ROWS.replace(
        "L2       13.95      9.76    0.700       -2.8     71      -1.1     82\n", ""
    )
    assert ("lumbar_spine", "L1,L3-L4") in results(
        parse_report_text(hologic("a Lumbar Spine", excluded))
    )


def test_numbers_that_are_no_results_row_are_not_listed() -> None:
    rows = HIP_ROWS + "Synthetic Clinic   Tel: 555 123 4567   Fax: 555 123 4568\n"
    parsed = parse_report_text(hologic("f Left Hip", rows))
    assert parsed.unread == []


# --- 3. a diagnostic region with a BMD and no T-score -----------------------------------


@pytest.mark.parametrize("blank", ["    ", "-   "])
def test_a_femoral_neck_without_its_t_score_is_listed(tmp_path: Path, blank: str) -> None:
    rows = HIP_ROWS.replace("0.570       -2.9", f"0.570       {blank}")
    parsed = parse_report_text(hologic("f Left Hip", rows))
    assert results(parsed)[("left_hip", "femoral_neck")] == (0.570, None, -1.1)
    assert unread(parsed) == {6: "Neck"}
    assert "femoral neck" in parsed.unread[0].reason and "T-score" in parsed.unread[0].reason
    got = code_report(tmp_path, hologic("f Left Hip", rows))
    assert got.exit_code == 2 and "line 6 Neck" in got.stderr


def test_a_total_hip_without_its_t_score_is_listed_but_a_wards_is_not() -> None:
    rows = (
        HIP_ROWS.replace("0.747       -2.2", "0.747       -   ")
        + "Ward's   1.10       0.45    0.409       -        55      -1.2     80\n"
    )
    parsed = parse_report_text(hologic("f Left Hip", rows))
    assert unread(parsed) == {7: "Total"}


# --- 4. GE Lunar's ancillary T12 --------------------------------------------------------


def test_the_bundled_lunar_example_codes_with_the_sites_it_measured(tmp_path: Path) -> None:
    example = resources.files("dexacode") / "reports" / "examples" / "lunar-spine-dualfemur.txt"
    text = example.read_text(encoding="utf-8")
    parsed = parse_report_text(text)
    assert not any(r.site == "thoracic_spine" for r in parsed.results)
    got = code_report(
        tmp_path,
        text,
        exam__sites=["lumbar_spine", "left_hip", "right_hip"],
        date_of_service="2026-03-18",
        patient__birth_date="1957-04-02",  # the printout's patient
    )
    assert got.exit_code == 0, got.stderr
    findings = [f["id"] for f in json.loads(got.stdout)["findings"]]
    assert "RESULT-SITE-NOT-MEASURED" not in findings


def test_a_scored_t12_is_still_read() -> None:
    text = (
        "GE Healthcare\nMeasured: 3/18/2026\nAP Spine Bone Density\n"
        "Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score\n"
        "T12       0.871          80        -1.7          94        -0.4\n"
        "L5        0.901          -         -             -         -\n"
    )
    parsed = parse_report_text(text)
    assert results(parsed) == {("thoracic_spine", "T12"): (0.871, -1.7, -0.4)}
    assert [r.region for r in parsed.rows if r.ancillary] == ["L5"]


# --- 5. a name in a row label -----------------------------------------------------------

LUNAR_NAME_ROW = """\
GE Healthcare  Lunar
Measured: 3/18/2026  9:41:07 AM (16)

Left Femur Bone Density
Region         BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
Neck           0.781          77        -1.9          95        -0.3
Total          0.826          81        -1.5          95        -0.3
WARD, SYNTHIA B      68      160.0      70.0
Neck Synthson  0.700          77        -1.9          95        -0.3
"""


def test_a_region_word_in_a_name_never_brings_the_name_along(tmp_path: Path) -> None:
    parsed = parse_report_text(LUNAR_NAME_ROW)
    assert unread(parsed) == {8: "", 9: "Neck"}
    for private in ("WARD", "SYNTHIA", "Synthson"):
        assert private not in said(parsed)
    got = code_report(tmp_path, LUNAR_NAME_ROW)
    assert got.exit_code == 2 and "line 8" in got.stderr
    assert "WARD" not in got.stderr and "SYNTHIA" not in got.stderr
    assert "Synthson" not in got.stderr


# --- 6. two scan dates -------------------------------------------------------------------


def test_rows_after_a_second_scan_date_are_listed_and_never_used(tmp_path: Path) -> None:
    text = (
        hologic("a Lumbar Spine", SPINE_ROWS, date="March 03, 2024")
        + "\n"
        + hologic("f Left Hip", HIP_ROWS, date="March 02, 2026")
    )
    parsed = parse_report_text(text)
    assert parsed.scan_date == dt.date(2024, 3, 3)
    assert not any(site == "left_hip" for site, _ in results(parsed))
    assert unread(parsed) == {13: "2026-03-02", 17: "Neck", 18: "Total"}
    assert "no row from this line on is read" in parsed.unread[0].reason
    got = code_report(tmp_path, text, "--accept-unread")
    assert got.exit_code in (0, 1), got.stderr
    interpretation = json.loads(got.stdout)["interpretation"]
    assert "hip" not in json.dumps(interpretation)  # the 2026 hip never decides
    # The same date printed again on the next page is the same exam.
    same = hologic("a Lumbar Spine", SPINE_ROWS) + "\n" + hologic("f Left Hip", HIP_ROWS)
    assert ("left_hip", "femoral_neck") in results(parse_report_text(same))


# --- 7. no spine notes on a study without a spine ---------------------------------------


def test_a_hip_only_reading_says_nothing_about_the_spine(book: RuleBook) -> None:
    day = dt.date(2026, 3, 2)
    iscd = load_iscd_rules().in_force(day)
    rules = book.in_force(day, "medicare")
    hip = [Result(site="left_hip", region="femoral_neck", bmd=0.67, t_score=-1.6)]
    assert choose_spine(hip, iscd.exclusion).notes == ()
    reading = read_iscd(hip, Subject(), rules, iscd)
    assert not any("spine" in s.lower() for s in reading.sentences)
    forearm = [Result(site="left_forearm", region="radius_33", bmd=0.6, t_score=-2.7)]
    assert not any(
        "spine:" in s.lower() for s in read_iscd(forearm, Subject(), rules, iscd).sentences
    )
    # With a spine result the note stays.
    spine = [Result(site="lumbar_spine", region="L1-L4", bmd=0.9, t_score=-1.2)]
    assert choose_spine(spine, iscd.exclusion).notes


# --- 8. older GE Lunar headers ------------------------------------------------------------


@pytest.mark.parametrize("bmd", ["BMD\u00b9", "BMD1"])
def test_older_lunar_headers_with_footnote_marks_are_read(bmd: str) -> None:
    text = (
        "GE Lunar Prodigy  enCORE\nMeasured: 3/18/2026  9:41:07 AM\n\nAP Spine Bone Density\n"
        f"Region    {bmd} (g/cm\u00b2)   Young-Adult\u00b2 (%)  T-Score   Age-Matched\u00b3 (%)"
        "  Z-Score\n"
        "L1-L4     0.982            82                 -1.8      96                 -0.3\n"
    )
    parsed = parse_report_text(text)
    assert results(parsed) == {("lumbar_spine", "L1-L4"): (0.982, -1.8, -0.3)}
    assert parsed.unread == []


# --- 9. minus signs and apostrophes ------------------------------------------------------


@pytest.mark.parametrize("minus", ["\uff0d", "\ufe63", "\u2796", "\u2015", "\u00ad-"])
def test_other_minus_signs_are_read_as_minus(minus: str) -> None:
    rows = HIP_ROWS.replace("-", minus)
    parsed = parse_report_text(hologic("f Left Hip", rows))
    assert results(parsed)[("left_hip", "femoral_neck")] == (0.570, -2.9, -1.1)
    assert parsed.unread == []


def test_a_soft_hyphen_alone_is_never_read_as_a_plus() -> None:
    rows = HIP_ROWS.replace("-2.9", "\u00ad2.9")
    parsed = parse_report_text(hologic("f Left Hip", rows))
    assert ("left_hip", "femoral_neck") not in results(parsed)
    assert "soft hyphen" in parsed.unread[0].reason and parsed.unread[0].line == 6


@pytest.mark.parametrize("apostrophe", ["\u2019", "\u2018", "\u02bc"])
def test_curly_apostrophes_are_read(apostrophe: str) -> None:
    rows = (
        HIP_ROWS
        + f"Ward{apostrophe}s   1.10       0.45    0.409       -3.1     55      -1.2     80\n"
    )
    parsed = parse_report_text(hologic("f Left Hip", rows))
    assert results(parsed)[("left_hip", "wards")] == (0.409, -3.1, -1.2)


# --- 10. long lines and big files --------------------------------------------------------


def test_a_line_of_many_headings_is_read_in_linear_time() -> None:
    # Not a benchmark: the quadratic overlap check took minutes on this line, the
    # linear one well under a second; the bound only catches the return of the former.
    line = "Region BMD T-score Z-score " * 8000
    start = time.perf_counter()
    assert header_of(line) is None  # columns named twice: not a header dexacode reads
    assert time.perf_counter() - start < 20
    # In a report, a line that long is listed, not read (no line costs more than a report).
    text = hologic("f Left Hip", HIP_ROWS) + line + "\n"
    parsed = parse_report_text(text)
    assert ("left_hip", "femoral_neck") in results(parsed)
    assert unread(parsed) == {8: ""} and "characters" in parsed.unread[0].reason


def test_the_first_of_overlapping_headings_is_kept() -> None:
    header = header_of("Region  BMD  YA T-score  AM Z-score  Change vs Previous (%)")
    assert header is not None
    assert [c.kind for c in header.columns] == ["bmd", "t", "z", "change"]


def test_a_file_too_big_to_be_a_report_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(hologic("f Left Hip", HIP_ROWS).encode() + b"x" * MAX_TEXT_BYTES)
    with pytest.raises(ReportError, match="too big"):
        read_report_file(big)
    got = runner.invoke(app, ["read", str(big)])
    assert got.exit_code == 2 and "too big" in got.stderr
    with pytest.raises(ReportError, match="too long"):
        parse_report_text("x" * (MAX_REPORT_CHARS + 1))


# --- 11. byte-order marks ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-8-sig", "utf-32"])
def test_a_report_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    text = hologic("f Left Hip", HIP_ROWS.replace("-", "\u2212"))
    if encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    src = tmp_path / "report.txt"
    src.write_bytes(data)
    parsed = read_report_file(src)
    assert results(parsed)[("left_hip", "femoral_neck")] == (0.570, -2.9, -1.1)


# --- 12. the scan date against the date of service --------------------------------------


def test_a_scan_date_other_than_the_date_of_service_is_said() -> None:
    parsed = parse_report_text(hologic("f Left Hip", HIP_ROWS, date="March 03, 2021"))
    message = scan_date_mismatch(parsed, "2026-04-20")
    assert message is not None and "1874 days before" in message
    assert "2021" not in message and "2026" not in message
    assert scan_date_mismatch(parsed, dt.date(2021, 3, 3)) is None
    assert "1 day after" in (scan_date_mismatch(parsed, dt.date(2021, 3, 2)) or "")
    assert scan_date_mismatch(parsed, None) is None
    undated = parse_report_text("Region  BMD  T-score  Z-score\nL1-L4  0.982  -1.8  -0.3\n")
    assert scan_date_mismatch(undated, "2026-04-20") is None
