"""Batch scrubbing: every row accounted for, the engine's results unchanged, repeat visits
in one file checked against each other in date order."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dexacode.batch import BatchInputError, ScrubOptions, scrub
from dexacode.contract import CodingResult
from dexacode.formats.flat import encounter_to_row
from tests.conftest import EXAMPLES, load_example, make_encounter, store_with_prior
from tests.test_cases import _build, _load

NO_STORE = ScrubOptions(use_store=False, workers=1)
SCRUB = [sys.executable, "-m", "dexacode", "scrub"]  # the command, as a user runs it


def _write_jsonl(path: Path, encounters: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for enc in encounters:
            fh.write((enc if isinstance(enc, str) else json.dumps(enc)) + "\n")
    return path


def _write_csv(path: Path, encounters: list[dict[str, Any]]) -> Path:
    rows = [encounter_to_row(e) for e in encounters]
    columns = list(dict.fromkeys(c for r in rows for c in r))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _errors(path: Path) -> list[dict[str, Any]]:
    return _read_jsonl(path) if path.exists() else []


def _examples() -> list[dict[str, Any]]:
    return [
        load_example(p)["encounter"]
        for p in sorted(EXAMPLES.glob("*.json"))
        if load_example(p)["expect"].get("exit") != 2
    ]


# --- the same answers as the engine ----------------------------------------------------


def test_scenario_cases_scrub_to_the_engines_results(
    tmp_path: Path, code: Callable[..., CodingResult]
) -> None:
    """Every scenario case of tests/cases, as one batch, gives the engine's own result."""
    encounters = []
    for i, param in enumerate(_load()):
        case = param.values[0]
        if "error" in case["expect"]:
            continue
        enc = _build(case.get("given", {}))
        enc["claim_id"] = f"case-{i}"
        enc["patient"]["id"] = f"P-case-{i}"  # each its own patient: no repeat visits
        encounters.append(enc)
    src = _write_jsonl(tmp_path / "cases.jsonl", encounters)
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=ScrubOptions(use_store=False, workers=2, chunk_size=50))
    got = _read_jsonl(out)
    assert summary.rows_read == len(encounters) == summary.results == len(got)
    for enc, result in zip(encounters, got, strict=True):
        assert result == code(enc).model_dump(mode="json"), enc["claim_id"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_flat_formats_give_the_same_lines_as_json_lines(tmp_path: Path, fmt: str) -> None:
    encounters = _examples()
    for i, enc in enumerate(encounters):
        enc["patient"]["id"] = f"P-{i}"
    json_out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", encounters), json_out, options=NO_STORE)
    src = _write_csv(tmp_path / "in.csv", encounters)
    if fmt == "parquet":
        table = pa.Table.from_pylist(list(csv.DictReader(src.open(encoding="utf-8"))))
        src = tmp_path / "in.parquet"
        pq.write_table(table, src)
    flat_out = tmp_path / f"out.{fmt}"
    scrub(src, flat_out, options=NO_STORE)
    if fmt == "csv":
        rows = list(csv.DictReader(flat_out.open(encoding="utf-8")))
    else:
        rows = pq.read_table(flat_out).to_pylist()
    expected = [
        (r["claim_id"], line["cpt"], ";".join(line["modifiers"]))
        for r in _read_jsonl(json_out)
        for line in r["lines"]
    ]
    assert [(r["claim_id"], r["cpt"], r["modifiers"]) for r in rows] == expected
    assert all(int(r["row"]) >= 1 for r in rows)


# --- nothing lost -------------------------------------------------------------------------


def test_bad_rows_go_to_the_errors_file_with_row_claim_field_and_reason(tmp_path: Path) -> None:
    good = make_encounter(claim_id="GOOD-1")
    unknown_site = make_encounter(claim_id="BAD-SITE", exam__sites=["skull"])
    src = _write_jsonl(
        tmp_path / "in.jsonl",
        [good, unknown_site, "{not json", good | {"claim_id": "GOOD-2"}, '{"claim_id": "cut'],
    )
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=NO_STORE)
    errors = _errors(tmp_path / "out.errors.jsonl")
    assert summary.rows_read == 5 and summary.results == 2 and summary.bad_rows == 3
    assert summary.reconciles
    assert [e["row"] for e in errors] == [2, 3, 5]
    assert errors[0]["claim_id"] == "BAD-SITE" and errors[0]["field"] == "exam.sites[0]"
    assert "skull" in errors[0]["reason"]
    assert "JSON" in errors[1]["reason"] and "JSON" in errors[2]["reason"]
    assert [r["claim_id"] for r in _read_jsonl(out)] == ["GOOD-1", "GOOD-2"]
    assert summary.exit_code == 1


def test_errors_never_carry_patient_identifiers(tmp_path: Path) -> None:
    enc = make_encounter(patient__id="ZZ-SECRET-ID", patient__birth_date="1951-02-30")
    src = _write_jsonl(tmp_path / "in.jsonl", [enc])
    scrub(src, tmp_path / "out.jsonl", options=NO_STORE)
    text = (tmp_path / "out.errors.jsonl").read_text()
    assert "ZZ-SECRET-ID" not in text and "1951-02-30" not in text
    assert "patient.birth_date" in text


