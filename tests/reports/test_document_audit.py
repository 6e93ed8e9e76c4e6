"""The physician's report document after its audit: the prior study's date and device, the
LSC as printed, another patient's printout, the VFA glucocorticoid criterion, and the
reader's excluded vertebrae."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dexacode.cli import app
from dexacode.contract import Result
from dexacode.iscd import (
    Precision,
    Prior,
    compare,
    comparison_sentences,
    figures,
    load_iscd_rules,
)
from tests.conftest import make_encounter

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "dexacode" / "reports" / "examples"
HOLOGIC = (EXAMPLES / "hologic-spine-dualhip.txt").read_text()  # 2025-11-12, F, 68
LUNAR = (EXAMPLES / "lunar-spine-dualfemur.txt").read_text()  # 2026-03-18, F, 68
BORN = "1957-04-02"  # the example printouts' patient
DEVICE = "Hologic Horizon W (S/N 300002M)"
runner = CliRunner()


def run(tmp_path: Path, *extra: str, report: str | None = HOLOGIC, **enc: Any) -> Any:
    """``dexacode report`` of a female patient born on BORN, measured on the report's day."""
    changes: dict[str, Any] = {
        "date_of_service": "2025-11-12",
        "patient__birth_date": BORN,
        "exam__sites": ["lumbar_spine", "left_hip", "right_hip"],
        "results": [],
    }
    changes.update(enc)
    src = tmp_path / "enc.json"
    src.write_text(json.dumps(make_encounter(**changes)))
    args = ["report", str(src), "--out", str(tmp_path / "r.html"), "--no-store", *extra]
    if report is not None:
        (tmp_path / "report.txt").write_text(report)
        args += ["--report", str(tmp_path / "report.txt")]
    return runner.invoke(app, args)


def prior_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "prior.txt"
    path.write_text(text)
    return str(path)


def text_of(tmp_path: Path) -> str:
    html = (tmp_path / "r.html").read_text()
    return " ".join(re.sub("<[^>]+>", " ", html).split())


def comparison_section(tmp_path: Path) -> str:
    text = text_of(tmp_path)
    return text[text.index("Comparison with the prior study") : text.index("Coding summary")]


EARLIER = HOLOGIC.replace("November 12, 2025", "October 1, 2023")


# --- 1. a prior study dated on or after this exam is refused -------------------------------


def test_a_prior_dated_after_this_exam_is_refused(tmp_path: Path) -> None:
    later = HOLOGIC.replace("November 12, 2025", "March 3, 2026")
    got = run(tmp_path, "--prior", prior_file(tmp_path, later))
    assert got.exit_code == 2 and not (tmp_path / "r.html").exists()
    assert "the prior study is dated on or after this exam" in got.stderr
    assert "2026" not in got.stderr and "2025" not in got.stderr


def test_the_exams_own_printout_is_not_its_prior(tmp_path: Path) -> None:
    got = run(tmp_path, "--prior", prior_file(tmp_path, HOLOGIC))
    assert got.exit_code == 2 and not (tmp_path / "r.html").exists()
    assert "on or after this exam" in got.stderr


def test_a_prior_the_day_before_is_compared(tmp_path: Path) -> None:
    before = HOLOGIC.replace("November 12, 2025", "November 11, 2025")
    got = run(tmp_path, "--prior", prior_file(tmp_path, before))
    assert got.exit_code in (0, 1), got.output
    assert "stable" in comparison_section(tmp_path)


def test_an_options_prior_dated_after_this_exam_is_refused(tmp_path: Path) -> None:
    opts = tmp_path / "o.toml"
    opts.write_text(
        '[prior]\ndate = 2025-11-12\nscanner = "hologic"\n'
        'results = [{site = "left_hip", region = "total_hip", bmd = 0.800}]\n'
    )
    got = run(tmp_path, "--options", str(opts))
    assert got.exit_code == 2 and "on or after this exam" in got.stderr


# --- 2. the maker is compared without case -------------------------------------------------


