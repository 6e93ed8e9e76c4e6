"""What the batch audit found, each as a user meets it: nothing lost to a quote left open,
a corrected claim checked as itself, one patient id whatever the door, typed Parquet
columns, outputs that cannot be written, no input values echoed, and the command's
smaller promises (stdin, --record, per-severity counts, headers)."""

from __future__ import annotations

import datetime
import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dexacode.batch import BatchInputError, ScrubOptions, ScrubSummary, scrub
from dexacode.cli import app
from dexacode.formats.flat import encounter_to_row
from tests.conftest import make_encounter
from tests.test_batch import _errors as _batch_errors
from tests.test_batch import _read_jsonl, _write_csv, _write_jsonl

NO_STORE = ScrubOptions(use_store=False, workers=1)
SCRUB = [sys.executable, "-m", "dexacode", "scrub"]


# The batch tests' own file helpers, under the names these tests use.
_jsonl, _csv, _results, _errors = _write_jsonl, _write_csv, _read_jsonl, _batch_errors


def _ids(result: dict[str, Any]) -> list[str]:
    return [f["id"] for f in result["findings"]]


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SCRUB, *args], capture_output=True, text=True, input=stdin)


def _store(tmp_path: Path, **changes: Any) -> ScrubOptions:
    return ScrubOptions(db_url=f"sqlite:///{tmp_path / 'h.sqlite3'}", workers=1, **changes)


# --- 1. a quote left open: nothing vanishes -------------------------------------------------


def test_a_quote_left_open_is_one_refused_row_naming_the_lines_it_swallowed(
    tmp_path: Path,
) -> None:
    """1,000 claims, the second with a quote never closed: the csv module reads the next
    hundreds of lines into one cell. Every claim is in the results or inside the refused
    row's named lines, and the summary counts the lines."""
    encounters = [make_encounter(claim_id=f"C{i}", patient__id=f"P{i}") for i in range(1, 1001)]
    src = _csv(tmp_path / "in.csv", encounters)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace("C2,", 'C2,"', 1)  # line 3 of the file: claim C2
    src.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=NO_STORE)

    [bad] = _errors(tmp_path / "out.errors.jsonl")
    assert bad["row"] == 2  # the line after the header where it starts
    first, last = (
        int(n) for n in bad["reason"].split("lines ")[1].split(" of the")[0].split(" to ")
    )
    assert first == 3 and last > 3
    coded = {r["claim_id"] for r in _results(out)}
    swallowed = {f"C{n - 1}" for n in range(first, last + 1)}  # line n holds claim n-1
    assert coded | swallowed == {f"C{i}" for i in range(1, 1001)}
    assert not coded & swallowed
    assert summary.lines_read == 1000 and summary.bad_lines == last - first + 1
    assert summary.reconciles

    proc = _cli(str(src), "--out", str(tmp_path / "o2.jsonl"), "--no-store")
    assert proc.returncode == 1, proc.stderr
    assert "(1,000 lines of data)" in proc.stdout
    assert "= 1,000 lines" in proc.stdout and "reconciles:     yes" in proc.stdout


def test_a_quote_left_open_to_the_end_of_the_file_is_refused_not_coded(tmp_path: Path) -> None:
    encounters = [make_encounter(claim_id=f"C{i}", patient__id=f"P{i}") for i in range(1, 5)]
    src = _csv(tmp_path / "in.csv", encounters)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace("C2,", 'C2,"', 1)
    src.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=NO_STORE)
    assert [r["claim_id"] for r in _results(out)] == ["C1"]
    [bad] = _errors(tmp_path / "out.errors.jsonl")
    assert "lines 3 to 5 of the file were read as this one row" in bad["reason"]
    assert (summary.rows_read, summary.lines_read, summary.bad_lines) == (2, 4, 3)
    assert summary.reconciles


