"""A stored dataset dexacode cannot read (written by a newer dexacode, damaged) stops
coding with one sentence saying what to do; `data import` replaces it; `data remove` takes
it, or any wrong import, out."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dexacode.cli_data import data_app
from dexacode.data import CatalogError, import_files, list_datasets, with_loaded_data
from dexacode.rulebook import RuleBook, RuleBookError
from tests.conftest import REPO_ROOT, make_encounter
from tests.data_import.conftest import MCD_FILES, MUE_FILE, PTP_FILES
from tests.test_cli import DEXACODE

ICD_DIR = REPO_ROOT / "tests" / "data" / "icd10"
app = typer.Typer()
app.add_typer(data_app, name="data")


def _newer(data_dir: Path) -> Path:
    """The April MUE edition as a future dexacode might store it."""
    path = data_dir / "cms" / "mue" / "2026-04-01.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 2, "kind": "mue", "rows": []}), encoding="utf-8")
    return path


def _cli(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["data", *args], env={"DEXACODE_DATA_DIR": str(data_dir)})
    return result.exit_code, result.stdout, result.stderr


def test_an_unreadable_dataset_raises_one_sentence_that_says_what_to_do(
    data_dir: Path, book: RuleBook
) -> None:
    path = _newer(data_dir)
    with pytest.raises(CatalogError) as caught:
        with_loaded_data(book, data_dir)
    error = caught.value
    assert isinstance(error, RuleBookError)  # every command reports these in one sentence
    message = str(error)
    assert "\n" not in message
    assert f"{path}: written by a newer dexacode (dataset format 2" in message
    assert "`dexacode data import mue FILE...`" in message
    assert "`dexacode data remove mue 2026-04-01`" in message
    # A scrub worker's error crosses to the main process whole.
    assert str(pickle.loads(pickle.dumps(error))) == message


def test_code_reports_it_in_one_line_without_a_traceback(data_dir: Path, tmp_path: Path) -> None:
    from dexacode.icd10 import default_index_dir, open_library

    open_library()  # the tests' shared ICD-10-CM index, not built again for this folder
    (data_dir / "icd10cm").symlink_to(default_index_dir().resolve())
    _newer(data_dir)
    claim = tmp_path / "claim.json"
    claim.write_text(json.dumps(make_encounter()), encoding="utf-8")
    proc = subprocess.run(
        [*DEXACODE, "code", str(claim), "--no-store"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEXACODE_DATA_DIR": str(data_dir)},
        timeout=120,
    )
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "written by a newer dexacode" in proc.stderr
    assert "dexacode data remove mue 2026-04-01" in proc.stderr


def test_scrub_reports_it_in_one_line_before_any_output(data_dir: Path, tmp_path: Path) -> None:
    from dexacode.icd10 import default_index_dir, open_library

    open_library()
    (data_dir / "icd10cm").symlink_to(default_index_dir().resolve())
    _newer(data_dir)
    batch = tmp_path / "claims.jsonl"
    batch.write_text(json.dumps(make_encounter()) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [*DEXACODE, "scrub", str(batch), "--out", str(out), "--no-store", "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEXACODE_DATA_DIR": str(data_dir)},
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "dexacode data remove mue 2026-04-01" in proc.stderr
    assert not out.exists()


def test_import_replaces_an_unreadable_dataset(data_dir: Path, book: RuleBook) -> None:
    path = _newer(data_dir)
    report = import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    assert report.changed and report.replaced[0].startswith(
        f"the stored dataset that could not be read ({path}: written by a newer dexacode"
    )
    assert with_loaded_data(book, data_dir) is not book  # coding works again
    (stored,) = list_datasets(data_dir)
    assert stored.edition == "practitioner 2026-04-01"


def test_status_shows_it_and_remove_takes_it_out(data_dir: Path) -> None:
    path = _newer(data_dir)
    code, out, _ = _cli(data_dir, "status", "--date", "2026-05-01")
    assert code == 0
    assert "  2026-04-01: CANNOT BE READ; no claim can be checked until it is imported" in out
    assert "WARNING mue: stored dataset" in out and "dexacode data remove mue 2026-04-01" in out
    code, out, _ = _cli(data_dir, "remove", "mue", "2026-04-01")
    assert code == 0 and out.startswith("Removed mue 2026-04-01 (2026-04-01.json)")
    assert not path.exists() and list(path.parent.iterdir()) == []
    code, out, _ = _cli(data_dir, "status", "--date", "2026-05-01")
    assert "CANNOT BE READ" not in out and "WARNING" not in out


def test_remove_undoes_an_import_named_as_status_shows_it(data_dir: Path, book: RuleBook) -> None:
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    import_files(
        "mcd-article", MCD_FILES, article="57132", payer="medicare", data_dir=data_dir, book=book
    )
    code, _, err = _cli(data_dir, "remove", "ncci-ptp", "v32.2r0")
    assert code == 2
    assert err == (
        "dexacode: not removed: no stored ncci-ptp edition is named 'v32.2r0' (stored: v32.1r0 "
        "from 2026-04-01); `dexacode data status` lists them\n"
    )
    code, out, _ = _cli(data_dir, "remove", "ncci-ptp", "v32.1r0")
    assert code == 0 and "Removed ncci-ptp v32.1r0" in out
    code, out, _ = _cli(data_dir, "remove", "mcd-article", "A57132 v12", "--payer", "medicare")
    assert code == 0 and "Removed mcd-article A57132 v12" in out
    assert list_datasets(data_dir) == []
    assert with_loaded_data(book, data_dir) is book  # the shipped rule book again


def test_remove_takes_an_icd10cm_release_and_its_index(data_dir: Path, book: RuleBook) -> None:
    files = [ICD_DIR / "icd10cm-order-2027.txt", ICD_DIR / "icd10cm-tabular-2027.xml"]
    import_files("icd10cm", files, data_dir=data_dir, book=book)
    index = data_dir / "icd10cm" / "icd10cm-FY2027.sqlite"
    assert index.is_file()
    code, out, _ = _cli(data_dir, "remove", "icd10cm", "FY2027")
    assert code == 0 and "icd10cm-FY2027.sqlite" in out
    assert not index.exists() and list_datasets(data_dir) == []


def test_remove_help_teaches_how_to_name_an_edition() -> None:
    result = CliRunner().invoke(app, ["data", "remove", "--help"], terminal_width=100)
    text = " ".join(result.stdout.split())
    assert "undo a wrong import" in text
    assert "dexacode data remove ncci-ptp v32.1r0" in text
    assert "dexacode data remove mue 2026-04-01" in text
    assert "import them again to undo the removal" in text