def hip_prior(bmd: float, scanner: str | None, device: str | None = DEVICE) -> Prior:
    return Prior(
        dt.date(2024, 3, 1), [Result(site="left_hip", region="total_hip", bmd=bmd)], scanner, device
    )


def hip_now(bmd: float) -> list[Result]:
    return [Result(site="left_hip", region="total_hip", bmd=bmd, t_score=-1.0)]


def test_the_maker_is_compared_without_case() -> None:
    iscd = load_iscd_rules().in_force(dt.date(2025, 11, 12))
    got = compare(
        hip_now(0.940),
        hip_prior(1.000, "Hologic"),
        iscd,
        precision={},
        spine_region=None,
        scanner="hologic",
        device=DEVICE.lower(),
    )
    assert got.changes[0].verdict == "significant_loss"
    assert not any("another scanner" in n for n in got.notes)
    other = compare(
        hip_now(0.940),
        hip_prior(1.000, "Lunar"),
        iscd,
        precision={},
        spine_region=None,
        scanner="hologic",
        device=DEVICE,
    )
    assert other.changes[0].verdict == "not_judged"


# --- 3. the LSC as printed never contradicts the verdict -----------------------------------


def spine_compare(now: float, then: float, precision: dict[str, Precision]) -> Any:
    iscd = load_iscd_rules().in_force(dt.date(2026, 4, 20))
    return compare(
        [Result(site="lumbar_spine", region="L1-L4", bmd=now, t_score=-1.9)],
        Prior(
            dt.date(2024, 4, 1),
            [Result(site="lumbar_spine", region="L1-L4", bmd=then)],
            "hologic",
            DEVICE,
        ),
        iscd,
        precision=precision,
        spine_region="L1-L4",
        scanner="hologic",
        device=DEVICE,
    )


def test_a_change_just_under_the_lsc_is_printed_under_it() -> None:
    # Default precision 1.9 %: LSC 0.0521 g/cm² (5.26 %); the change is −0.052 (−5.25 %).
    got = spine_compare(0.938, 0.990, {})
    change = got.changes[0]
    assert change.verdict == "stable"
    shown = figures(change)
    assert (shown.change, shown.lsc_g_cm2) == ("−0.0520", "0.0521")
    assert (shown.percent, shown.lsc_percent) == ("−5.25", "5.26")
    said = " ".join(comparison_sentences(got))
    assert "(−0.0520 g/cm², −5.25 %); LSC 0.0521 g/cm² (5.26 %" in said
    assert "LSC 0.052 g/cm²" not in said


def test_a_change_equal_to_the_lsc_is_significant_and_printed_so() -> None:
    precision = {"lumbar_spine": Precision(value=0.010, unit="g/cm2")}  # LSC 0.0277
    equal = spine_compare(0.9723, 1.000, precision).changes[0]
    assert equal.verdict == "significant_loss"
    shown = figures(equal)
    assert shown.change == "−0.028" and shown.lsc_g_cm2 == "0.028"
    under = spine_compare(0.9724, 1.000, precision).changes[0]
    assert under.verdict == "stable"
    shown = figures(under)
    assert (shown.change, shown.lsc_g_cm2) == ("−0.0276", "0.0277")


# --- 4. no change figures across scanner makers; no LSC footnote without an LSC ------------


def test_across_makers_no_change_figures_and_no_lsc_footnote(tmp_path: Path) -> None:
    lunar_before = LUNAR.replace("3/18/2026", "3/18/2024")
    got = run(tmp_path, "--prior", prior_file(tmp_path, lunar_before))
    assert got.exit_code in (0, 1), got.output
    section = comparison_section(tmp_path)
    assert "not judged: another scanner maker" in section
    assert not re.search(r"[+−]0\.\d{3}", section)  # no change in g/cm²
    assert not re.search(r"\d %", section) and "* LSC" not in section
    assert "GE Lunar Prodigy (S/N DF+500475)" in section and DEVICE in section


# --- 5. a change is judged only on one device ----------------------------------------------


