"""`dexacode code` and `dexacode report` check a claim against the CMS data loaded in the
data folder, as `scrub` and the library do (the same claim gets the same answer)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dexacode.data import import_files
from dexacode.rulebook import RuleBook
from tests.conftest import make_encounter
from tests.data_import.conftest import MUE_FILE
from tests.test_cli import DEXACODE

# Two units of 77081 on one line: the shipped rule book allows one a day; the loaded MUE
# table (April 2026) allows two.
TWO_UNITS = make_encounter(
    date_of_service="2026-05-01",
    exam__sites=["left_forearm"],
    results=[{"site": "left_forearm", "region": "radius_33", "t_score": -2.7}],
    submitted={"lines": [{"cpt": "77081", "units": 2}], "diagnoses": ["M81.0"]},
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    from dexacode.icd10 import default_index_dir, open_library

    open_library()  # the tests' shared ICD-10-CM index, not built again for this folder
    (folder / "icd10cm").symlink_to(default_index_dir().resolve())
    return folder


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEXACODE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [*DEXACODE, *args, "--no-store"], capture_output=True, text=True, env=env, timeout=120
    )


def _coded(data_dir: Path, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "enc.json"
    path.write_text(json.dumps(TWO_UNITS), encoding="utf-8")
    proc = _run(data_dir, "code", str(path), "-f", "json")
    assert proc.returncode in (0, 1), proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _ids(result: dict[str, object]) -> list[str]:
    findings = result["findings"]
    assert isinstance(findings, list)
    return [f["id"] for f in findings]


def test_code_uses_the_loaded_mue_table(data_dir: Path, tmp_path: Path, book: RuleBook) -> None:
    before = _coded(data_dir, tmp_path)
    assert "MUE-EXCEEDED" in _ids(before)  # the shipped value: one a day
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    after = _coded(data_dir, tmp_path)
    assert "MUE-EXCEEDED" not in _ids(after)
    editions = after["editions"]
    assert isinstance(editions, list)
    assert any("MUE" in e for e in editions), editions


def test_report_uses_the_loaded_mue_table(data_dir: Path, tmp_path: Path, book: RuleBook) -> None:
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    path = tmp_path / "enc.json"
    path.write_text(json.dumps(TWO_UNITS), encoding="utf-8")
    out = tmp_path / "report.html"
    proc = _run(data_dir, "report", str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "MUE-EXCEEDED" not in out.read_text(encoding="utf-8")


def test_mue_advice_follows_the_loaded_limit(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    three = json.loads(json.dumps(TWO_UNITS))
    three["submitted"]["lines"][0]["units"] = 3
    path = tmp_path / "three.json"
    path.write_text(json.dumps(three), encoding="utf-8")
    proc = _run(data_dir, "code", str(path), "-f", "json")
    (hit,) = [f for f in json.loads(proc.stdout)["findings"] if f["id"] == "MUE-EXCEEDED"]
    assert "the limit is 2" in hit["message"]
    assert "at most 2 unit(s)" in hit["action"] and "with 1 unit" not in hit["action"]
