"""``dexacode data import`` and ``dexacode data status`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dexacode.cli_data import data_app
from tests.data_import.conftest import MCD_FILES, MUE_FILE, PTP_FILES

app = typer.Typer()
app.add_typer(data_app, name="data")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _data_folder(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXACODE_DATA_DIR", str(data_dir))


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["data", *args])
    return result.exit_code, result.stdout, result.stderr


def test_import_says_what_it_stored_and_then_that_nothing_changed() -> None:
    code, out, _ = _run("import", "ncci-ptp", *map(str, PTP_FILES))
    assert code == 0
    assert "ncci-ptp v32.1r0 (governs from 2026-04-01): 2 file(s), 13 rows read, 9 kept" in out
    code, out, _ = _run("import", "ncci-ptp", *map(str, PTP_FILES))
    assert code == 0 and "already loaded from these files; nothing changed" in out


def test_a_refused_file_exits_2_with_one_line_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / MUE_FILE.name
    bad.write_text(MUE_FILE.read_text().replace('"77080","1"', '"77080","x"'), encoding="utf-8")
    code, out, err = _run("import", "mue", str(bad))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("dexacode: not imported: ")
    assert f"{bad.name}, line 7: MUE value 'x' is not a whole number" in err
    assert "Traceback" not in err


def test_status_lists_editions_spans_and_warns_after_the_newest(data_dir: Path) -> None:
    code, out, _ = _run("status", "--date", "2026-05-01")
    assert code == 0
    assert "none loaded: the shipped rule book's rows are used" in out
    _run("import", "ncci-ptp", *map(str, PTP_FILES))
    _run("import", "mue", str(MUE_FILE))
    _run("import", "mcd-article", *map(str, MCD_FILES), "--article", "57132", "--payer", "medicare")
    code, out, _ = _run("status", "--date", "2026-05-01")
    assert code == 0 and "WARNING" not in out
    assert (
        "v32.1r0: its rows decide every date of service, by their own effective and deletion "
        "dates (its quarter ends 2026-06-30)"
    ) in out
    assert "practitioner 2026-04-01: governs from 2026-04-01 on" in out
    assert "A57132 v12 for medicare: governs from 2024-01-04 on" in out
    assert str(data_dir / "cms") in out
    code, out, _ = _run("status", "--date", "2026-07-01")
    assert "WARNING ncci-ptp: 2026-07-01 falls after the newest edition loaded (v32.1r0" in out
    assert "WARNING mue: 2026-07-01 falls after" in out
    code, out, _ = _run("status", "--date", "2026-07-01", "--format", "json")
    body = json.loads(out)
    assert [e["kind"] for e in body["editions"]] == ["ncci-ptp", "mue", "mcd-article"]
    assert body["editions"][2]["payer"] == "medicare" and len(body["warnings"]) == 2


def test_status_refuses_a_bad_date() -> None:
    code, _, err = _run("status", "--date", "2026-13-01")
    assert code == 2 and "--date '2026-13-01' is not a date" in err


def test_the_cli_names_every_kind_the_library_imports() -> None:
    from dexacode.cli_data import KIND_NAMES
    from dexacode.data import KINDS

    named = KIND_NAMES.replace(" or ", ", ").split(", ")
    assert sorted(named) == sorted(KINDS)