def test_another_model_of_the_same_maker_is_not_judged(tmp_path: Path) -> None:
    other = EARLIER.replace("Horizon W (S/N 300002M)", "Discovery A (S/N 45678)")
    got = run(tmp_path, "--prior", prior_file(tmp_path, other))
    assert got.exit_code in (0, 1), got.output
    section = comparison_section(tmp_path)
    assert "not judged: the same device is not confirmed" in section
    assert "stable" not in section
    assert "prior study Hologic Discovery A (S/N 45678); this study " + DEVICE in section


def test_the_same_device_is_judged(tmp_path: Path) -> None:
    got = run(tmp_path, "--prior", prior_file(tmp_path, EARLIER))
    assert got.exit_code in (0, 1), got.output
    section = comparison_section(tmp_path)
    assert "stable" in section and "not confirmed" not in section
    assert f"prior study {DEVICE}; this study {DEVICE}" in section


def test_an_unknown_current_scanner_is_not_judged(tmp_path: Path) -> None:
    results = [
        {"site": "lumbar_spine", "region": "L1-L4", "bmd": 0.85, "t_score": -1.9},
        {"site": "left_hip", "region": "total_hip", "bmd": 0.7, "t_score": -1.6},
    ]
    got = run(
        tmp_path,
        "--prior",
        prior_file(tmp_path, LUNAR),
        report=None,
        date_of_service="2026-04-20",
        results=results,
        exam__sites=["lumbar_spine", "left_hip"],
    )
    assert got.exit_code in (0, 1), got.output
    section = comparison_section(tmp_path)
    assert "not judged: the same device is not confirmed" in section
    assert "this study not known" in section and "significant" not in section


# --- 6. another patient's printout is refused ----------------------------------------------


def test_another_patients_printout_is_refused_naming_fields_not_values(tmp_path: Path) -> None:
    man = {
        "date_of_service": "2026-03-18",
        "patient__sex": "M",
        "patient__birth_date": "1980-06-01",
        "patient__menopausal_status": None,
    }
    for extra in ((), ("--accept-unread",)):
        got = run(tmp_path, *extra, report=LUNAR, **man)
        assert got.exit_code == 2 and not (tmp_path / "r.html").exists()
        assert "is not this encounter's patient's: its sex, age and birth date differ" in got.stderr
        for value in ("Female", "68", "1957", "1980", "45", "SYN-"):
            assert value not in got.stderr


def test_a_printout_of_another_age_is_refused(tmp_path: Path) -> None:
    got = run(tmp_path, **{"patient__birth_date": "1950-01-01"})
    assert got.exit_code == 2 and "its age differs" in got.stderr


def test_this_patients_printout_is_merged(tmp_path: Path) -> None:
    got = run(tmp_path, report=LUNAR, date_of_service="2026-03-18")
    assert got.exit_code in (0, 1), got.output
    assert "L1-L3 is used" in text_of(tmp_path)


# --- 7. the glucocorticoid risk factor meets the VFA criterion ------------------------------


def gc_run(tmp_path: Path, risk_factors: list[str]) -> str:
    results = [
        {"site": "lumbar_spine", "region": "L1-L4", "bmd": 0.85, "t_score": -1.9},
        {"site": "left_hip", "region": "total_hip", "bmd": 0.7, "t_score": -1.6},
    ]
    got = run(
        tmp_path,
        report=None,
        date_of_service="2026-04-20",
        patient__birth_date="1965-01-01",
        patient__risk_factors=risk_factors,
        results=results,
        exam__sites=["lumbar_spine", "left_hip"],
    )
    assert got.exit_code in (0, 1), got.output
    return text_of(tmp_path)


def test_glucocorticoid_therapy_indicates_vfa(tmp_path: Path) -> None:
    text = gc_run(tmp_path, ["glucocorticoid_therapy"])
    assert "Vertebral fracture assessment is indicated (T-score −1.9" in text
    assert "glucocorticoids of 5 mg/day prednisone-equivalent or more for 3 months" in text
    assert "not given: historical height loss, glucocorticoid" not in text


def test_without_the_risk_factor_the_dose_is_still_asked_for(tmp_path: Path) -> None:
    text = gc_run(tmp_path, [])
    assert "No ISCD criterion for vertebral fracture assessment is met" in text
    assert "glucocorticoid dose and duration" in text


