"""The ``dexacode`` command, run as a user runs it (``python -m dexacode`` in a subprocess).

Exit codes (spec/contract.md): 0 coded and clean, 1 coded with an error-level finding,
2 unreadable input (one line on stderr naming the field, nothing on stdout), 3 dexacode's
own data is broken (a payer profile). The environment is inherited, so the subprocess uses
the ICD-10-CM index conftest.py set up. About twenty calls in all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dexacode.contract import CodingResult, dump_result, encounter_schema
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter, store_with_prior

DEXACODE = [sys.executable, "-m", "dexacode"]
SHIPPED_PAYERS = ("medicare", "medicare_advantage", "medicaid", "commercial")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEXACODE, *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def write(tmp_path: Path, body: dict[str, Any] | str, name: str = "encounter.json") -> str:
    path = tmp_path / name
    path.write_text(body if isinstance(body, str) else json.dumps(body), encoding="utf-8")
    return str(path)


def assert_refused(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """Nothing on stdout, exactly one line on stderr; returns that line."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.startswith("dexacode:"), proc.stderr
    assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


# A Medicare screening whose last covered study was 14 months ago, read on equipment the
# provider does not own, spine + hip + forearm, low bone mass at the left femoral neck.
TOO_SOON: dict[str, Any] = make_encounter(
    exam__sites=["lumbar_spine", "left_hip", "left_forearm"],
    billing__equipment_owner="other",
    history=[{"date_of_service": "2025-01-10", "cpt": "77080"}],
    results=[
        {"site": "lumbar_spine", "region": "L1-L4", "t_score": -0.4},
        {"site": "left_hip", "region": "femoral_neck", "t_score": -1.9},
        {"site": "left_forearm", "region": "radius_33", "t_score": -0.2},
    ],
)


# --- code --------------------------------------------------------------------------------