def test_a_reason_typed_over_lines_is_coded_and_keeps_its_line_break(tmp_path: Path) -> None:
    """Excel's Alt+Enter in peripheral_reason, properly quoted: the record spans lines but
    is a well-formed row. It is coded, its text keeps the line break, the rows after it
    keep their line numbers, and the summary reconciles (the row is one line of data)."""
    from dexacode.formats.batch_io import LineCount, encounter_of, read_rows

    encounters = [make_encounter(claim_id=f"C{i}", patient__id=f"P{i}") for i in range(1, 5)]
    encounters[1]["exam"]["peripheral_reason"] = (
        "degenerative changes, hardware\r\nmake the lumbar spine unreadable"
    )
    encounters[2]["patient"]["sex"] = "X"  # a row after it, refused: numbered by its line
    src = _csv(tmp_path / "in.csv", encounters)
    assert src.read_bytes().count(b"\r\n") == 6  # header, 4 rows, and the one in the cell
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=NO_STORE)

    assert [r["claim_id"] for r in _results(out)] == ["C1", "C2", "C4"]
    [bad] = _errors(tmp_path / "out.errors.jsonl")
    assert (bad["row"], bad["claim_id"], bad["field"]) == (4, "C3", "patient.sex")
    assert (summary.rows_read, summary.results, summary.bad_rows) == (4, 3, 1)
    assert (summary.lines_read, summary.bad_lines) == (4, 1)
    assert summary.reconciles
    counted = LineCount()
    rows = [raw for raw, _ in read_rows(src, "csv", counted)]
    assert [raw.row for raw in rows] == [1, 2, 4, 5]
    assert encounter_of(rows[1]).exam.peripheral_reason == (
        "degenerative changes, hardware\r\nmake the lumbar spine unreadable"
    )

    proc = _cli(str(src), "--out", str(tmp_path / "o2.jsonl"), "--no-store")
    assert proc.returncode == 1, proc.stderr
    assert "reconciles:     yes" in proc.stdout and "lines of data" not in proc.stdout


def test_the_summary_never_says_it_reconciles_when_lines_are_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dexacode.cli import _print_summary

    summary = ScrubSummary(rows_read=3, results=2, bad_rows=1, lines_read=10, bad_lines=1)
    assert not summary.reconciles
    _print_summary(summary)
    assert "reconciles:     NO" in capsys.readouterr().out


# --- 2. a corrected claim is checked as itself ------------------------------------------------


def test_a_claim_corrected_to_another_date_is_not_checked_against_itself(
    tmp_path: Path,
) -> None:
    """Day 1 records claim C-500 dated 2 April; the practice corrects its date to 20 April
    and scrubs it again: no FREQUENCY, and the store keeps only the corrected study."""
    from dexacode.store import HistoryStore

    options = _store(tmp_path, record=True)
    draft = make_encounter(claim_id="C-500", patient__id="P-500", date_of_service="2026-04-02")
    scrub(_jsonl(tmp_path / "d1.jsonl", [draft]), tmp_path / "r1.jsonl", options=options)
    fixed = make_encounter(claim_id="C-500", patient__id="P-500", date_of_service="2026-04-20")
    out = tmp_path / "r2.jsonl"
    summary = scrub(_jsonl(tmp_path / "d2.jsonl", [fixed]), out, options=options)
    assert "FREQUENCY" not in _ids(_results(out)[0])
    assert "ABN-MISSING" not in _ids(_results(out)[0])
    assert (summary.recorded, summary.record_replaced) == (1, 1)
    with HistoryStore(options.db_url) as store:
        assert [(s.date_of_service.isoformat(), s.claim_id) for s in store.show("P-500")] == [
            ("2026-04-20", "C-500")
        ]


def test_a_claim_recoded_from_denied_to_covered_counts_as_covered_next_time(
    tmp_path: Path,
) -> None:
    """The draft of C-600 is not covered (no reason for a premenopausal woman's scan) and
    is recorded as denied; the fixed claim (a risk factor added) is covered. Recording it
    updates the stored study, so the patient's next claim within 23 months is too soon."""
    from dexacode.store import HistoryStore

    options = _store(tmp_path, record=True)
    young = {
        "patient__id": "P-600",
        "patient__birth_date": "1980-01-01",
        "patient__menopausal_status": "premenopausal",
        "date_of_service": "2026-04-20",
        "claim_id": "C-600",
    }
    draft = make_encounter(**young)
    first = scrub(_jsonl(tmp_path / "a.jsonl", [draft]), tmp_path / "a.out.jsonl", options=options)
    assert first.recorded == 1
    fixed = make_encounter(**young, patient__risk_factors=["primary_hyperparathyroidism"])
    out = tmp_path / "b.out.jsonl"
    second = scrub(_jsonl(tmp_path / "b.jsonl", [fixed]), out, options=options)
    assert not {"FREQUENCY", "ABN-MISSING"} & set(_ids(_results(out)[0]))
    assert (second.recorded, second.record_updated) == (0, 1)
    with HistoryStore(options.db_url) as store:
        assert [s.covered for s in store.show("P-600")] == [True]
    later = make_encounter(
        **{**young, "claim_id": "C-601", "date_of_service": "2026-10-20"},
        patient__risk_factors=["primary_hyperparathyroidism"],
    )
    out = tmp_path / "c.out.jsonl"
    scrub(_jsonl(tmp_path / "c.jsonl", [later]), out, options=_store(tmp_path))
    assert "FREQUENCY" in _ids(_results(out)[0])


