"""The report reader's audit: what a coder would see go wrong, and what must never happen.

Every report here is synthetic. The principle under test: no value silently dropped,
invented or misplaced; what is not read is listed by line and region label, and never
with the report's other text (names, IDs, dates of birth).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.cli import app
from dexacode.cli_reports import merge_report_into_encounter, render_parsed_text, report_command
from dexacode.reports import ParsedReport, parse_report_text
from tests.conftest import make_encounter

runner = CliRunner()

Values = tuple[float | None, float | None, float | None]


def results(parsed: ParsedReport) -> dict[tuple[str, str], Values]:
    return {(r.site, r.region): (r.bmd, r.t_score, r.z_score) for r in parsed.results}


def unread_lines(parsed: ParsedReport) -> list[int | None]:
    return [u.line for u in parsed.unread]


def everything_said(parsed: ParsedReport) -> str:
    """All a user sees of the unread list, in `read` and in the signed report."""
    return render_parsed_text(parsed) + json.dumps(
        [u.model_dump() for u in parsed.unread] + parsed.reference
    )


# --- 1. code --report never codes a partly read report without being told to ---------------

HOLOGIC_HIP_PARTLY = """\
HOLOGIC                Synthetic Clinic
Name: SYNTHPATIENT, ALMA          Patient ID: SYN-7001
Scan Date: March 02, 2026   ID: A0302260A
Scan Type: f Left Hip
DXA Results Summary:
Region   Area(cm2)  BMC(g)  BMD(g/cm2)  T-score  Z-score
Neck     4.91       3.29    0.67        -2.9     -0.9
Troch    11.02      6.81    0.518       -1.9     -1.6
Total    34.23      28.02   0.818       -1.2     -0.1
"""

HOLOGIC_HIP_CLEAN = HOLOGIC_HIP_PARTLY.replace("0.67        -2.9", "0.670       -2.9")


def code_report(tmp_path: Path, report: str, *extra: str) -> Any:
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(make_encounter(exam__sites=["lumbar_spine", "left_hip"], results=[])))
    src = tmp_path / "report.txt"
    src.write_text(report)
    args = ["code", "--no-store", "-f", "json", "--report", str(src), str(enc), *extra]
    return runner.invoke(app, args)


def test_code_refuses_a_partly_read_report_naming_lines_and_labels_only(tmp_path: Path) -> None:
    got = code_report(tmp_path, HOLOGIC_HIP_PARTLY)
    assert got.exit_code == 2
    assert got.stdout == ""  # no claim, no reading: nothing a coder could take as the result
    assert got.stderr.count("\n") == 1 and got.stderr.startswith("dexacode: ")
    assert "line 7 Neck" in got.stderr and "--accept-unread" in got.stderr
    for private in ("0.67", "-2.9", "SYNTHPATIENT", "SYN-7001", "4.91"):
        assert private not in got.stderr
    # The same report fully read codes as before, without a word on stderr.
    clean = code_report(tmp_path, HOLOGIC_HIP_CLEAN)
    assert clean.exit_code in (0, 1), clean.stderr
    assert clean.stderr == ""
    assert json.loads(clean.stdout)["interpretation"]["category"] == "osteoporosis"


def test_accept_unread_codes_with_what_was_read_and_says_what_was_left(tmp_path: Path) -> None:
    got = code_report(tmp_path, HOLOGIC_HIP_PARTLY, "--accept-unread")
    assert got.exit_code in (0, 1), got.stderr
    coded = json.loads(got.stdout)
    assert coded["interpretation"]["category"] is not None
    assert "warning" in got.stderr and "line 7 Neck" in got.stderr
    assert "SYNTHPATIENT" not in got.stderr and "0.67" not in got.stderr


def test_code_help_documents_accept_unread() -> None:
    got = runner.invoke(app, ["code", "--help"], env={"COLUMNS": "200"})
    assert "--accept-unread" in got.stdout and "NOT READ" in got.stdout


# --- 2. nothing identifying in what is said --------------------------------------------------

LUNAR_EU_HEADER = """\
Synthetic Imaging Centre                                   GE Healthcare
Patient:       SMITH, MARY SYNTH          Measured: 18/03/2026  9:41:07 (16)
Birth Date:    02/04/1957                 Analyzed: 18/03/2026  9:44:52 (16)
Patient ID:    MRN-99887766               Referring Physician: DR. EXAMPLE