# --- 8. the reader's excluded vertebrae and a region left out are named --------------------


def test_the_readers_exclusion_and_a_region_left_out_are_named(tmp_path: Path) -> None:
    opts = tmp_path / "o.toml"
    opts.write_text(
        'excluded_vertebrae = [3]\n[prior]\ndate = 2024-01-01\nscanner = "hologic"\n'
        'results = [{site = "lumbar_spine", region = "L1-L4", bmd = 0.850}, '
        '{site = "left_hip", region = "total_hip", bmd = 0.800}]\n'
    )
    got = run(tmp_path, "--options", str(opts))
    assert got.exit_code in (0, 1), got.output
    text = text_of(tmp_path)
    assert "L1-L2,L4 is used (vertebrae chosen by the reader; L3 excluded by the reader)" in text
    assert (
        "The lumbar spine is not compared: the prior study has no L1-L2,L4 value "
        "(it gives L1-L4)." in text
    )
    assert "The left femoral neck is not compared: the prior study has no value for it." in text


# --- a prior typed in names its device -------------------------------------------------------


def _typed_prior(tmp_path: Path, device_line: str) -> str:
    opts = tmp_path / "o.toml"
    opts.write_text(
        f'[prior]\ndate = 2023-11-02\nscanner = "hologic"\n{device_line}'
        'results = [{site = "left_hip", region = "total_hip", bmd = 0.900}]\n'
    )
    return str(opts)


def test_a_typed_in_prior_on_this_device_is_compared(tmp_path: Path) -> None:
    got = run(tmp_path, "--options", _typed_prior(tmp_path, f'device = "{DEVICE}"\n'))
    assert got.exit_code in (0, 1), got.output
    section = comparison_section(tmp_path)
    assert "left total hip 0.900 0.768 −0.132" in section and "significant loss" in section
    assert "not judged" not in section


def test_a_typed_in_prior_without_its_device_is_not_judged(tmp_path: Path) -> None:
    got = run(tmp_path, "--options", _typed_prior(tmp_path, ""))
    assert got.exit_code in (0, 1), got.output
    assert "the same device is not confirmed" in comparison_section(tmp_path)


def test_code_report_refuses_another_patients_printout_too(tmp_path: Path) -> None:
    src = tmp_path / "enc.json"
    src.write_text(
        json.dumps(
            make_encounter(
                date_of_service="2025-11-12",
                patient__sex="M",
                patient__birth_date="1980-01-01",
                exam__sites=["lumbar_spine", "left_hip", "right_hip"],
                results=[],
                unset=["patient.menopausal_status"],
            )
        )
    )
    (tmp_path / "report.txt").write_text(HOLOGIC)  # a woman of 68
    got = runner.invoke(
        app, ["code", str(src), "--report", str(tmp_path / "report.txt"), "--no-store"]
    )
    assert got.exit_code == 2 and got.stdout == ""
    assert "is not this encounter's patient's: its sex and age differ" in got.stderr
    assert "nothing was coded" in got.stderr and "1957" not in got.stderr


def test_code_report_merges_the_patients_own_printout(tmp_path: Path) -> None:
    src = tmp_path / "enc.json"
    src.write_text(
        json.dumps(
            make_encounter(
                date_of_service="2025-11-12",
                patient__birth_date=BORN,
                exam__sites=["lumbar_spine", "left_hip", "right_hip"],
                results=[],
            )
        )
    )
    (tmp_path / "report.txt").write_text(HOLOGIC)
    got = runner.invoke(
        app, ["code", str(src), "--report", str(tmp_path / "report.txt"), "--no-store"]
    )
    assert got.exit_code in (0, 1), got.stderr


def test_another_patients_prior_printout_is_refused(tmp_path: Path) -> None:
    man = EARLIER.replace("Sex: Female", "Sex: Male")
    got = run(tmp_path, "--prior", prior_file(tmp_path, man))
    assert got.exit_code == 2 and not (tmp_path / "r.html").exists()
    assert "the prior study's scanner report is not this encounter's patient's: its sex" in (
        got.stderr
    )