def test_a_record_run_that_adds_nothing_says_so(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "in.jsonl", [make_encounter(claim_id="R-1", patient__id="P-R")])
    db = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    assert (
        _cli(str(src), "--out", str(tmp_path / "a.jsonl"), "--record", "--db", db).returncode == 0
    )
    again = _cli(str(src), "--out", str(tmp_path / "b.jsonl"), "--record", "--db", db)
    assert again.returncode == 0, again.stderr
    assert "Studies added to the history store: 0 (1 already there)" in again.stdout


def test_record_with_no_store_is_refused(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "in.jsonl", [make_encounter()])
    proc = _cli(str(src), "--out", str(tmp_path / "o.jsonl"), "--record", "--no-store")
    assert proc.returncode == 2
    assert "--record" in proc.stderr and "--no-store" in proc.stderr
    assert not (tmp_path / "o.jsonl").exists()
    with pytest.raises(BatchInputError, match="--no-store"):
        scrub(src, tmp_path / "o.jsonl", options=ScrubOptions(use_store=False, record=True))


# --- 3. one patient id whatever the door ------------------------------------------------------


def test_a_patient_id_with_spaces_reads_the_same_in_json_lines_and_csv(tmp_path: Path) -> None:
    """'P-1 ' is the patient 'P-1' of the store in both formats (CSV trims its cells; the
    contract trims JSON ids)."""
    from dexacode.store import HistoryStore, StudyRow

    options = _store(tmp_path)
    with HistoryStore(options.db_url) as store:
        store.add([StudyRow(" P-1", datetime.date(2025, 6, 10), "77080")], source="t")
        assert [s.patient_id for s in store.show("P-1")] == ["P-1"]
    enc = make_encounter(claim_id="SP-1", patient__id="P-1 ", date_of_service="2026-03-02")
    found = {}
    for fmt in ("jsonl", "csv"):
        src = tmp_path / f"in.{fmt}"
        _jsonl(src, [enc]) if fmt == "jsonl" else _csv(src, [enc])
        out = tmp_path / f"out-{fmt}.jsonl"
        scrub(src, out, options=options)
        found[fmt] = _ids(_results(out)[0])
    assert "FREQUENCY" in found["csv"]
    assert found["jsonl"] == found["csv"]


# --- 4. typed Parquet columns ----------------------------------------------------------------


def _parquet(path: Path, encounters: list[dict[str, Any]], **typed: pa.Array) -> Path:
    rows = [encounter_to_row(e) for e in encounters]
    table = pa.Table.from_pylist(rows)
    for name, column in typed.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    pq.write_table(table, path)
    return path


def test_date_and_timestamp_columns_are_read_as_dates(tmp_path: Path) -> None:
    enc = make_encounter(claim_id="TS-1", date_of_service="2026-03-02")
    day = datetime.datetime(2026, 3, 2)
    born = datetime.datetime(1956, 1, 15)
    for kind, dos, birth in (
        ("timestamp", pa.array([day], pa.timestamp("ns")), pa.array([born], pa.timestamp("us"))),
        ("date32", pa.array([day.date()], pa.date32()), pa.array([born.date()], pa.date32())),
        ("date64", pa.array([day.date()], pa.date64()), pa.array([born.date()], pa.date64())),
    ):
        src = _parquet(tmp_path / f"{kind}.parquet", [enc], date_of_service=dos, birth_date=birth)
        out = tmp_path / f"{kind}.jsonl"
        summary = scrub(src, out, options=NO_STORE)
        assert summary.results == 1, (kind, _errors(tmp_path / f"{kind}.errors.jsonl"))


def test_a_timestamp_with_a_time_of_day_is_refused_not_guessed(tmp_path: Path) -> None:
    enc = make_encounter(claim_id="TS-2")
    dos = pa.array([datetime.datetime(2026, 3, 2, 14, 30)], pa.timestamp("us"))
    src = _parquet(tmp_path / "in.parquet", [enc], date_of_service=dos)
    scrub(src, tmp_path / "out.jsonl", options=NO_STORE)
    [bad] = _errors(tmp_path / "out.errors.jsonl")
    assert bad["field"] == "date_of_service" and "time of day" in bad["reason"]