AP Spine Bone Density
Densitometry: Europe (Combined NHANES/Lunar)
Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
L1-L4     0.982          82        -1.8          96        -0.3
Lunar Prodigy DF+500475                    enCORE 16 SP1
"""
# Day-first 'Measured', month-first 'Analyzed': the scan date is not understood.
LUNAR_MIXED_HEADER = LUNAR_EU_HEADER.replace("Analyzed: 18/03/2026", "Analyzed: 03/19/2026")


def test_a_date_not_understood_is_quoted_alone_never_with_its_line() -> None:
    parsed = parse_report_text(LUNAR_MIXED_HEADER)
    [item] = parsed.unread
    assert (item.line, item.text) == (2, "18/03/2026")
    assert "Measured" in item.reason
    said = everything_said(parsed)
    for private in ("SMITH", "MARY", "MRN-99887766", "02/04/1957", "03/19/2026"):
        assert private not in said


def test_the_signed_reports_not_read_list_carries_no_header_text(tmp_path: Path) -> None:
    import typer

    cli = typer.Typer()
    cli.command("report")(report_command)
    cli.command("other")(lambda: None)
    src = tmp_path / "report.txt"
    src.write_text(LUNAR_MIXED_HEADER)
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps(make_encounter(results=[])))
    out = tmp_path / "report.html"
    args = ["report", str(enc), "--report", str(src), "--out", str(out), "--accept-unread"]
    got = runner.invoke(cli, args)
    assert got.exit_code in (0, 1), got.output
    html = out.read_text()
    assert "Not read from the scanner report" in html and "18/03/2026" in html
    assert "SMITH" not in html and "MRN-99887766" not in html


ROWS_WITH_PRIVATE_WORDS = """\
Exam Date: 03/18/2026
Scanner: Hologic Horizon A
Patient: SMITH, MARY     T-score vs. White Female. Source: 2012 BMDCS/NHANES White Female.
LEFT HIP
Region        BMD      T-score    Z-score
Total Hip     0.781    -1.4       -0.5
Mary Smith    63       165
55512345      1957
Femoral Neck  0.612    -2.6       -0.9   see SMITH note
Elbow         0.900    -1.5       -0.5
"""


def test_unread_rows_are_named_by_their_label_never_by_the_line() -> None:
    parsed = parse_report_text(ROWS_WITH_PRIVATE_WORDS)
    said = everything_said(parsed)
    for private in ("SMITH", "Smith", "Mary", "MARY", "55512345", "1957", "165"):
        assert private not in said, private
    shown = {u.line: u.text for u in parsed.unread}
    assert shown[7] == "" and shown[8] == ""  # listed, but the label is not repeated
    assert shown[9] == "Femoral Neck"  # a region's label is its name
    assert shown[10] == ""  # a word that names no region may be a name: never quoted
    assert parsed.reference == ["T-score vs. White Female. Source: 2012 BMDCS/NHANES White Female."]


# --- 3. two-decimal scores ------------------------------------------------------------------

LUNAR_TWO_DECIMALS = """\
GE Healthcare
Measured: 3/18/2026

AP Spine Bone Density
Densitometry: USA (Combined NHANES/Lunar)
Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
L1-L4     0.982          82        -1.95         96        -0.3

