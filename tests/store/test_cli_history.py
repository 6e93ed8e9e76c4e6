"""`dexacode history import` and `show`: what a person sees, and the exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dexacode.cli_history import history_app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/history.sqlite3"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(history_app, list(args))
    return result.exit_code, result.output


def test_import_clean_file_then_again(tmp_path: Path, db: str) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("patient_id,date_of_service,cpt\nP-1,2024-01-05,77080\nP-2,2023-01-05,77081\n")
    code, out = run("import", str(path), "--db", db)
    assert code == 0, out
    assert "added                    2" in out
    assert "The store now holds 2 studies." in out
    code, out = run("import", str(path), "--db", db)
    assert code == 0
    assert "already there            2" in out


def test_import_with_refused_rows_lists_them(tmp_path: Path, db: str) -> None:
    path = tmp_path / "claims.jsonl"
    path.write_text(
        '{"patient_id": "P-1", "date_of_service": "2024-01-05", "cpt": "77080"}\n'
        '{"patient_id": "P-2", "date_of_service": "2024-01-05", "cpt": "7708"}\n'
        '{"patient_id": "P-3", "date_of'
    )
    code, out = run("import", str(path), "--db", db)
    assert code == 1
    assert "refused                  2" in out
    assert "Refused rows (row 1 is line 1)" in out
    assert "row 2: cpt must be a 5-character CPT/HCPCS code" in out
    assert "row 3: the last line is incomplete" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "patient_id,date_of_service,cpt\n", "header but no data rows"),
        ("utf16.csv", "patient_id,date_of_service,cpt\n".encode("utf-16"), "UTF-16"),
        ("claims.xlsx", b"PK\x03\x04", "cannot tell the format"),
    ],
)
def test_import_unreadable_file_exits_2(
    tmp_path: Path, db: str, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    code, out = run("import", str(path), "--db", db)
    assert code == 2
    assert message in out and "Traceback" not in out


def test_import_missing_file_and_bad_store_exit_2(tmp_path: Path) -> None:
    code, out = run("import", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in out
    path = tmp_path / "claims.csv"
    path.write_text("patient_id,date_of_service,cpt\nP-1,2024-01-05,77080\n")
    code, out = run("import", str(path), "--db", "mysql://u:pw@host/db")
    assert code == 2 and "history store error: unsupported database" in out


def test_import_format_option(tmp_path: Path, db: str) -> None:
    path = tmp_path / "claims.txt"
    path.write_text("patient_id,date_of_service,cpt\nP-1,2024-01-05,77080\n")
    assert run("import", str(path), "--db", db, "--format", "csv")[0] == 0


def test_show(tmp_path: Path, db: str) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(
        "patient_id,date_of_service,cpt,provider,covered\n"
        "P-1,2024-01-05,77080,DR-2,true\n"
        "P-1,2021-11-30,77085,,false\n"
    )
    run("import", str(path), "--db", db)
    code, out = run("show", "P-1", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("2 studies for patient P-1")
    assert lines[1].split() == [
        "date",
        "of",
        "service",
        "CPT",
        "covered",
        "paid",
        "by",
        "claim",
        "provider",
    ]
    assert lines[2].split() == ["2021-11-30", "77085", "no", "(denied)", "not", "known", "-", "-"]
    assert lines[3].split() == ["2024-01-05", "77080", "yes", "not", "known", "-", "DR-2"]
    code, out = run("show", "P-404", "--db", db)
    assert code == 0 and out.startswith("No studies for patient P-404")


def test_help_says_what_the_store_is_for() -> None:
    code, out = run("--help")
    assert code == 0
    assert "Frequency rules" in out and "another provider" in out


def _coverage(db_url: str, patient: str) -> list[tuple[str, bool]]:
    from dexacode.store import HistoryStore

    with HistoryStore(db_url) as store:
        return [(r.cpt, r.covered) for r in store.show(patient)]


def test_import_without_a_covered_column_leaves_a_stored_denial_alone(
    tmp_path: Path, db_url: str
) -> None:
    """A file that does not say whether a study was covered (no covered column, or a JSON
    line without the field) never turns a stored denied study into a covered one: the
    study is already there. Its new studies are added as covered."""
    denied = tmp_path / "denied.csv"
    denied.write_text("patient_id,date_of_service,cpt,covered\nP-9,2025-06-02,77080,false\n")
    assert run("import", str(denied), "--db", db_url)[0] == 0
    silent = tmp_path / "studies_nocovered.csv"
    silent.write_text(
        "patient_id,date_of_service,cpt\nP-9,2025-06-02,77080\nP-9,2025-06-02,77085\n"
    )
    code, out = run("import", str(silent), "--db", db_url)
    assert code == 0, out
    assert "added                    1" in out and "already there            1" in out
    assert "updated" not in out
    silent_jsonl = tmp_path / "studies.jsonl"
    silent_jsonl.write_text(
        '{"patient_id": "P-9", "date_of_service": "2025-06-02", "cpt": "77080", "covered": null}\n'
        '{"patient_id": "P-9", "date_of_service": "2025-06-02", "cpt": "77080", "claim_id": "C"}\n'
    )
    code, out = run("import", str(silent_jsonl), "--db", db_url)
    assert code == 0, out
    assert "updated" not in out
    assert _coverage(db_url, "P-9") == [("77080", False), ("77085", True)]


def test_a_row_that_states_coverage_counts_after_one_that_does_not(
    tmp_path: Path, db_url: str
) -> None:
    """The same study twice in one JSON Lines file, first without `covered`, then with it:
    the row that says is the one that counts."""
    denied = tmp_path / "denied.csv"
    denied.write_text("patient_id,date_of_service,cpt,covered\nP-8,2025-06-02,77080,false\n")
    assert run("import", str(denied), "--db", db_url)[0] == 0
    both = tmp_path / "both.jsonl"
    both.write_text(
        '{"patient_id": "P-8", "date_of_service": "2025-06-02", "cpt": "77080"}\n'
        '{"patient_id": "P-8", "date_of_service": "2025-06-02", "cpt": "77080", "covered": true}\n'
    )
    code, out = run("import", str(both), "--db", db_url)
    assert code == 0, out
    assert _coverage(db_url, "P-8") == [("77080", True)]


def test_import_with_a_covered_column_updates_a_stored_study(tmp_path: Path, db_url: str) -> None:
    """A file that has the column says it for every row (an empty cell meaning true): the
    stored study takes the file's coverage, both ways."""
    denied = tmp_path / "denied.csv"
    denied.write_text("patient_id,date_of_service,cpt,covered\nP-9,2025-06-02,77080,false\n")
    assert run("import", str(denied), "--db", db_url)[0] == 0
    paid = tmp_path / "paid.csv"
    paid.write_text("patient_id,date_of_service,cpt,covered\nP-9,2025-06-02,77080,\n")
    code, out = run("import", str(paid), "--db", db_url)
    assert code == 0, out
    assert "updated                  1" in out
    assert _coverage(db_url, "P-9") == [("77080", True)]
    again = tmp_path / "again.jsonl"
    again.write_text(
        '{"patient_id": "P-9", "date_of_service": "2025-06-02", "cpt": "77080", "covered": false}\n'
    )
    code, out = run("import", str(again), "--db", db_url)
    assert code == 0 and "updated                  1" in out
    assert _coverage(db_url, "P-9") == [("77080", False)]
