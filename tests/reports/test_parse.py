"""Reading scanner report texts: both layouts, and the noise real text extraction makes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dexacode.reports import ReportError, parse_report_text, read_report_file

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"


def by_key(text: str) -> dict[tuple[str, str], tuple[float | None, float | None, float | None]]:
    parsed = parse_report_text(text)
    return {(r.site, r.region): (r.bmd, r.t_score, r.z_score) for r in parsed.results}


def test_hologic_spine_and_dual_hip() -> None:
    parsed = read_report_file(DATA / "hologic_spine_dualhip.txt")
    assert parsed.vendor == "hologic"
    assert parsed.scanner == "Hologic Horizon W"
    assert parsed.scan_date == dt.date(2025, 11, 12)
    assert parsed.unread == []
    got = {(r.site, r.region): (r.bmd, r.t_score, r.z_score) for r in parsed.results}
    assert got[("lumbar_spine", "L1-L4")] == (0.792, -1.9, -0.2)
    assert got[("lumbar_spine", "L1,L3")] == (0.823, -1.4, 0.3)
    # 'L1,L2,L4' and 'L1-L2,L4' are the same vertebrae: one region, written canonically.
    assert got[("lumbar_spine", "L1-L2,L4")] == (0.744, -2.2, -0.6)
    assert ("lumbar_spine", "L1,L2,L4") not in got
    assert got[("left_hip", "femoral_neck")] == (0.670, -1.6, -0.1)
    assert got[("right_hip", "total_hip")] == (0.752, -1.6, -0.4)
    assert got[("left_hip", "total_hip_mean")] == (0.760, -1.5, -0.3)
    assert got[("left_hip", "femoral_neck_diff")] == (0.029, 0.3, 0.3)
    rows = {(r.site, r.region): r for r in parsed.rows}
    assert rows[("lumbar_spine", "L1")].young_adult_pct == 74
    assert rows[("lumbar_spine", "L1")].age_matched_pct == 92
    assert rows[("left_hip", "total_hip_mean")].bilateral == "mean"
    assert any("White Female" in r for r in parsed.reference)


def test_hologic_blank_t_column_placed_by_position() -> None:
    parsed = read_report_file(DATA / "hologic_spine_young.txt")
    assert parsed.unread == []
    got = {r.region: (r.bmd, r.t_score, r.z_score) for r in parsed.results}
    assert got["L1-L4"] == (0.935, None, -0.8)
    assert got["L1"] == (0.859, None, -1.1)


def test_blank_cell_without_column_layout_is_not_guessed() -> None:
    text = (DATA / "hologic_spine_young.txt").read_text()
    squeezed = "\n".join(" ".join(line.split()) for line in text.splitlines())
    parsed = parse_report_text(squeezed)
    got = {r.region: r for r in parsed.results}
    assert got["L1-L4"].bmd == 0.935
    assert got["L1-L4"].t_score is None and got["L1-L4"].z_score is None
    reasons = [u.reason for u in parsed.unread if "L1-L4" in u.text]
    assert reasons and "T-score or Z-score" in reasons[0]


def test_lunar_spine_and_dual_femur() -> None:
    parsed = read_report_file(DATA / "lunar_spine_dualfemur.txt")
    assert parsed.vendor == "lunar"
    assert parsed.scanner == "GE Lunar Prodigy"
    assert parsed.scan_date == dt.date(2026, 3, 18)  # Measured:, not Birth Date:
    assert parsed.unread == []
    got = {(r.site, r.region): (r.bmd, r.t_score, r.z_score) for r in parsed.results}
    assert got[("lumbar_spine", "L1-L4")] == (0.982, -1.8, -0.3)
    assert got[("lumbar_spine", "L4")] == (0.886, -2.4, -1.1)
    # The ancillary T12, printed with no score, is kept as a row but is no result: coded
    # with the sites the exam measured, it never raises RESULT-SITE-NOT-MEASURED.
    assert not any(site == "thoracic_spine" for site, _ in got)
    [t12] = [r for r in parsed.rows if r.region == "T12"]
    assert t12.ancillary and t12.bmd == 0.871
    assert got[("left_hip", "femoral_neck")] == (0.781, -1.9, -0.3)
    assert got[("right_hip", "total_hip")] == (0.838, -1.4, -0.2)
    assert got[("left_hip", "total_hip_diff")] == (0.012, 0.1, 0.1)


LUNAR_NOISY = """\
GE Healthcare  Lunar iDXA  enCORE 18
Measured: 2024-06-03  08:10
Left Femur Bone Density
Densitometry: USA (Combined NHANES/Lunar)
Region      BMD (g/cm2)   Young-Adult (%)   T-Score   Age-Matched (%)   Z-Score
Neck        0.702         71                \u22122.4      88                \u22120.9
Wards       0.512         --                --        --                --
Page 1 of 2          Patient ID: SYN-0004          Printed 2024-06-03
Synthetic Imaging Centre
Troch       0.640         78                \u22121.6      92                \u22120.5
Total       0.761         74                \u2212
  2.1   90   \u22120.7