DualFemur Bone Density
Region         BMD (g/cm2)   YA T-score   AM Z-score
Neck Left      0.781         -2.45        -0.35
Total Left     0.826         -1.5         -0.3
Lunar Prodigy DF+500475   enCORE 16
"""


def test_two_decimal_scores_are_read_as_printed_and_rounded_by_the_engine(
    code: Any,
) -> None:
    parsed = parse_report_text(LUNAR_TWO_DECIMALS)
    assert parsed.unread == []
    got = results(parsed)
    assert got[("lumbar_spine", "L1-L4")] == (0.982, -1.95, -0.3)
    assert got[("left_hip", "femoral_neck")] == (0.781, -2.45, -0.35)
    shown = render_parsed_text(parsed)
    assert "-1.95" in shown and "-2.45" in shown  # not a binary-rounded -1.9
    enc = merge_report_into_encounter(make_encounter(results=[]), parsed)
    reading = code(enc).interpretation
    assert reading.category == "osteoporosis"  # -2.45 is -2.5 (half away from zero)
    spine = make_encounter(exam__sites=["lumbar_spine"], results=[])
    spine_only = merge_report_into_encounter(spine, parsed)
    assert code(spine_only).interpretation.category == "low_bone_mass"  # -1.95 is -2.0


# --- 4. decimal commas ------------------------------------------------------------------------

LUNAR_COMMAS = """\
GE Healthcare                       Lunar Prodigy Advance
Measured: 18.03.2026

AP Spine Bone Density
Densitometry: Europe (Combined NHANES/Lunar)
Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
L1-L4     0,982          82        \u22121,8          96        \u22120,3

Left Femur Bone Density
Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
Neck      0,581          57        \u22122,9          75        \u22122,3
Total     0.826          81        \u22121.5          95        \u22120.3
Lunar Prodigy Advance   enCORE 16
"""


def test_decimal_commas_are_read_where_the_columns_leave_no_doubt() -> None:
    parsed = parse_report_text(LUNAR_COMMAS)
    assert parsed.unread == []
    got = results(parsed)
    assert got[("lumbar_spine", "L1-L4")] == (0.982, -1.8, -0.3)
    assert got[("left_hip", "femoral_neck")] == (0.581, -2.9, -2.3)
    assert got[("left_hip", "total_hip")] == (0.826, -1.5, -0.3)


def test_a_comma_that_may_group_thousands_is_not_guessed() -> None:
    text = (
        "HOLOGIC\nScan Date: March 02, 2026\nScan Type: f Left Hip\nDXA Results Summary:\n"
        "Region Area(cm2) BMC(g) BMD(g/cm2) T-score Z-score\n"
        "Total 34,23 1,234 -1,2 -0,1\n"
        "Neck 4,91 3,29 0,670 -2,9 -1,0\n"
    )
    parsed = parse_report_text(text)
    got = results(parsed)
    assert got[("left_hip", "femoral_neck")] == (0.670, -2.9, -1.0)
    assert ("left_hip", "total_hip") not in got  # '1,234': 1.234 g/cm2 or 1234 g?
    assert 6 in unread_lines(parsed)


# --- 5. the scan date -----------------------------------------------------------------------


def test_the_scan_date_is_this_exams_never_a_prior_or_the_birth_date() -> None:
    text = (
        "DXA BONE DENSITOMETRY REPORT\n"
        "Birth Date: 4/2/1957         Measured: 3/18/2026  9:41:07 AM (16)\n"
        "Prior Study Date: 04/02/2024\n"
        "Last Exam Date: 2023-01-05\n"
        "GE Healthcare Lunar\n"
        "AP Spine Bone Density\n"
        "Region    BMD (g/cm2)    YA T-score    AM Z-score\n"
        "L1-L4     0.982          -1.8          -0.3\n"
    )
    parsed = parse_report_text(text)
    assert str(parsed.scan_date) == "2026-03-18"
    assert parsed.unread == []  # the prior dates are not 'a second, different scan date'


# --- 6. rows that vanished ------------------------------------------------------------------


def test_single_value_rows_are_read_or_listed_never_dropped() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\n\n"
        "Region            BMD      T-score\n"
        "L1-L4             0.922    -0.7\n"
        "Left 1/3 Radius            -2.7\n"
        "Lt Femoral Neck            -2.6\n"
        "Neck Lft                   -2.4\n"
    )
    parsed = parse_report_text(text)
    got = results(parsed)
    assert got[("left_forearm", "radius_33")] == (None, -2.7, None)
    assert got[("left_hip", "femoral_neck")] == (None, -2.6, None)
    # Listed by its region word: 'Lft' is not one, and any word that is not may be a name.
    assert [(u.line, u.text) for u in parsed.unread] == [(8, "Neck")]


def test_labels_ending_in_a_colon_are_read() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\n\nLEFT HIP\n"
        "Region              BMD      T-score    Z-score\n"
        "L1-L4:              0.922    -0.7       0.1\n"
        "Total Hip           0.701    -1.6       -0.6\n"
        "Femoral Neck:       0.598    -2.8       -1.2\n"
    )
    parsed = parse_report_text(text)
    assert parsed.unread == []
    got = results(parsed)
    assert got[("lumbar_spine", "L1-L4")] == (0.922, -0.7, 0.1)
    assert got[("left_hip", "femoral_neck")] == (0.598, -2.8, -1.2)


def test_a_minus_sign_parted_by_a_space_is_never_flipped() -> None:
    text = (
        "GE Healthcare\nMeasured: 3/18/2026  9:41:07 AM (16)\n\nAP Spine Bone Density\n"
        "Region    BMD (g/cm2)    YA T-score    AM Z-score\n"
        "L1-L4     0.882          \u2212 2.6         \u2212 0.3\n"
        "L2-L4     0.867          \u2212 2.7\n"
    )
    parsed = parse_report_text(text)
    got = results(parsed)
    assert got[("lumbar_spine", "L1-L4")] == (0.882, -2.6, -0.3)  # the only reading
    assert got[("lumbar_spine", "L2-L4")] == (0.867, None, None)  # -2.7 T or blank T, Z +2.7
    assert [(u.line, u.text) for u in parsed.unread] == [(7, "L2-L4")]


def test_a_result_written_as_a_sentence_is_listed() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\n\nLUMBAR SPINE\n"
        "Region        BMD      T-score    Z-score\n"
        "L1-L4         0.922    -0.7       0.1\n"
        "The BMD at L1-L4 is 0.922 g/cm2 with a T-score of -0.7.\n"
        "LEFT HIP: Femoral neck BMD 0.612 g/cm2, T-score -2.7, Z-score -1.1.\n"
    )
    parsed = parse_report_text(text)
    assert unread_lines(parsed) == [8]  # line 7 says what the table says


# --- 7. another study's values --------------------------------------------------------------

DICTATION_PRIOR_FIRST = """\
DXA BONE DENSITOMETRY
Patient: DOE, JANE SYNTH     MRN: 55512345     DOB: 01/02/1950
Exam Date: 03/18/2026
Scanner: Hologic Horizon A
COMPARISON: Prior study dated 04/02/2024.