def test_wrong_encoding_and_overlong_lines_are_refused_alone(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = json.dumps(make_encounter()).encode()
    src.write_bytes(good + b"\n" + b'{"claim_id": "caf\xe9"}\n' + b"x" * 1_200_000 + b"\n" + good)
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=NO_STORE)
    errors = _errors(tmp_path / "out.errors.jsonl")
    assert summary.results == 2 and summary.bad_rows == 2 and summary.reconciles
    assert "UTF-8" in errors[0]["reason"]
    assert "bytes" in errors[1]["reason"]


def test_a_100_mb_line_is_refused_alone_without_holding_up_the_run(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = json.dumps(make_encounter()).encode()
    with src.open("wb") as fh:
        fh.write(good + b"\n" + b'{"claim_id": "' + b"y" * 100_000_000 + b'"}\n' + good + b"\n")
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=ScrubOptions(use_store=False, workers=2, chunk_size=1))
    assert (summary.rows_read, summary.results, summary.bad_rows) == (3, 2, 1)
    [error] = _errors(tmp_path / "out.errors.jsonl")
    assert error["row"] == 2 and "100,000,016 bytes" in error["reason"]
    assert len(out.read_text().splitlines()) == 2


def test_a_csv_cell_beyond_the_field_limit_is_refused_alone(tmp_path: Path) -> None:
    encounters = [make_encounter(claim_id=f"C-{i}") for i in range(3)]
    src = _write_csv(tmp_path / "in.csv", encounters)
    text = src.read_text().splitlines()
    text[2] = text[2].replace("C-1", "C-1" + "x" * 3_000_000)
    src.write_text("\n".join(text) + "\n")
    summary = scrub(src, tmp_path / "out.csv", options=NO_STORE)
    assert (summary.rows_read, summary.results, summary.bad_rows) == (3, 2, 1)
    [error] = _errors(tmp_path / "out.errors.jsonl")
    assert error["row"] == 2 and "field limit" in error["reason"]


def test_a_parquet_file_with_a_column_twice_is_refused_whole(tmp_path: Path) -> None:
    row = encounter_to_row(make_encounter())
    names = [*row, "sex"]
    table = pa.Table.from_arrays([pa.array([v]) for v in [*row.values(), "M"]], names=names)
    src = tmp_path / "twice.parquet"
    pq.write_table(table, src)
    with pytest.raises(BatchInputError, match="'sex' appears more than once"):
        scrub(src, tmp_path / "out.jsonl", options=NO_STORE)


def test_a_line_is_measured_without_its_line_end() -> None:
    from dexacode.formats.batch_io import MAX_ROW_BYTES, jsonl_row

    at_limit = b"x" * MAX_ROW_BYTES
    for ending in (b"", b"\n", b"\r\n"):
        assert jsonl_row(2, at_limit + ending).problem is None
        assert "bytes" in (jsonl_row(2, at_limit + b"x" + ending).problem or "")


def test_a_single_worker_run_lets_go_of_the_store(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter()])
    options = ScrubOptions(db_url=f"sqlite:///{db}", workers=1, record=True)
    scrub(src, tmp_path / "out.jsonl", options=options)
    # SQLite removes its write-ahead log when the last connection closes.
    assert db.exists() and not Path(f"{db}-wal").exists()


def test_blank_lines_are_skipped_and_counted_not_errors(tmp_path: Path) -> None:
    """An extra newline (or a spreadsheet's empty row) holds no encounter: it is counted,
    never an error, and the lines after it keep their numbers."""
    src = tmp_path / "in.jsonl"
    good = json.dumps(make_encounter())
    src.write_text(good + "\n\n" + "{broken\n" + good + "\n  \n\n")
    summary = scrub(src, tmp_path / "out.jsonl", options=NO_STORE)
    assert (summary.rows_read, summary.results, summary.bad_rows) == (3, 2, 1)
    assert summary.blank_lines == 3 and summary.reconciles
    assert [b["row"] for b in _errors(tmp_path / "out.errors.jsonl")] == [3]

    csv_src = _write_csv(tmp_path / "in.csv", [make_encounter()])
    columns = len(csv_src.read_text().splitlines()[0].split(","))
    with csv_src.open("a") as fh:
        fh.write("," * (columns - 1) + "\n")  # a spreadsheet's empty row
    summary = scrub(csv_src, tmp_path / "out2.jsonl", options=NO_STORE)
    assert (summary.rows_read, summary.bad_rows, summary.blank_lines) == (1, 0, 1)
    assert summary.exit_code == 0 and not (tmp_path / "out2.errors.jsonl").exists()


def test_an_empty_parquet_row_is_blank_as_in_csv(tmp_path: Path) -> None:
    rows = [encounter_to_row(make_encounter(claim_id=f"C-{i}")) for i in range(2)]
    empty: dict[str, Any] = dict.fromkeys(rows[0])
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([rows[0], empty, rows[1]]), src)
    for workers in (1, 2):
        summary = scrub(src, tmp_path / "out.jsonl", options=replace(NO_STORE, workers=workers))
        assert (summary.rows_read, summary.bad_rows, summary.blank_lines) == (2, 0, 1)


