"""Scrubbing a file again after ``scrub --record`` gives the same results.

A patient's visit to another payer family is an earlier study, not covered for this one:
the file's other visits, the history store's studies (the first run's, recorded) and an
encounter's own ``history`` (``dexacode code``) all say so alike, so a confirmatory
baseline after another payer's axial study is refused on the first run as on the second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexacode.batch import ScrubOptions, scrub
from dexacode.cli import app
from tests.conftest import make_encounter

PATIENT = "P-RERUN"
_FOREARM: dict[str, Any] = {
    "exam__sites": ["left_forearm"],
    "results": [
        {"site": "left_forearm", "region": "radius_33", "bmd": 0.7, "t_score": -0.5, "z_score": 0.3}
    ],
}


def _visit(claim: str, day: str, payer: str = "medicare", **changes: Any) -> dict[str, Any]:
    return make_encounter(
        claim_id=claim, date_of_service=day, payer=payer, patient__id=PATIENT, **changes
    )


def _confirm(claim: str, day: str, payer: str = "medicare") -> dict[str, Any]:
    return _visit(claim, day, payer, order__reason="confirm_baseline")


def _jsonl(path: Path, encounters: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in encounters), encoding="utf-8")
    return path


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.sqlite3'}"


def _scrub_twice(
    tmp_path: Path, encounters: list[dict[str, Any]], workers: int = 1, chunk_size: int = 1000
) -> tuple[str, str]:
    """The file scrubbed with --record into an empty store, then once more: both outputs."""
    src = _jsonl(tmp_path / "claims.jsonl", encounters)
    options = ScrubOptions(
        db_url=_db(tmp_path), record=True, workers=workers, chunk_size=chunk_size
    )
    texts = []
    for run in ("first", "second"):
        out = tmp_path / f"{run}.jsonl"
        scrub(src, out, options=options)
        texts.append(out.read_text(encoding="utf-8"))
    return texts[0], texts[1]


def _assert_same(first: str, second: str) -> None:
    """The second run's output is the first one's: findings by claim (readable when they
    differ), then every byte."""
    ids = {claim: _ids(result) for claim, result in _by_claim(first).items()}
    assert {claim: _ids(result) for claim, result in _by_claim(second).items()} == ids
    assert second == first


def _by_claim(text: str) -> dict[str, dict[str, Any]]:
    return {r["claim_id"]: r for r in map(json.loads, text.splitlines())}


def _ids(result: dict[str, Any]) -> list[str]:
    return [f["id"] for f in result["findings"]]


def _code(tmp_path: Path, encounter: dict[str, Any], *store: str) -> dict[str, Any]:
    """``dexacode code`` on one encounter, as a user runs it (``store``: --db URL or
    --no-store)."""
    path = tmp_path / f"{encounter['claim_id']}.json"
    path.write_text(json.dumps(encounter), encoding="utf-8")
    result = CliRunner().invoke(app, ["code", str(path), "--format", "json", *store])
    assert result.exit_code in (0, 1), result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


# --- the same file twice -----------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True], ids=["date-order", "reversed"])
@pytest.mark.parametrize(("workers", "chunk_size"), [(1, 1000), (2, 1)], ids=["one", "pool"])
def test_a_file_scrubbed_twice_with_record_gives_identical_results(
    tmp_path: Path, workers: int, chunk_size: int, reverse: bool
) -> None:
    """A commercial axial study, then a Medicare confirmatory baseline (refused: the
    earlier study was axial already), then a Medicare screening: the refused baseline is
    no covered study, so the screening is not too soon, on either run."""
    visits = [
        _visit("COM-2024", "2024-03-10", "commercial"),
        _confirm("MCR-2025", "2025-02-10"),
        _visit("MCR-2026", "2026-01-10"),
    ]
    first, second = _scrub_twice(
        tmp_path, visits[::-1] if reverse else visits, workers=workers, chunk_size=chunk_size
    )
    _assert_same(first, second)
    results = _by_claim(first)
    assert "CONFIRM-BASELINE-INVALID" in _ids(results["MCR-2025"])
    assert "CONFIRM-BASELINE-FIRST" not in _ids(results["MCR-2025"])
    assert "FREQUENCY" not in _ids(results["MCR-2026"])


def test_a_confirmatory_baseline_after_another_payers_axial_study_is_refused_every_time(
    tmp_path: Path,
) -> None:
    """The Medicare claim gets CONFIRM-BASELINE-INVALID on the first run (the commercial
    study only in the file), on the second (also in the store) and from ``dexacode code``
    with the commercial study in its history as not covered, or in the store."""
    earlier = _visit("COM-1", "2025-03-10", "commercial")
    baseline = _confirm("MCR-2", "2026-02-10")
    first, second = _scrub_twice(tmp_path, [baseline, earlier])
    for text in (first, second):
        result = _by_claim(text)["MCR-2"]
        assert "CONFIRM-BASELINE-INVALID" in _ids(result)
        assert "CONFIRM-BASELINE-FIRST" not in _ids(result)
        invalid = next(f for f in result["findings"] if f["id"] == "CONFIRM-BASELINE-INVALID")
        assert "2025-03-10" in invalid["message"]
    scrubbed = _by_claim(first)["MCR-2"]
    with_history = dict(
        baseline, history=[{"date_of_service": "2025-03-10", "cpt": "77080", "covered": False}]
    )
    assert _code(tmp_path, with_history, "--no-store") == scrubbed
    # The store holds both claims now; the Medicare claim is not its own prior study.
    assert _code(tmp_path, baseline, "--db", _db(tmp_path)) == scrubbed


@pytest.mark.parametrize(
    ("payer", "later_payer"),
    [("medicare", "medicare"), ("medicare", "medicare_advantage"), ("commercial", "commercial")],
)
def test_a_same_family_repeat_still_gets_frequency_in_both_runs(
    tmp_path: Path, payer: str, later_payer: str
) -> None:
    visits = [_visit("LATER", "2026-02-10", later_payer), _visit("EARLIER", "2025-03-10", payer)]
    first, second = _scrub_twice(tmp_path, visits)
    _assert_same(first, second)
    results = _by_claim(first)
    assert "FREQUENCY" in _ids(results["LATER"])
    assert "FREQUENCY" not in _ids(results["EARLIER"])
    assert results["LATER"]["coverage"]["next_eligible_date"] == "2027-03-01"


def test_an_earlier_visit_of_two_codes_is_named_alike_in_both_runs(tmp_path: Path) -> None:
    """An axial study with VFA and a forearm study billed together (77085 and 77081):
    the later visit's FREQUENCY names the same last study on both runs, as the store
    lists it (by date, then code)."""
    results = [*_visit("X", "2025-01-01")["results"], *_FOREARM["results"]]
    earlier = _visit(
        "BOTH",
        "2025-03-10",
        exam__vfa=True,
        exam__sites=["lumbar_spine", "left_hip", "left_forearm"],
        exam__peripheral_reason="hardware in the hip",
        results=results,
    )
    first, second = _scrub_twice(tmp_path, [_visit("LATER", "2026-02-10"), earlier])
    _assert_same(first, second)
    assert [line["cpt"] for line in _by_claim(first)["BOTH"]["lines"]] == ["77085", "77081"]
    frequency = next(f for f in _by_claim(first)["LATER"]["findings"] if f["id"] == "FREQUENCY")
    assert "2025-03-10 (77081)" in frequency["message"]


def test_a_visit_never_sees_itself_a_later_visit_or_one_of_the_same_day(
    tmp_path: Path,
) -> None:
    """Another payer's studies on the same day and later are no earlier study: the
    baseline has nothing to confirm, on both runs. (The same day's study is a forearm
    study: the store keeps one row per patient, day and code, under the first payer
    family recorded.)"""
    visits = [
        _visit("COM-LATER", "2026-02-10", "commercial"),
        _confirm("MCR-BASE", "2025-03-10"),
        _visit("COM-SAME-DAY", "2025-03-10", "commercial", **_FOREARM),
    ]
    first, second = _scrub_twice(tmp_path, visits)
    _assert_same(first, second)
    baseline = _by_claim(first)["MCR-BASE"]
    assert "CONFIRM-BASELINE-FIRST" in _ids(baseline)
    assert "CONFIRM-BASELINE-INVALID" not in _ids(baseline)


def test_a_corrected_claim_is_not_checked_against_its_own_recorded_version(
    tmp_path: Path,
) -> None:
    """Claim MCR-9 recorded on 10 June 2025 and corrected to February 2026, scrubbed with
    an earlier commercial visit: its June version is no prior study (no FREQUENCY), and
    the results are those of a store that never held it."""
    options = ScrubOptions(db_url=_db(tmp_path), record=True, workers=1)
    draft = _jsonl(tmp_path / "draft.jsonl", [_visit("MCR-9", "2025-06-10")])
    scrub(draft, tmp_path / "draft.out.jsonl", options=options)
    corrected = [_visit("MCR-9", "2026-02-10"), _visit("COM-1", "2025-03-10", "commercial")]
    first, second = _scrub_twice(tmp_path, corrected)
    _assert_same(first, second)
    assert "FREQUENCY" not in _ids(_by_claim(first)["MCR-9"])
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _assert_same(first, _scrub_twice(fresh, corrected)[0])


@pytest.mark.parametrize("medicaid_first", [True, False])
def test_a_study_one_family_paid_counts_whichever_copy_of_it_comes_first(
    tmp_path: Path, medicaid_first: bool
) -> None:
    """The same day's study billed to Medicaid (denied as too soon) and to Medicare (paid):
    a Medicare claim six months later is too soon, whatever the file's order."""
    first = make_encounter(
        claim_id="MCD-0", date_of_service="2024-03-04", payer="medicaid", patient__id=PATIENT
    )
    medicaid = make_encounter(
        claim_id="MCD-1", date_of_service="2025-03-10", payer="medicaid", patient__id=PATIENT
    )
    medicare = make_encounter(
        claim_id="MCR-1", date_of_service="2025-03-10", payer="medicare", patient__id=PATIENT
    )
    later = make_encounter(
        claim_id="MCR-2", date_of_service="2025-09-10", payer="medicare", patient__id=PATIENT
    )
    same_day = [medicaid, medicare] if medicaid_first else [medicare, medicaid]
    source = tmp_path / "claims.jsonl"
    source.write_text(
        "".join(json.dumps(e) + "\n" for e in [first, *same_day, later]), encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    scrub(source, out, options=ScrubOptions(use_store=False, workers=1))
    found = {
        r["claim_id"]: [f["id"] for f in r["findings"] if f["id"] == "FREQUENCY"]
        for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
    }
    assert found["MCR-2"] == ["FREQUENCY"]
    assert found["MCR-1"] == []