Prior study results (04/02/2024):
Region          BMD     T-score   Z-score
L1-L4           0.850   -1.4      -0.2
Left Total Hip  0.790   -1.3      -0.4
Left Neck       0.650   -2.6      -1.0

CURRENT STUDY:
Region          BMD     T-score   Z-score
L1-L4           0.822   -1.7      -0.4
Right Total Hip 0.801   -1.2      -0.3
Right Neck      0.701   -1.6      -0.5
"""


def test_a_prior_studys_table_is_kept_out_and_listed() -> None:
    parsed = parse_report_text(DICTATION_PRIOR_FIRST)
    assert results(parsed) == {
        ("lumbar_spine", "L1-L4"): (0.822, -1.7, -0.4),
        ("right_hip", "total_hip"): (0.801, -1.2, -0.3),
        ("right_hip", "femoral_neck"): (0.701, -1.6, -0.5),
    }
    assert [(u.line, u.text) for u in parsed.unread] == [
        (9, "L1-L4"),
        (10, "Left Total Hip"),
        (11, "Left Neck"),
    ]
    assert all("another study" in u.reason for u in parsed.unread)


def test_a_side_named_in_a_prior_block_does_not_carry_over_to_this_exam() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\nPRIOR STUDY:\nLEFT HIP\n"
        "Region        BMD      T-score    Z-score\n"
        "Total Hip     0.801    -1.2       -0.3\n"
        "CURRENT STUDY:\n"
        "Region        BMD      T-score    Z-score\n"
        "Total Hip     0.781    -1.4       -0.5\n"
    )
    parsed = parse_report_text(text)
    assert parsed.results == []  # neither the prior's value nor a guessed side
    assert [(u.line, u.text) for u in parsed.unread][:2] == [(6, "Total Hip"), (9, "Total Hip")]


def test_a_comparison_table_after_the_results_is_not_read_into_them() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\nCOMPARISON: None.\nFINDINGS:\n"
        "Region            BMD     T-score   Z-score\n"
        "L1-L4             0.822   -1.7      -0.4\n"
        "Right Total Hip   0.801   -1.2      -0.3\n\n"
        "Region            Prior BMD   Current BMD   Change (%)\n"
        "L1-L4             0.850       0.822         -3.3\n"
        "Left Total Hip    0.790       0.771         -2.4\n"
    )
    parsed = parse_report_text(text)
    assert results(parsed) == {
        ("lumbar_spine", "L1-L4"): (0.822, -1.7, -0.4),
        ("right_hip", "total_hip"): (0.801, -1.2, -0.3),
    }
    assert unread_lines(parsed) == [10, 11]


def test_a_change_column_is_never_read_as_a_z_score() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\n\nLEFT HIP\n"
        "Region        BMD      T-score    Z-score    Change vs prior (%)\n"
        "Total         0.801    -1.2       -0.3       -1.1\n"
        "Neck          0.632    -1.9                  -2.8\n"
    )
    got = results(parse_report_text(text))
    assert got[("left_hip", "total_hip")] == (0.801, -1.2, -0.3)
    assert got[("left_hip", "femoral_neck")] == (0.632, -1.9, None)


def test_a_scan_dexacode_does_not_read_is_not_read_as_the_hip_above() -> None:
    text = (
        "GE Healthcare\nMeasured: 3/18/2026\n\nRight Femur Bone Density\n"
        "Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score\n"
        "Neck      0.781          77        -1.9          95        -0.3\n"
        "Total     0.826          81        -1.5          95        -0.3\n\n"
        "Total Body Bone Density\n"
        "Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score\n"
        "Head      2.011          -         -             -         -\n"
        "Total     1.002          85        -2.6          92        -1.1\n"
    )
    parsed = parse_report_text(text)
    assert results(parsed)[("right_hip", "total_hip")] == (0.826, -1.5, -0.3)
    [item] = parsed.unread
    assert item.line == 9 and "total body" in item.reason and "printed again" not in item.reason


# --- 8. sides -------------------------------------------------------------------------------


@pytest.mark.parametrize("prose", ["Note: right hip prosthesis", "Right hip not scanned"])
def test_prose_never_changes_the_side_a_heading_gave(prose: str) -> None:
    text = (
        "HOLOGIC\nScan Date: March 02, 2026\nScan Type: f Left Hip\nDXA Results Summary:\n"
        f"{prose}\n"
        "Region   Area(cm2)  BMC(g)  BMD(g/cm2)  T-score  Z-score\n"
        "Neck     4.91       3.29    0.570       -2.7     -0.9\n"
        "Total    34.23      28.02   0.718       -2.2     -0.1\n"
    )
    got = results(parse_report_text(text))
    assert set(got) == {("left_hip", "femoral_neck"), ("left_hip", "total_hip")}


LUNAR_TWO_FEMURS = """\
Synthetic Imaging Centre                                   GE Healthcare
Measured: 3/18/2026  9:41:07 AM (16)