Total       0.77          74                \u22122.1      90                \u22120.7
Upper Neck  0.680  70  -2.5  87  -1.0  extra words here
Shaft       1.010  85  -1.2  97  -0.2
Elbow       0.900  80  -1.5  95  -0.5
"""


def test_lunar_noise() -> None:
    parsed = parse_report_text(LUNAR_NOISY)
    assert parsed.vendor == "lunar"
    assert parsed.scanner == "GE Lunar iDXA"
    got = {(r.site, r.region): (r.bmd, r.t_score, r.z_score) for r in parsed.results}
    assert got[("left_hip", "femoral_neck")] == (0.702, -2.4, -0.9)  # Unicode minus
    assert got[("left_hip", "trochanter")] == (0.640, -1.6, -0.5)  # after a page footer
    assert got[("left_hip", "shaft")] == (1.010, -1.2, -0.2)
    assert got[("left_hip", "wards")] == (0.512, None, None)  # '--' cells are blank
    unread = {u.text.split()[0]: u.reason for u in parsed.unread if u.text}
    # 'Elbow' names no region: listed by its line, the word not quoted (it could be a name).
    line = next(n for n, t in enumerate(LUNAR_NOISY.splitlines(), 1) if t.startswith("Elbow"))
    elbow = [(u.text, "not a region" in u.reason) for u in parsed.unread if u.line == line]
    assert elbow == [("", True)]
    assert "words after the values" in unread["Upper"]
    # The wrapped Total row ('-' then '2.1' on the next line) is never read as -2.1: its
    # T and Z are missing, the orphan line and the misfit repeat are listed.
    assert got[("left_hip", "total_hip")] == (0.761, None, None)
    assert unread["2.1"] == "the row has no label"
    assert any("does not look like a BMD" in u.reason for u in parsed.unread)


HOLOGIC_FOREARM = """\
HOLOGIC
Scan Date: 2025-01-20
Scan Type: r Left Forearm
DXA Results Summary:
Region   Area(cm\u00b2)  BMC(g)  BMD(g/cm\u00b2)  T-score  Z-score
R UD     3.21       1.06    0.330       -2.6     -1.2
R MID    6.05       3.19    0.527       -2.0     -0.7
R 1/3    2.87       1.82    0.634       -1.8     -0.4
R TOTAL  12.13      6.07    0.500       -2.2     -0.9
"""


def test_hologic_forearm() -> None:
    got = by_key(HOLOGIC_FOREARM)
    assert got[("left_forearm", "radius_33")] == (0.634, -1.8, -0.4)
    assert got[("left_forearm", "radius_ultradistal")] == (0.330, -2.6, -1.2)
    assert got[("left_forearm", "radius_total")] == (0.500, -2.2, -0.9)


def test_hip_without_side_is_reported() -> None:
    text = (
        "DXA Results Summary:\nScan Type: f Hip\n"
        "Region Area BMC BMD T-score Z-score\nNeck 4.91 3.29 0.670 -1.6 -0.1\n"
    )
    parsed = parse_report_text(text)
    assert parsed.results == []
    assert any("side" in u.reason for u in parsed.unread)


def test_wrapped_row_and_header() -> None:
    text = (
        "DXA Results Summary:\nScan Type: a Lumbar Spine\n"
        "Region  Area(cm2)  BMC(g)  BMD(g/cm2)\n  T-score  Z-score\n"
        "L1-L4  57.46  45.49\n  0.792  -1.9  -0.2\n"
    )
    assert by_key(text)[("lumbar_spine", "L1-L4")] == (0.792, -1.9, -0.2)


def test_not_a_report() -> None:
    with pytest.raises(ReportError, match="no results table"):
        parse_report_text("Dear colleague,\nthank you for the referral.\n")


def test_spine_total_row_is_not_guessed() -> None:
    text = (
        "DXA Results Summary:\nScan Type: a Lumbar Spine\n"
        "Region Area BMC BMD T-score Z-score\nTotal 57.46 45.49 0.792 -1.9 -0.2\n"
    )
    parsed = parse_report_text(text)
    assert parsed.results == []
    assert "which vertebrae" in parsed.unread[0].reason