def test_code_meets_a_claim_of_the_same_date_recorded_by_a_scrub(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    monday = make_encounter(claim_id="MONDAY", patient__id="P-TWICE")
    src = write(tmp_path, json.dumps(monday) + "\n", name="monday.jsonl")
    scrub = run("scrub", src, "-o", str(tmp_path / "out.jsonl"), "--record", "--db", url, "-q")
    assert scrub.returncode == 0, scrub.stderr
    again = {**monday, "claim_id": "THURSDAY"}
    proc = run("code", write(tmp_path, again), "-f", "json", "--db", url)
    assert proc.returncode == 1, proc.stderr
    found = [f for f in json.loads(proc.stdout)["findings"] if f["id"] == "SAME-DATE-DUPLICATE"]
    assert len(found) == 1 and "claim MONDAY" in found[0]["message"]
    # The recorded claim itself, coded again, is not its own duplicate.
    same = run("code", write(tmp_path, monday), "-f", "json", "--db", url)
    assert "SAME-DATE" not in same.stdout and same.returncode == 0


def test_a_clean_claim_prints_the_contract_json_and_exits_0(
    tmp_path: Path, code: Callable[..., CodingResult]
) -> None:
    enc = make_encounter()
    proc = run("code", write(tmp_path, enc), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    printed = json.loads(proc.stdout)
    assert printed == json.loads(dump_result(code(enc)))
    result = CodingResult.model_validate(printed)
    assert [(line.cpt, line.modifiers) for line in result.lines] == [("77080", [])]
    assert not result.has_errors


def test_a_claim_with_an_error_finding_exits_1_and_still_prints_the_result(
    tmp_path: Path,
) -> None:
    proc = run("code", write(tmp_path, TOO_SOON), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    printed = json.loads(proc.stdout)
    errors = {f["id"] for f in printed["findings"] if f["severity"] == "error"}
    assert "FREQUENCY" in errors
    assert printed["coverage"]["next_eligible_date"] == "2027-01-01"


def test_a_dash_reads_the_encounter_from_stdin(tmp_path: Path) -> None:
    enc = make_encounter()
    from_stdin = run("code", "-", "--format", "json", stdin=json.dumps(enc))
    from_file = run("code", write(tmp_path, enc), "--format", "json")
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout


def test_the_text_report_shows_lines_diagnoses_reading_coverage_and_findings(
    tmp_path: Path, code: Callable[..., CodingResult]
) -> None:
    proc = run("code", write(tmp_path, TOO_SOON))  # text is the default format
    assert proc.returncode == 1, proc.stderr
    text = proc.stdout
    result = code(TOO_SOON)

    # Lines with their modifiers in claim order, and why each modifier is there.
    assert "77080-26-XU-GZ" in text
    assert "77081-26-GZ" in text
    assert "XU:" in text and "GZ:" in text
    # Diagnoses, each with its description on its own line.
    rows = text.splitlines()
    for detail in result.diagnosis_details:
        assert detail.description
        assert any(detail.code in row and detail.description in row for row in rows), detail
    assert any("M85.852" in row and "left thigh" in row for row in rows)
    # The reading and the coverage.
    assert "Low bone mass" in text
    assert "-1.9" in text and "femoral neck" in text
    # The other results the reading weighed, by site and region, the basis not repeated.
    (also,) = [row for row in rows if row.strip().startswith("also read:")]
    weighed = [r for r in result.interpretation.results_read if r != result.interpretation.basis]
    assert weighed and also.count(";") == len(weighed) - 1
    for r in weighed:
        assert f"{r.site.replace('_', ' ')} {r.region.replace('_', ' ')} {r.t_score:+.1f}" in also
    assert "2027-01-01" in text
    assert "ABN advised: yes" in text
    # Every finding: its id, What, Do and Source (key and title).
    assert text.count("What:") == len(result.findings)
    assert text.count("Do:") == sum(1 for f in result.findings if f.action)
    assert text.count("Source:") == len(result.findings)
    for f in result.findings:
        assert f.id in text
        for key in f.sources:
            assert key in text


# --- refused input -----------------------------------------------------------------------


def test_bad_json_exits_2_with_one_line(tmp_path: Path) -> None:
    line = assert_refused(run("code", write(tmp_path, '{"claim_id": "T-1",'), "--format", "json"))
    assert "JSON" in line


def test_a_missing_file_exits_2_naming_the_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-encounter.json")
    line = assert_refused(run("code", missing, "--format", "json"))
    assert "no-such-encounter.json" in line


def test_an_unknown_field_exits_2_naming_it(tmp_path: Path) -> None:
    enc = make_encounter(patient__favourite_colour="blue")
    line = assert_refused(run("code", write(tmp_path, enc), "--format", "json"))
    assert "patient.favourite_colour" in line


def test_an_unknown_payer_exits_2_naming_the_field_and_the_profiles(tmp_path: Path) -> None:
    line = assert_refused(run("code", write(tmp_path, make_encounter(payer="blue_cross"))))
    assert "payer" in line and "blue_cross" in line
    for name in SHIPPED_PAYERS:
        assert name in line


def test_a_refused_encounter_never_echoes_the_patient_id_or_birth_date(tmp_path: Path) -> None:
    enc = make_encounter(patient__id="ZQX-7741-PRIV", patient__birth_date="1961-02-30")
    line = assert_refused(run("code", write(tmp_path, enc), "--format", "json"))
    assert "patient.birth_date" in line
    assert "ZQX-7741-PRIV" not in line and "1961" not in line


def test_an_unsupported_format_is_refused(tmp_path: Path) -> None:
    line = assert_refused(run("code", write(tmp_path, make_encounter()), "--format", "xml"))
    assert "format" in line


# --- schema, rules, explain --------------------------------------------------------------


def test_schema_prints_the_encounter_json_schema() -> None:
    proc = run("schema")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == encounter_schema()


def test_rules_lists_every_finding_id(book: RuleBook) -> None:
    proc = run("rules")
    assert proc.returncode == 0, proc.stderr
    listed = {row.split()[0] for row in proc.stdout.splitlines() if row.startswith("  ")}
    assert set(book.finding_ids()) <= listed
    for fid in ("FREQUENCY", "Z13820-ALONE", "PTP-AXIAL-VFA", "MODIFIER-OVERFLOW", "NO-DIAGNOSIS"):
        assert fid in listed


def test_explain_gives_why_what_to_do_and_sources_with_urls(book: RuleBook) -> None:
    proc = run("explain", "FREQUENCY")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Why:" in text and "What to do:" in text and "Sources:" in text
    assert "23" in text or "two years" in text
    rule = book.finding("FREQUENCY")
    assert "bpm-15-80.5" in rule.source
    for key in rule.source:
        assert f"[{key}]" in text
        assert book.sources[key].url in text
        assert book.sources[key].url.startswith("http")


def test_explain_says_what_the_bracketed_words_stand_for() -> None:
    text = run("explain", "FREQUENCY").stdout
    assert "<months>" in text  # the rule's own wording, with its slots
    assert "filled in from the claim" in text
    # A rule without slots gets no such note.
    assert "filled in from the claim" not in run("explain", "PTP-SAME-GROUP").stdout


def test_code_on_a_batch_file_points_to_scrub(tmp_path: Path) -> None:
    src = tmp_path / "batch.csv"
    src.write_text("claim_id,payer\nC-1,medicare\n")
    line = assert_refused(run("code", str(src)))
    assert "dexacode scrub" in line


def test_code_counts_the_history_store_like_scrub(tmp_path: Path) -> None:
    """A study in the store makes a Medicare study ten months later too soon, as in scrub
    and the API; --no-store leaves it out; without a store none is created."""
    import os

    enc = write(
        tmp_path,
        make_encounter(patient__id="P-CODE", date_of_service="2026-04-20", payer="medicare"),
    )
    env = {**os.environ, "DEXACODE_DATA_DIR": str(tmp_path / "data")}
    # The ICD-10-CM index already built for the tests, not built again for this folder.
    (tmp_path / "data").mkdir()
    from dexacode.icd10 import default_index_dir, open_library

    open_library()  # builds it if this test runs first
    shared_index = default_index_dir()
    (tmp_path / "data" / "icd10cm").symlink_to(shared_index.resolve())

    def ids(*args: str) -> list[str]:
        proc = subprocess.run(
            [*DEXACODE, "code", enc, "-f", "json", *args], capture_output=True, text=True, env=env
        )
        assert proc.returncode in (0, 1), proc.stderr
        return [f["id"] for f in json.loads(proc.stdout)["findings"]]

    assert "FREQUENCY" not in ids()
    assert not (tmp_path / "data" / "history.sqlite3").exists()
    store_with_prior(tmp_path / "data" / "history.sqlite3", "P-CODE")
    assert "FREQUENCY" in ids()
    assert "FREQUENCY" not in ids("--no-store")
    assert "FREQUENCY" not in ids("--db", f"sqlite:///{tmp_path / 'other.sqlite3'}")


def test_code_never_checks_a_claim_against_its_own_recorded_version(tmp_path: Path) -> None:
    """A claim recorded under its first, wrong date of service and coded again with the
    corrected date: its own earlier version is not a prior study (as in scrub and the API)."""
    from datetime import date

    from dexacode.store import HistoryStore, StudyRow

    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    with HistoryStore(url) as store:
        store.add(
            [
                StudyRow(
                    patient_id="P-FIX",
                    date_of_service=date(2026, 4, 2),
                    cpt="77080",
                    claim_id="C-500",
                )
            ],
            source="test",
        )
    corrected = make_encounter(
        claim_id="C-500", patient__id="P-FIX", date_of_service="2026-04-20", payer="medicare"
    )
    other = {**corrected, "claim_id": "C-501"}

    def ids(enc: dict[str, Any]) -> list[str]:
        proc = run("code", write(tmp_path, enc), "-f", "json", "--db", url)
        assert proc.returncode in (0, 1), proc.stderr
        return [f["id"] for f in json.loads(proc.stdout)["findings"]]

    assert "FREQUENCY" not in ids(corrected)
    assert "FREQUENCY" in ids(other)  # another claim 18 days later is too soon


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    proc = run("--version")
    assert (proc.returncode, proc.stdout) == (0, f"dexacode {version('dexacode')}\n")
    for args in (["-h"], ["scrub", "-h"], ["history", "import", "-h"]):
        proc = run(*args)
        assert proc.returncode == 0 and "Usage:" in proc.stdout and "Options" in proc.stdout, args


def test_help_paragraphs_flow_to_the_terminal_width() -> None:
    """Docstring line breaks must not show: 'the summary at the' / 'end reconciles them'."""
    import os

    proc = subprocess.run(
        [*DEXACODE, "scrub", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert not any(line in ("at the", "each", "error-level", "an") for line in lines), lines
    assert "the summary at the end reconciles them" in " ".join(lines)


def test_explain_an_unknown_rule_exits_2_with_a_hint() -> None:
    line = assert_refused(run("explain", "NOPE"))
    assert "NOPE" in line
    assert "dexacode rules" in line


def test_explain_a_partial_id_suggests_the_rules_it_may_mean() -> None:
    line = assert_refused(run("explain", "ABN"))
    assert "ABN-MISSING" in line and "ABN-ON-FILE" in line


# --- payer profiles ----------------------------------------------------------------------

ACME = """\
name = "acme"
label = "Acme Health Plan"
extends = "commercial"
distinct_modifier = "XU"
effective = 2015-10-01
source = ["seed"]
"""


def test_payers_lists_the_four_shipped_profiles() -> None:
    proc = run("payers")
    assert proc.returncode == 0, proc.stderr
    names = {row.split()[0] for row in proc.stdout.splitlines() if row and not row[0].isspace()}
    assert names == set(SHIPPED_PAYERS)


def test_a_user_profile_from_payers_dir_is_listed_and_used(
    tmp_path: Path, code: Callable[..., CodingResult]
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "acme.toml").write_text(ACME, encoding="utf-8")

    (folder / "placed.toml").write_text(
        ACME.replace('"acme"', '"placed"') + 'distinct_placement = "peripheral"\n',
        encoding="utf-8",
    )

    listed = run("payers", "--payers", str(folder))
    assert listed.returncode == 0, listed.stderr
    assert "acme" in listed.stdout and "Acme Health Plan" in listed.stdout
    # Where each profile puts the distinct-service modifier is said.
    text = listed.stdout
    placed = text[text.index("placed ") :].split("frequency")[0]
    assert "on the peripheral code" in placed
    acme = text[text.index("acme ") :].split("frequency")[0]
    assert "on the pair edit's column 2" in acme
    for name in SHIPPED_PAYERS:
        assert name in listed.stdout

    both = {
        "exam__sites": ["lumbar_spine", "left_forearm"],
        "results": [{"site": "lumbar_spine", "region": "L1-L4", "t_score": -0.4}],
    }
    proc = run(
        "code",
        write(tmp_path, make_encounter(payer="acme", **both)),
        "--format",
        "json",
        "--payers",
        str(folder),
    )
    assert proc.returncode in (0, 1), proc.stderr
    lines = [(line["cpt"], line["modifiers"]) for line in json.loads(proc.stdout)["lines"]]
    # The plan asks for XU where its parent (commercial) would put 59: the profile is used.
    assert lines == [("77080", ["XU"]), ("77081", [])]
    commercial = code(make_encounter(payer="commercial", **both))
    assert [(line.cpt, line.modifiers) for line in commercial.lines] == [
        ("77080", ["59"]),
        ("77081", []),
    ]


@pytest.mark.parametrize(
    ("command", "profile"),
    [
        ("code", 'name = "broken"\nlabel = \n'),  # not TOML
        (
            "payers",
            'name = "broken"\nlabel = "B"\nextends = "nope"\n'
            'effective = 2015-10-01\nsource = ["seed"]\n',
        ),  # extends a profile that is not there
    ],
    ids=["not-toml", "unknown-parent"],
)
def test_a_broken_user_profile_exits_2_naming_the_file(
    tmp_path: Path, command: str, profile: str
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "broken_plan.toml").write_text(profile, encoding="utf-8")
    args = [command, "--payers", str(folder)]
    if command == "code":
        args = [
            "code",
            write(tmp_path, make_encounter()),
            "--format",
            "json",
            "--payers",
            str(folder),
        ]
    proc = run(*args)
    # 2: the user's own file to fix (3 is for dexacode's own data).
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.startswith("dexacode: payer profile error:")
    assert "broken_plan.toml" in proc.stderr


# --- ICD-10-CM ---------------------------------------------------------------------------


def test_icd10_status_lists_the_fy2026_release() -> None:
    proc = run("icd10", "status")
    assert proc.returncode == 0, proc.stderr
    assert "FY2026" in proc.stdout