Left Femur Bone Density
Region         BMD (g/cm2)   YA (%)   YA T-score   AM (%)   AM Z-score
Neck           0.781         77       -1.9         95       -0.3
Total          0.826         81       -1.5         95       -0.3
Lunar Prodigy DF+500475                    enCORE 16 SP1              Page: 1 of 2

Right Femur Bone Density                   enCORE 16 SP1
Region         BMD (g/cm2)   YA (%)   YA T-score   AM (%)   AM Z-score
Neck           0.611         60       -2.7         80       -1.3
Troch          0.540         62       -2.2         82       -1.0
Total          0.726         71       -2.3         85       -1.0
"""


def test_a_lunar_section_with_footer_words_still_names_the_side() -> None:
    parsed = parse_report_text(LUNAR_TWO_FEMURS)
    assert parsed.unread == []
    assert results(parsed) == {
        ("left_hip", "femoral_neck"): (0.781, -1.9, -0.3),
        ("left_hip", "total_hip"): (0.826, -1.5, -0.3),
        ("right_hip", "femoral_neck"): (0.611, -2.7, -1.3),
        ("right_hip", "trochanter"): (0.540, -2.2, -1.0),
        ("right_hip", "total_hip"): (0.726, -2.3, -1.0),
    }


def test_two_headings_giving_one_side_two_values_is_said_and_neither_used() -> None:
    text = LUNAR_TWO_FEMURS.replace("Right Femur", "Left Femur")
    parsed = parse_report_text(text)
    got = results(parsed)
    assert ("left_hip", "femoral_neck") not in got and ("left_hip", "total_hip") not in got
    assert ("left_hip", "trochanter") in got  # printed once: nothing to doubt
    said = {u.line: u.reason for u in parsed.unread}
    assert set(said) == {6, 7, 12, 14}
    assert "two different left hip femoral_neck rows" in said[6]
    assert "wrong side" in said[12] and "printed again" not in said[12]


# --- 9. shorthand ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "label", "key"),
    [
        ("LUMBAR SPINE", "L1-4", ("lumbar_spine", "L1-L4")),
        ("LUMBAR SPINE", "L2-4", ("lumbar_spine", "L2-L4")),
        ("LEFT FOREARM", "1/3 radius", ("left_forearm", "radius_33")),
        ("LEFT FOREARM", "33% Radius", ("left_forearm", "radius_33")),
        ("FOREARM", "Left Radius 33%", ("left_forearm", "radius_33")),
        ("FOREARM", "Radius 1/3 Right", ("right_forearm", "radius_33")),
        ("BILATERAL HIPS", "Lt Femoral Neck", ("left_hip", "femoral_neck")),
        ("BILATERAL HIPS", "Rt Total Hip", ("right_hip", "total_hip")),
        ("BILATERAL HIPS", "R Total Hip", ("right_hip", "total_hip")),
        ("BILATERAL HIPS", "Femoral Neck (Left)", ("left_hip", "femoral_neck")),
        ("BILATERAL HIPS", "Neck - Right", ("right_hip", "femoral_neck")),
    ],
)
def test_common_shorthand_is_read(heading: str, label: str, key: tuple[str, str]) -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: GE Lunar iDXA\n\n"
        f"{heading}\nRegion                 BMD     T-score   Z-score\n"
        f"{label:<23}0.612   -2.7      -1.2\n"
    )
    parsed = parse_report_text(text)
    assert parsed.unread == []
    assert results(parsed) == {key: (0.612, -2.7, -1.2)}


def test_a_bare_r_is_the_radius_never_a_right_hip() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: GE Lunar iDXA\n\nBILATERAL HIPS\n"
        "Region                 BMD     T-score   Z-score\n"
        "R Total                0.612   -2.7      -1.2\n"
        "L Total Hip            0.701   -2.1      -0.8\n"
    )
    parsed = parse_report_text(text)
    assert results(parsed) == {("left_hip", "total_hip"): (0.701, -2.1, -0.8)}
    assert unread_lines(parsed) == [6]


HOLOGIC_SPINE_TOTAL = """\
HOLOGIC
Scan Date: March 02, 2026   ID: A0302260B
Scan Type: a Lumbar Spine
DXA Results Summary:
Region   Area(cm2)  BMC(g)  BMD(g/cm2)  T-score  Z-score
L1       13.26      9.58    0.722       -2.4     -1.0
L2       14.01      10.33   0.737       -2.6     -1.2
L3       15.10      11.90   0.788       -2.5     -1.1
L4       16.40      13.98   0.852       -2.3     -0.9
Total    58.77      45.79   0.779       -2.5     -1.1
"""


def test_a_hologic_spine_total_is_the_vertebrae_listed_above_it() -> None:
    parsed = parse_report_text(HOLOGIC_SPINE_TOTAL)
    assert parsed.unread == []
    assert results(parsed)[("lumbar_spine", "L1-L4")] == (0.779, -2.5, -1.1)
    excluded = HOLOGIC_SPINE_TOTAL.replace(
        "L3       15.10      11.90   0.788       -2.5     -1.1\n", ""
    )
    assert ("lumbar_spine", "L1-L2,L4") in results(parse_report_text(excluded))
    # A vertebra's row not read would change the Total's name: it is not named then.
    l3_unread = HOLOGIC_SPINE_TOTAL.replace("0.788       -2.5", "0.79        -2.5")
    parsed = parse_report_text(l3_unread)
    assert not any(region.startswith("L1-") or "," in region for _, region in results(parsed))
    assert 10 in unread_lines(parsed)


# --- 10. review: a prior-study word in a sentence, header fields, trend tables -------------

RESULTS_TABLE = """\
Region              BMD (g/cm2)   T-score   Z-score
L1-L4               0.982         -1.8      -0.3
Left Femoral Neck   0.640         -2.2      -0.5
Left Total Hip      0.760         -1.6      -0.4
"""
READ_IN_FULL = {
    ("lumbar_spine", "L1-L4"): (0.982, -1.8, -0.3),
    ("left_hip", "femoral_neck"): (0.640, -2.2, -0.5),
    ("left_hip", "total_hip"): (0.760, -1.6, -0.4),
}


@pytest.mark.parametrize(
    "before",
    [
        "HISTORY: Postmenopausal. Screening.\nCOMPARISON:\nNone.\n\nRESULTS:\n",
        "COMPARISON:\n04/02/2024\n\nRESULTS:\n",
        "Comparison with prior study\n\nRESULTS:\n",
        "No prior studies are available for comparison.\n\n",
        "This is the baseline study.\n\n",
    ],
)
def test_a_prior_study_word_never_swallows_this_exams_table(before: str) -> None:
    text = (
        "BONE DENSITOMETRY (DXA)\nPatient: DOE, JANE SYNTH   MRN: 555123   DOB: 01/02/1950\n"
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\n"
        f"{before}{RESULTS_TABLE}\n"
        "IMPRESSION: Osteopenia (low bone mass). Lowest T-score -2.2 at the left femoral neck.\n"
    )
    parsed = parse_report_text(text)
    assert results(parsed) == READ_IN_FULL
    assert parsed.unread == []


def test_a_prior_block_ends_at_the_next_results_table() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\nPRIOR STUDY:\n"
        "Region              BMD (g/cm2)   T-score   Z-score\n"
        "L1-L4               0.999         -1.5      -0.1\n\n"
        f"{RESULTS_TABLE}"
    )
    parsed = parse_report_text(text)
    assert results(parsed) == READ_IN_FULL
    assert [(u.line, u.text) for u in parsed.unread] == [(5, "L1-L4")]


HEADER_COLUMNS = """\
DXA BONE DENSITOMETRY REPORT
Patient Name      Patient ID    Age    Height
SYNTHSON          55512345      76     160.5
Exam Date: 03/18/2026
Scanner: Hologic Horizon A