def test_a_file_of_blank_lines_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n\n  \n")
    with pytest.raises(BatchInputError, match="only blank lines"):
        scrub(src, tmp_path / "out.jsonl", options=NO_STORE)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.jsonl", b"", "empty"),
        ("empty.csv", b"", "empty"),
        (
            "header.csv",
            b"claim_id,date_of_service,payer,patient_id,sex,birth_date,order_reason\n",
            "no rows",
        ),
        ("nopayer.csv", b"claim_id,date_of_service,patient_id\nC-1,2026-01-02,P-1\n", "no payer,"),
        (
            "semicolons.csv",
            b"claim_id;date_of_service;payer\nC-1;2026-01-02;medicare\n",
            "semicolons",
        ),
        ("tabs.csv", b"claim_id\tpayer\nC-1\tmedicare\n", "tabs"),
        ("utf16.csv", "claim_id,payer\nC-1,medicare\n".encode("utf-16"), "UTF-16"),
        ("parquet.csv", b"PAR1\x15\x04rest of a parquet file", "this is a Parquet file"),
        ("array.jsonl", b'[{"claim_id": "C-1"}]\n', "one JSON document"),
        ("pretty.jsonl", b'{\n  "claim_id": "C-1"\n}\n', "one encounter on each line"),
        ("bundle.json", b'{\n  "resourceType": "Bundle"\n}\n', "give the format fhir"),
        ("strange.csv", b"claim_id,shoe_size\nC-1,42\n", "shoe_size"),
        ("twice.csv", b"claim_id,sex,sex\nC-1,F,M\n", "'sex' appears more than once"),
        ("notes.txt", b"hello\n", "format"),
        ("bad.parquet", b"not parquet at all", "Parquet"),
    ],
)
def test_unreadable_files_fail_whole_with_a_clear_message(
    tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    src = tmp_path / name
    src.write_bytes(content)
    out = tmp_path / "out.jsonl"
    with pytest.raises(BatchInputError, match=says):
        scrub(src, out, options=NO_STORE)
    assert not out.exists()


def test_a_folder_given_as_input_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(BatchInputError, match="is a folder, not a file"):
        scrub(tmp_path, tmp_path / "out.jsonl", options=NO_STORE)


def test_csv_cells_with_spreadsheet_habits_are_read(tmp_path: Path) -> None:
    enc = make_encounter()
    row = encounter_to_row(enc)
    row["result2_t_score"] = "\u22121,9"  # Unicode minus and a decimal comma
    src = tmp_path / "in.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    out = tmp_path / "out.jsonl"
    scrub(src, out, options=NO_STORE)
    result = _read_jsonl(out)[0]
    assert result["interpretation"]["basis"]["t_score"] == -1.9
    assert "M85.852" in result["diagnoses"]


def test_a_csv_row_with_the_wrong_number_of_cells_is_refused(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", [make_encounter(), make_encounter()])
    lines = src.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ",extra"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = scrub(src, tmp_path / "out.jsonl", options=NO_STORE)
    assert (summary.results, summary.bad_rows) == (1, 1)
    assert "cells" in _errors(tmp_path / "out.errors.jsonl")[0]["reason"]


# --- repeat visits in one file -------------------------------------------------------------


def _visit(claim: str, day: str, **changes: Any) -> dict[str, Any]:
    return make_encounter(claim_id=claim, date_of_service=day, patient__id="P-REPEAT", **changes)


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_two_visits_of_one_patient_are_checked_in_date_order(
    tmp_path: Path, order: list[int]
) -> None:
    visits = [_visit("FIRST", "2025-01-10"), _visit("SECOND", "2026-03-02")]
    src = _write_jsonl(tmp_path / "in.jsonl", [visits[i] for i in order])
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=NO_STORE)
    results = {r["claim_id"]: r for r in _read_jsonl(out)}
    first_ids = [f["id"] for f in results["FIRST"]["findings"]]
    second_ids = [f["id"] for f in results["SECOND"]["findings"]]
    assert "FREQUENCY" not in first_ids
    assert "FREQUENCY" in second_ids
    assert results["SECOND"]["coverage"]["next_eligible_date"] == "2027-01-01"
    assert results["SECOND"]["lines"][0]["modifiers"] == ["GZ"]
    assert summary.finding_counts["FREQUENCY"] == 1
    assert summary.with_errors == 1
    # The output keeps the input's order.
    assert [r["claim_id"] for r in _read_jsonl(out)] == [visits[i]["claim_id"] for i in order]


def test_a_denied_visit_does_not_count_as_a_covered_prior(tmp_path: Path) -> None:
    visits = [
        _visit("A", "2024-01-10"),
        _visit("B", "2024-06-10"),  # too soon after A: denied, so not a covered study
        _visit("C", "2026-02-02"),  # 23 whole months after A (January 2024) have passed
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", [visits[2], visits[0], visits[1]])
    out = tmp_path / "out.jsonl"
    scrub(src, out, options=NO_STORE)
    results = {r["claim_id"]: [f["id"] for f in r["findings"]] for r in _read_jsonl(out)}
    assert "FREQUENCY" in results["B"]
    assert "FREQUENCY" not in results["C"]


def test_visits_under_other_payer_families_do_not_count(tmp_path: Path) -> None:
    visits = [
        _visit("COMMERCIAL", "2025-05-10", payer="commercial"),
        _visit("MEDICARE", "2026-03-02"),
    ]
    out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    medicare = next(r for r in _read_jsonl(out) if r["claim_id"] == "MEDICARE")
    assert "FREQUENCY" not in [f["id"] for f in medicare["findings"]]


def test_same_day_rows_of_one_patient_are_one_study_not_priors(tmp_path: Path) -> None:
    visits = [
        _visit("PRO", "2026-03-02", billing__component="professional"),
        _visit("TECH", "2026-03-02", billing__component="technical"),
    ]
    out = tmp_path / "out.jsonl"
    summary = scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    found = [f["id"] for r in _read_jsonl(out) for f in r["findings"]]
    # The reading and the equipment's part of one study: no prior, and no duplicate.
    assert "FREQUENCY" not in found
    assert not [f for f in found if f.startswith("SAME-DATE")]
    assert summary.with_errors == 0


def _same_date_ids(results: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        r["claim_id"]: [f["id"] for f in r["findings"] if f["id"].startswith("SAME-DATE")]
        for r in results
    }


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_one_study_billed_on_two_claims_is_flagged_on_both_wherever_they_are(
    tmp_path: Path, fmt: str, workers: int
) -> None:
    """The same study billed twice, far apart in the file (different chunks, perhaps
    different workers), is a duplicate on both claims; other patients are left alone."""
    encounters = [
        make_encounter(claim_id=f"OTHER-{i}", patient__id=f"P-OTHER-{i}") for i in range(8)
    ]
    encounters.insert(6, _visit("COPY", "2026-03-02"))
    encounters.insert(1, _visit("ORIGINAL", "2026-03-02"))
    src = (_write_jsonl if fmt == "jsonl" else _write_csv)(tmp_path / f"in.{fmt}", encounters)
    out = tmp_path / "out.jsonl"
    options = ScrubOptions(use_store=False, workers=workers, chunk_size=2)
    summary = scrub(src, out, options=options)
    results = _read_jsonl(out)
    assert [r["claim_id"] for r in results] == [e["claim_id"] for e in encounters]
    flagged = {k: v for k, v in _same_date_ids(results).items() if v}
    assert flagged == {"ORIGINAL": ["SAME-DATE-DUPLICATE"], "COPY": ["SAME-DATE-DUPLICATE"]}
    copy = next(r for r in results if r["claim_id"] == "COPY")
    assert any("claim ORIGINAL" in f["message"] for f in copy["findings"])
    assert summary.finding_counts["SAME-DATE-DUPLICATE"] == 2
    assert summary.with_errors == 2 and summary.reconciles


def test_the_same_study_billed_to_two_payer_families_is_no_duplicate(tmp_path: Path) -> None:
    """The primary's claim and a secondary payer's claim of one study, in one file."""
    visits = [
        _visit("PRIMARY", "2026-03-02"),
        _visit("SECONDARY", "2026-03-02", payer="medicaid"),
    ]
    out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    assert _same_date_ids(_read_jsonl(out)) == {"PRIMARY": [], "SECONDARY": []}


def test_two_rows_of_one_claim_id_are_versions_not_duplicates(tmp_path: Path) -> None:
    visits = [_visit("CLM-1", "2026-03-02"), _visit("CLM-1", "2026-03-02")]
    out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    assert [r["findings"] for r in _read_jsonl(out) if "SAME-DATE" in json.dumps(r)] == []


def test_other_claims_meet_only_a_claims_latest_version_in_the_file(tmp_path: Path) -> None:
    """Claim A billed 77080, then corrected to a forearm study (77081) further down the
    file; claim B's 77080 is no duplicate of the version A no longer bills."""
    visits = [
        _visit("A", "2026-03-02"),
        _visit("A", "2026-03-02", exam__sites=["left_forearm"], results=[]),
        _visit("B", "2026-03-02"),
    ]
    out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    results = _read_jsonl(out)
    assert _same_date_ids(results[2:])["B"] == ["SAME-DATE-DISTINCT"]
    assert _same_date_ids(results[1:2]) == {"A": []}


def test_a_vfa_billed_apart_from_its_axial_study_is_flagged_beside_frequency(
    tmp_path: Path,
) -> None:
    """A patient's three claims: an earlier study, then on one date the axial study and
    the VFA on two claims. The later two still see the earlier one (frequency), and the
    VFA's claim carries the pair edit."""
    visits = [
        _visit("VFA", "2026-03-02", exam__vfa=True, exam__sites=[], results=[]),
        _visit("EARLIER", "2025-01-10"),
        _visit("AXIAL", "2026-03-02"),
    ]
    out = tmp_path / "out.jsonl"
    summary = scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    results = {r["claim_id"]: [f["id"] for f in r["findings"]] for r in _read_jsonl(out)}
    assert "SAME-DATE-PAIR" in results["VFA"]
    assert "SAME-DATE-PAIR" not in results["AXIAL"]
    assert "FREQUENCY" in results["AXIAL"]
    assert not [f for f in results["EARLIER"] if f.startswith(("SAME-DATE", "FREQUENCY"))]
    assert summary.recoded == 2


def test_a_duplicate_scrubs_the_same_when_the_file_is_run_again_after_recording(
    tmp_path: Path,
) -> None:
    visits = [_visit("ORIGINAL", "2026-03-02"), _visit("COPY", "2026-03-02")]
    src = _write_jsonl(tmp_path / "in.jsonl", visits)
    options = _store_options(tmp_path, record=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    scrub(src, first, options=options)
    scrub(src, second, options=options)
    assert _read_jsonl(first) == _read_jsonl(second)
    assert _same_date_ids(_read_jsonl(second)) == {
        "ORIGINAL": ["SAME-DATE-DUPLICATE"],
        "COPY": ["SAME-DATE-DUPLICATE"],
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_repeat_visits_are_rewritten_in_flat_outputs_too(tmp_path: Path, fmt: str) -> None:
    visits = [_visit("SECOND", "2026-03-02"), _visit("FIRST", "2025-01-10")]
    out = tmp_path / f"out.{fmt}"
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=NO_STORE)
    rows = (
        list(csv.DictReader(out.open(encoding="utf-8")))
        if fmt == "csv"
        else pq.read_table(out).to_pylist()
    )
    assert [r["claim_id"] for r in rows] == ["SECOND", "FIRST"]
    assert "FREQUENCY" in rows[0]["finding_ids"] and rows[0]["modifiers"] == "GZ"
    assert "FREQUENCY" not in rows[1]["finding_ids"]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_repeat_visits_far_apart_in_the_file_are_checked_by_any_worker(
    tmp_path: Path, fmt: str, workers: int
) -> None:
    """Visits of one patient in different chunks (and Parquet row groups) still see each
    other, whichever worker codes them; other patients in between are left alone."""
    encounters = [
        make_encounter(claim_id=f"OTHER-{i}", patient__id=f"P-OTHER-{i}") for i in range(9)
    ]
    encounters.insert(7, _visit("FIRST", "2025-01-10"))
    encounters.insert(1, _visit("SECOND", "2026-03-02"))
    if fmt == "jsonl":
        src = _write_jsonl(tmp_path / "in.jsonl", encounters)
    elif fmt == "csv":
        src = _write_csv(tmp_path / "in.csv", encounters)
    else:
        src = tmp_path / "in.parquet"
        rows = [encounter_to_row(e) for e in encounters]
        pq.write_table(pa.Table.from_pylist(rows), src, row_group_size=3)
    out = tmp_path / "out.jsonl"
    options = ScrubOptions(use_store=False, workers=workers, chunk_size=2)
    summary = scrub(src, out, options=options)
    results = _read_jsonl(out)
    assert [r["claim_id"] for r in results] == [e["claim_id"] for e in encounters]
    frequency = [r["claim_id"] for r in results if "FREQUENCY" in [f["id"] for f in r["findings"]]]
    assert frequency == ["SECOND"]
    assert (summary.recoded, summary.finding_counts["FREQUENCY"]) == (1, 1)
    assert summary.reconciles and summary.results == 11


# --- the command -------------------------------------------------------------------------


def test_scrub_command_prints_a_reconciled_summary(tmp_path: Path) -> None:
    encounters: list[Any] = [*_examples(), "{broken"]
    src = _write_jsonl(tmp_path / "in.jsonl", encounters)
    out = tmp_path / "out.csv"
    errors = tmp_path / "bad.csv"
    proc = subprocess.run(
        [
            *SCRUB,
            str(src),
            "--out",
            str(out),
            "--errors",
            str(errors),
            "--no-store",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert "reconciles:     yes" in proc.stdout
    assert "Top problems:" in proc.stdout
    assert "FREQUENCY" in proc.stdout
    assert "\x1b[" not in proc.stdout + proc.stderr  # no progress bar off a terminal
    bad = list(csv.DictReader(errors.open(encoding="utf-8")))
    assert [b["row"] for b in bad] == [str(len(encounters))]


def test_scrub_command_refuses_an_empty_file_with_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("")
    proc = subprocess.run(
        [*SCRUB, str(src), "--out", str(tmp_path / "o.jsonl")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == "" and "empty" in proc.stderr and "Traceback" not in proc.stderr


def _scrub_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*SCRUB, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_the_errors_file_may_not_be_the_input_or_the_output(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken"])
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"
    out.write_text("earlier results\n")
    for errors in (src, out):
        with pytest.raises(BatchInputError, match="errors file must not be"):
            scrub(src, out, errors, NO_STORE)
    # Nothing was touched: not the input, not the earlier results.
    assert src.read_bytes() == before
    assert out.read_text() == "earlier results\n"


@pytest.mark.parametrize("where", ["missing folder", "folder as file"])
def test_an_output_that_cannot_be_written_is_refused_with_exit_2(
    tmp_path: Path, where: str
) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter()])
    if where == "missing folder":
        out = tmp_path / "nowhere" / "out.jsonl"
    else:
        out = tmp_path / "out.jsonl"
        out.mkdir()
    proc = _scrub_cli(str(src), "--out", str(out), "--no-store")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert (
        ("does not exist" in proc.stderr) if where == "missing folder" else "folder" in proc.stderr
    )
    assert not (tmp_path / "nowhere").exists()


def test_a_store_that_cannot_be_opened_is_one_line_and_exit_2_with_workers(
    tmp_path: Path,
) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter()])
    out = tmp_path / "out.jsonl"
    proc = _scrub_cli(str(src), "--out", str(out), "--workers", "2", "--db", "mysql://x@y/z")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("dexacode: history store error")
    assert "Traceback" not in proc.stderr and "BrokenProcessPool" not in proc.stderr
    assert not out.exists()


def test_scrub_reads_the_store_named_in_dexacode_db(tmp_path: Path) -> None:
    url = store_with_prior(tmp_path / "shared.sqlite3", "P-ENV")
    enc = make_encounter(patient__id="P-ENV", date_of_service="2026-04-20", payer="medicare")
    src = _write_jsonl(tmp_path / "in.jsonl", [enc])
    out = tmp_path / "out.jsonl"
    proc = _scrub_cli(str(src), "--out", str(out), env={"DEXACODE_DB": url})
    assert proc.returncode == 1, proc.stderr
    assert "FREQUENCY" in [f["id"] for f in _read_jsonl(out)[0]["findings"]]


def test_a_run_that_does_not_finish_leaves_the_earlier_errors_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dexacode.batch as batch

    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken", "{broken too"])
    out = tmp_path / "out.jsonl"
    errors = tmp_path / "out.errors.jsonl"
    errors.write_text('{"row": 9, "earlier": true}\n')

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_join_json_parts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scrub(src, out, options=NO_STORE)
    assert errors.read_text() == '{"row": 9, "earlier": true}\n'
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.errors.jsonl"]


# --- with the history store ----------------------------------------------------------------


def _store_options(tmp_path: Path, **changes: Any) -> ScrubOptions:
    return ScrubOptions(db_url=f"sqlite:///{tmp_path / 'history.sqlite3'}", workers=1, **changes)


def test_prior_studies_in_the_store_count_for_frequency(tmp_path: Path) -> None:
    from datetime import date

    from dexacode.store import HistoryStore, StudyRow

    options = _store_options(tmp_path)
    with HistoryStore(options.db_url) as store:
        store.add([StudyRow("P-STORED", date(2025, 2, 3), "77080", provider="other clinic")], "t")
    visits = [
        make_encounter(claim_id="KNOWN", patient__id="P-STORED"),
        make_encounter(claim_id="NEW", patient__id="P-NEW"),
    ]
    out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), out, options=options)
    results = {r["claim_id"]: r for r in _read_jsonl(out)}
    assert "FREQUENCY" in [f["id"] for f in results["KNOWN"]["findings"]]
    assert results["KNOWN"]["coverage"]["next_eligible_date"] == "2027-02-01"
    assert "FREQUENCY" not in [f["id"] for f in results["NEW"]["findings"]]


def test_the_encounters_own_history_wins_over_the_store(tmp_path: Path) -> None:
    from datetime import date

    from dexacode.store import HistoryStore, StudyRow

    options = _store_options(tmp_path)
    with HistoryStore(options.db_url) as store:
        store.add([StudyRow("P-OWN", date(2025, 2, 3), "77080")], "t")
    # The practice knows Medicare denied that study: it does not count.
    enc = make_encounter(
        patient__id="P-OWN",
        history=[{"date_of_service": "2025-02-03", "cpt": "77080", "covered": False}],
    )
    out = tmp_path / "out.jsonl"
    scrub(_write_jsonl(tmp_path / "in.jsonl", [enc]), out, options=options)
    assert "FREQUENCY" not in [f["id"] for f in _read_jsonl(out)[0]["findings"]]


def test_record_adds_the_runs_studies_for_the_next_run(tmp_path: Path) -> None:
    from dexacode.store import HistoryStore

    first = make_encounter(claim_id="JAN", date_of_service="2025-01-10", patient__id="P-REC")
    options = _store_options(tmp_path, record=True)
    summary = scrub(
        _write_jsonl(tmp_path / "a.jsonl", [first]), tmp_path / "a.out.jsonl", options=options
    )
    assert summary.recorded == 1
    with HistoryStore(options.db_url) as store:
        assert [(s.date_of_service.isoformat(), s.cpt) for s in store.show("P-REC")] == [
            ("2025-01-10", "77080")
        ]
    # Recording the same run again adds nothing: duplicates are ignored.
    again = scrub(
        _write_jsonl(tmp_path / "a.jsonl", [first]), tmp_path / "a2.out.jsonl", options=options
    )
    assert again.recorded == 0
    later = make_encounter(claim_id="MAR", date_of_service="2026-03-02", patient__id="P-REC")
    out = tmp_path / "b.out.jsonl"
    scrub(_write_jsonl(tmp_path / "b.jsonl", [later]), out, options=_store_options(tmp_path))
    assert "FREQUENCY" in [f["id"] for f in _read_jsonl(out)[0]["findings"]]


def test_a_recorded_study_counts_only_for_the_payer_family_that_paid_it(
    tmp_path: Path,
) -> None:
    from dexacode.store import HistoryStore

    first = make_encounter(
        claim_id="MCR", date_of_service="2025-03-19", payer="medicare", patient__id="P-FAM"
    )
    options = _store_options(tmp_path, record=True)
    scrub(_write_jsonl(tmp_path / "a.jsonl", [first]), tmp_path / "a.out.jsonl", options=options)
    with HistoryStore(options.db_url) as store:
        assert [s.payer_family for s in store.show("P-FAM")] == ["medicare"]

    def findings_of(payer: str) -> list[str]:
        later = make_encounter(
            claim_id=payer, date_of_service="2026-01-20", payer=payer, patient__id="P-FAM"
        )
        out = tmp_path / f"{payer}.out.jsonl"
        scrub(
            _write_jsonl(tmp_path / f"{payer}.jsonl", [later]),
            out,
            options=_store_options(tmp_path),
        )
        return [f["id"] for f in _read_jsonl(out)[0]["findings"]]

    # Medicare paid the first study: too soon for Medicare and Medicare Advantage alike...
    assert "FREQUENCY" in findings_of("medicare")
    assert "FREQUENCY" in findings_of("medicare_advantage")
    # ...but not a study the commercial plan paid.
    assert "FREQUENCY" not in findings_of("commercial")


def test_scrubbing_a_recorded_file_again_gives_the_same_results(tmp_path: Path) -> None:
    """--record must not change what the same file gives the next time."""
    visits = [
        make_encounter(claim_id="A", date_of_service="2025-01-10", payer="medicare"),
        make_encounter(claim_id="B", date_of_service="2025-11-10", payer="commercial"),
        make_encounter(claim_id="C", date_of_service="2025-12-01", payer="medicare"),
    ]
    src = _write_jsonl(tmp_path / "in.jsonl", visits)
    scrub(src, tmp_path / "first.jsonl", options=_store_options(tmp_path, record=True))
    scrub(src, tmp_path / "again.jsonl", options=_store_options(tmp_path))

    def ids(path: Path) -> list[list[str]]:
        return [[f["id"] for f in r["findings"]] for r in _read_jsonl(path)]

    assert ids(tmp_path / "again.jsonl") == ids(tmp_path / "first.jsonl")
    assert "FREQUENCY" in ids(tmp_path / "first.jsonl")[2]  # C is too soon after A
    assert "FREQUENCY" not in ids(tmp_path / "first.jsonl")[1]  # B's plan paid nothing before


def test_errors_to_a_device_are_written_through_never_replaced(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken"])
    summary = scrub(src, tmp_path / "out.jsonl", Path("/dev/null"), NO_STORE)
    assert summary.bad_rows == 1
    assert Path("/dev/null").is_char_device()  # still the device, not a file
    with pytest.raises(BatchInputError, match="output must be a file"):
        scrub(
            src, Path("/dev/null"), tmp_path / "e.jsonl", replace(NO_STORE, output_format="jsonl")
        )
    assert Path("/dev/null").is_char_device()


def test_errors_to_dev_stdout_are_appended_to_the_redirected_file(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken"])
    log = tmp_path / "log.txt"
    with log.open("w") as fh:
        fh.write("before\n")
        fh.flush()
        proc = subprocess.run(
            [
                *SCRUB,
                str(src),
                "--out",
                str(tmp_path / "o.jsonl"),
                "--errors",
                "/dev/stdout",
                "--no-store",
                "--quiet",
            ],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert proc.returncode == 1, proc.stderr
    text = log.read_text()
    assert text.startswith("before\n")  # not emptied
    assert '"row": 2' in text and "Rows read" in text
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()


def test_an_output_in_a_missing_folder_is_refused_even_with_errors_to_a_device(
    tmp_path: Path,
) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter()])
    with pytest.raises(BatchInputError, match="does not exist"):
        scrub(src, tmp_path / "nowhere" / "out.jsonl", Path("/dev/null"), NO_STORE)


def test_a_linked_output_replaces_the_file_and_keeps_the_link(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter(), "{broken"])
    real_out, real_err = tmp_path / "real.jsonl", tmp_path / "real.errors.jsonl"
    real_out.write_text("old\n")
    real_err.write_text("old\n")
    (tmp_path / "out.jsonl").symlink_to(real_out)
    (tmp_path / "err.jsonl").symlink_to(real_err)
    scrub(src, tmp_path / "out.jsonl", tmp_path / "err.jsonl", NO_STORE)
    assert (tmp_path / "out.jsonl").is_symlink() and (tmp_path / "err.jsonl").is_symlink()
    assert json.loads(real_out.read_text())["claim_id"]
    assert json.loads(real_err.read_text())["row"] == 2


def test_a_recording_that_fails_says_the_results_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dexacode.batch as batch
    from dexacode.store import StoreError

    def broken(*args: Any) -> int:
        raise StoreError("the database is read-only")

    monkeypatch.setattr(batch, "_record", broken)
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter()])
    out = tmp_path / "out.jsonl"
    summary = scrub(src, out, options=_store_options(tmp_path, record=True))
    assert out.exists() and summary.results == 1
    assert summary.recorded == 0 and summary.record_problem == "the database is read-only"
    assert not summary.interrupted


@pytest.mark.parametrize("committed", [True, False])
def test_a_ctrl_c_while_recording_reports_what_the_store_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    """Ctrl-C before the store commits records nothing; one just after it must not be
    reported as "nothing was recorded"."""
    from dexacode.store import HistoryStore

    real_add = HistoryStore.add

    def add_then_interrupt(self: HistoryStore, *args: Any, **kwargs: Any) -> Any:
        if committed:
            real_add(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(HistoryStore, "add", add_then_interrupt)
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter(patient__id="P-CTRL-C")])
    options = _store_options(tmp_path, record=True)
    summary = scrub(src, tmp_path / "out.jsonl", options=options)
    assert summary.interrupted and not summary.record_unknown
    with HistoryStore(options.db_url) as store:
        stored = len(store.show("P-CTRL-C"))
    if committed:
        assert stored == 1 and summary.recorded == 1 and summary.record_problem is None
    else:
        assert stored == 0 and summary.recorded == 0 and summary.record_problem == "interrupted"