def test_a_floating_point_patient_id_column_is_refused_whole(tmp_path: Path) -> None:
    enc = make_encounter(claim_id="F-1")
    src = _parquet(tmp_path / "in.parquet", [enc], patient_id=pa.array([604138.0], pa.float64()))
    proc = _cli(str(src), "--out", str(tmp_path / "o.jsonl"), "--no-store")
    assert proc.returncode == 2
    assert "patient_id column is stored as floating-point numbers" in proc.stderr
    assert "604138.0 and" not in proc.stderr.replace("604138.0 and match", "")


def test_whole_number_ids_are_their_digits_and_find_the_patients_history(
    tmp_path: Path,
) -> None:
    from dexacode.store import HistoryStore, StudyRow

    options = _store(tmp_path)
    with HistoryStore(options.db_url) as store:
        store.add([StudyRow("604138", datetime.date(2025, 6, 10), "77080")], source="t")
    enc = make_encounter(claim_id="I-1", date_of_service="2026-03-02")
    src = _parquet(
        tmp_path / "in.parquet",
        [enc],
        patient_id=pa.array([604138], pa.int64()),
        claim_id=pa.array([7001], pa.int64()),
    )
    out = tmp_path / "out.jsonl"
    scrub(src, out, options=options)
    [result] = _results(out)
    assert result["claim_id"] == "7001" and "FREQUENCY" in _ids(result)


# --- 5. outputs that cannot be written ---------------------------------------------------------


def _in_process(*args: str) -> Any:
    return CliRunner().invoke(app, ["scrub", *args, "--workers", "1", "--no-store"])