LUMBAR SPINE
Region        BMD      T-score    Z-score
L1-L4         0.922    -0.7       0.1
"""


def test_header_fields_above_every_table_are_neither_listed_nor_refused(tmp_path: Path) -> None:
    parsed = parse_report_text(HEADER_COLUMNS)
    assert results(parsed) == {("lumbar_spine", "L1-L4"): (0.922, -0.7, 0.1)}
    assert parsed.unread == []
    got = code_report(tmp_path, HEADER_COLUMNS)
    assert got.exit_code in (0, 1), got.stderr
    assert "SYNTHSON" not in got.stderr + got.stdout


def test_a_row_label_naming_no_region_is_never_quoted(tmp_path: Path) -> None:
    text = HEADER_COLUMNS + "Synthson      0.922    -0.7       0.1\n"
    parsed = parse_report_text(text)
    assert [(u.line, u.text) for u in parsed.unread] == [(10, "")]
    assert "Synthson" not in everything_said(parsed)
    got = code_report(tmp_path, text)
    assert got.exit_code == 2 and "line 10" in got.stderr and "Synthson" not in got.stderr


HOLOGIC_TREND = """\
HOLOGIC            Synthetic Test Clinic                              Page 1 of 1
Name: TEST, SYNTHETIC D              Patient ID: SYN-0004
Scan Date: November 12, 2025   ID: A1112250D
Scan Type: f Left Hip
DXA Results Summary:
Region      Area(cm2)  BMC(g)  BMD(g/cm2)  T-score  PR (%)  Z-score  AM (%)
Neck        4.91       3.29    0.670       -1.6     79      -0.1     99
Total       33.10      25.42   0.768       -1.5     81      -0.3     96
Total BMD CV 1.0%