def test_the_command_says_a_run_interrupted_after_recording_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dexacode.cli import app
    from dexacode.store import HistoryStore

    real_add = HistoryStore.add

    def add_then_interrupt(self: HistoryStore, *args: Any, **kwargs: Any) -> Any:
        real_add(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(HistoryStore, "add", add_then_interrupt)
    src = _write_jsonl(tmp_path / "in.jsonl", [make_encounter()])
    db = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    args = ["scrub", str(src), "--out", str(tmp_path / "out.jsonl"), "--db", db, "--record"]
    result = CliRunner().invoke(app, [*args, "--workers", "1", "--quiet"])
    assert result.exit_code == 130
    assert "interrupted after the run was recorded" in result.output
    assert "1 study added" in result.output and "nothing was recorded" not in result.output


@pytest.mark.parametrize(
    ("monday", "thursday", "flagged"),
    [
        ({}, {}, True),  # the same global claim sent again
        ({"billing__component": "professional"}, {}, True),  # global beside a recorded 26
        ({"billing__component": "professional"}, {"billing__component": "technical"}, False),
        ({}, {"payer": "commercial"}, False),  # another family: a secondary payer's claim
    ],
)
def test_a_claim_sent_again_in_a_later_run_meets_the_recorded_one(
    tmp_path: Path, monday: dict[str, Any], thursday: dict[str, Any], flagged: bool
) -> None:
    options = _store_options(tmp_path, record=True)
    first = _write_jsonl(tmp_path / "monday.jsonl", [_visit("MONDAY", "2026-03-02", **monday)])
    scrub(first, tmp_path / "monday-out.jsonl", options=options)
    later = _write_jsonl(
        tmp_path / "thursday.jsonl", [_visit("THURSDAY", "2026-03-02", **thursday)]
    )
    out = tmp_path / "thursday-out.jsonl"
    summary = scrub(later, out, options=options)
    found = [f for f in _read_jsonl(out)[0]["findings"] if f["id"] == "SAME-DATE-DUPLICATE"]
    assert len(found) == flagged and summary.with_errors == flagged
    if flagged:
        assert "claim MONDAY" in found[0]["message"]
    # Monday's file again: its own recorded claim is never its duplicate.
    again = tmp_path / "monday-again.jsonl"
    scrub(first, again, options=options)
    assert _same_date_ids(_read_jsonl(again)) == {"MONDAY": []}


def test_a_denied_study_is_recorded_as_not_covered(tmp_path: Path) -> None:
    from dexacode.store import HistoryStore

    visits = [
        make_encounter(claim_id="A", date_of_service="2025-01-10", patient__id="P-DEN"),
        make_encounter(claim_id="B", date_of_service="2025-06-10", patient__id="P-DEN"),
    ]
    options = _store_options(tmp_path, record=True)
    scrub(_write_jsonl(tmp_path / "in.jsonl", visits), tmp_path / "out.jsonl", options=options)
    with HistoryStore(options.db_url) as store:
        assert [(s.date_of_service.isoformat(), s.covered) for s in store.show("P-DEN")] == [
            ("2025-01-10", True),
            ("2025-06-10", False),
        ]


def test_parquet_row_groups_keep_row_numbers_and_order(tmp_path: Path) -> None:
    """Workers read Parquet slices themselves; rows keep their numbers across groups."""
    encounters = [make_encounter(claim_id=f"C-{i}", patient__id=f"P-{i}") for i in range(7)]
    rows = [encounter_to_row(e) for e in encounters]
    rows[4]["sex"] = "X"  # row 5, in the third row group
    src = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src, row_group_size=2)
    out = tmp_path / "out.jsonl"
    options = ScrubOptions(use_store=False, workers=2, chunk_size=1)
    summary = scrub(src, out, options=options)
    assert (summary.results, summary.bad_rows) == (6, 1)
    assert [r["claim_id"] for r in _read_jsonl(out)] == [f"C-{i}" for i in range(7) if i != 4]
    bad = _errors(tmp_path / "out.errors.jsonl")
    assert [(b["row"], b["claim_id"], b["field"]) for b in bad] == [(5, "C-4", "patient.sex")]