def test_a_full_disk_while_writing_results_is_exit_2_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexacode.formats import batch_io

    def full(self: Any, lines: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch_io.ResultWriter, "write_json", full)
    src = _jsonl(tmp_path / "in.jsonl", [make_encounter()])
    out = tmp_path / "out.jsonl"
    result = _in_process(str(src), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert f"{out}: cannot write the results: No space left on device" in result.output
    assert "internal error" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # no parts left behind


def test_a_full_disk_while_writing_the_errors_file_is_exit_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexacode.formats import batch_io

    def full(self: Any, *args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch_io.ErrorWriter, "_write", full)
    src = _jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken"])
    errors = tmp_path / "bad.jsonl"
    result = _in_process(str(src), "--out", str(tmp_path / "o.jsonl"), "--errors", str(errors))
    assert result.exit_code == 2, result.output
    assert f"{errors}: cannot write the errors file: No space left on device" in result.output


def test_an_output_in_a_place_that_cannot_be_written_is_exit_2(tmp_path: Path) -> None:
    if Path("/sys").is_dir() is False:
        pytest.skip("no /sys here")
    src = _jsonl(tmp_path / "in.jsonl", [make_encounter()])
    for args in (
        ["--out", "/sys/x.jsonl"],
        ["--out", str(tmp_path / "o.jsonl"), "--errors", "/sys/e.jsonl"],
    ):
        proc = _cli(str(src), *args, "--no-store")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("dexacode: output error: /sys/"), proc.stderr
        assert "internal error" not in proc.stderr


def test_the_errors_file_is_never_json_under_a_parquet_name(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken"])
    proc = _cli(
        str(src),
        "--out",
        str(tmp_path / "o.jsonl"),
        "--errors",
        str(tmp_path / "e.parquet"),
        "--no-store",
    )
    assert proc.returncode == 2
    assert ".csv or .jsonl" in proc.stderr
    assert not (tmp_path / "e.parquet").exists()


# --- 6. no input values echoed ------------------------------------------------------------------


def test_json_lines_read_as_csv_is_named_without_echoing_a_record(tmp_path: Path) -> None:
    src = _jsonl(tmp_path / "b.jsonl", [make_encounter(patient__id="P-604138")])
    proc = _cli(str(src), "--format", "csv", "--out", str(tmp_path / "o.jsonl"), "--no-store")
    assert proc.returncode == 2
    assert "looks like JSON" in proc.stderr
    assert "P-604138" not in proc.stderr and "{" not in proc.stderr


def test_a_header_cell_that_is_not_shaped_like_a_name_is_not_repeated(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        "claim_id,date_of_service,payer,Jane Doe 1956-05-14\nC-1,2026-01-02,medicare,x\n"
    )
    proc = _cli(str(src), "--out", str(tmp_path / "o.jsonl"), "--no-store")
    assert proc.returncode == 2
    assert "Jane" not in proc.stderr and "1956" not in proc.stderr
    assert "unknown column number 4" in proc.stderr


def test_a_csv_without_a_header_says_so_plainly(tmp_path: Path) -> None:
    src = _csv(tmp_path / "in.csv", [make_encounter(patient__id="P-604138")])
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    src.write_text("".join(lines[1:]), encoding="utf-8")
    proc = _cli(str(src), "--out", str(tmp_path / "o.jsonl"), "--no-store")
    assert proc.returncode == 2
    assert "the first line is not a header" in proc.stderr
    assert "P-604138" not in proc.stderr and "1956" not in proc.stderr


# --- 7. the command's smaller promises -----------------------------------------------------------


def test_csv_headers_are_read_in_any_case(tmp_path: Path) -> None:
    src = _csv(tmp_path / "in.csv", [make_encounter(claim_id="UP-1")])
    text = src.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    src.write_text(header.upper().replace("CLAIM_ID", "Claim_ID") + "\n" + rest, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert scrub(src, out, options=NO_STORE).results == 1
    assert _results(out)[0]["claim_id"] == "UP-1"


@pytest.mark.parametrize("how", ["-", "/dev/stdin"])
def test_piped_input_is_read(tmp_path: Path, how: str) -> None:
    text = json.dumps(make_encounter(claim_id="PIPE-1")) + "\n"
    out = tmp_path / "o.jsonl"
    proc = _cli(how, "--format", "jsonl", "--out", str(out), "--no-store", stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert [r["claim_id"] for r in _results(out)] == ["PIPE-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl"]  # the copy is gone


def test_standard_input_needs_a_format(tmp_path: Path) -> None:
    proc = _cli("-", "--out", str(tmp_path / "o.jsonl"), "--no-store", stdin="{}\n")
    assert proc.returncode == 2
    assert "needs --format" in proc.stderr


def test_finding_counts_are_split_by_the_severity_each_had(tmp_path: Path) -> None:
    """FREQUENCY is an error for Medicare and a warning for a commercial plan: the summary
    counts each apart instead of calling all of them errors."""
    visits = []
    for i, payer in enumerate(["medicare", "medicare", "commercial"]):
        visits.append(
            make_encounter(
                claim_id=f"S-{i}",
                patient__id=f"P-S{i}",
                payer=payer,
                history=[{"date_of_service": "2025-06-10", "cpt": "77080"}],
            )
        )
    src = _jsonl(tmp_path / "in.jsonl", visits)
    summary = scrub(src, tmp_path / "out.jsonl", options=NO_STORE)
    assert summary.severity_counts[("FREQUENCY", "error")] == 2
    assert summary.severity_counts[("FREQUENCY", "warning")] == 1
    assert summary.finding_counts["FREQUENCY"] == 3
    proc = _cli(str(src), "--out", str(tmp_path / "o2.jsonl"), "--no-store")
    lines = [
        line.split() for line in proc.stdout.splitlines() if line.strip().startswith("FREQUENCY")
    ]
    assert ["FREQUENCY", "2", "error"] in lines and ["FREQUENCY", "1", "warning"] in lines
    assert any("(FREQUENCY, warning)" in line for line in summary.top_problems())


def test_the_format_options_list_their_values() -> None:
    result = CliRunner().invoke(app, ["scrub", "--help"], env={"COLUMNS": "200"})
    assert "jsonl|csv|parquet|x12|fhir" in result.output
    assert "jsonl|csv|parquet " in result.output or "jsonl|csv|parquet\n" in result.output


def test_generate_on_a_full_disk_leaves_no_file_that_looks_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexacode import generate

    real = generate._rendered

    def fails_after_one(tasks: Any, workers: int) -> Any:
        blocks = real(tasks, workers)
        yield next(blocks)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(generate, "_rendered", fails_after_one)
    out = tmp_path / "g.jsonl"
    out.write_text("an earlier complete file\n")
    result = CliRunner().invoke(
        app, ["generate", "--count", str(generate.BLOCK * 2), "--seed", "1", "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output
    assert out.read_text() == "an earlier complete file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.jsonl"]