Trend: Total
Scan Date    Age   BMD (g/cm2)   Change vs Baseline (g/cm2)  (%)    Change vs Previous  (%)
11/12/2025   69    0.768         -0.020                      -2.5   -0.010              -1.3
10/05/2023   67    0.778         -0.010                      -1.3   -0.010              -1.3
09/01/2021   65    0.788
"""

LUNAR_TREND = """\
Synthetic Imaging Centre                                   GE Healthcare
Patient:       TEST, SYNTHETIC C          Measured: 18.03.2026  9:41:07 AM (16)

AP Spine Bone Density
Region    BMD (g/cm2)    YA (%)    YA T-score    AM (%)    AM Z-score
L1-L4     0.982          82        -1.8          96        -0.3

Left Femur Bone Density
Region         BMD (g/cm2)   YA (%)   YA T-score   AM (%)   AM Z-score
Neck           0.781         77       -1.9         95       -0.3
Total          0.826         81       -1.5         95       -0.3

Trend: Total
Measured Date   Age   BMD (g/cm2)   Change vs Previous (g/cm2)   Change vs Previous (%)
3/18/2026       68    0.826         -0.012                       -1.4
3/12/2024       66    0.838         -                            -
"""


@pytest.mark.parametrize(
    ("report", "lines"), [(HOLOGIC_TREND, [13, 14, 15]), (LUNAR_TREND, [15, 16])]
)
def test_a_trend_table_is_another_studys_and_never_refuses_the_report(
    tmp_path: Path, report: str, lines: list[int]
) -> None:
    parsed = parse_report_text(report)
    assert ("left_hip", "total_hip") in results(parsed)
    assert [u.line for u in parsed.unread] == lines
    assert all(u.other_study and "another study" in u.reason for u in parsed.unread)
    shown = render_parsed_text(parsed)
    assert "NOT READ (0)" in shown and "ANOTHER STUDY" in shown
    got = code_report(tmp_path, report)
    assert got.exit_code in (0, 1), got.stderr
    # Nothing said of unread rows (the encounter's date is not the scan's: that is said).
    said = [line for line in got.stderr.splitlines() if "scan date" not in line]
    assert said == []


def test_the_refusal_asks_for_this_exams_results_only(tmp_path: Path) -> None:
    report = HOLOGIC_TREND.replace("0.670       -1.6", "0.67        -1.6")
    got = code_report(tmp_path, report)
    assert got.exit_code == 2
    assert "1 item not read (line 7 Neck)" in got.stderr
    assert "this exam's results" in got.stderr and "never a prior study's" in got.stderr


def test_one_third_spelled_out_is_the_radius() -> None:
    text = (
        "Exam Date: 03/18/2026\nScanner: Hologic Horizon A\n\n"
        "Region              BMD      T-score\n"
        "L1-L4               0.922    -0.7\n"
        "Left One Third      0.600    -2.6\n"
    )
    parsed = parse_report_text(text)
    assert parsed.unread == []
    assert results(parsed)[("left_forearm", "radius_33")] == (0.600, -2.6, None)
