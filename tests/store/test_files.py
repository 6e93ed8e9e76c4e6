"""Reading history files: every row is a study or a numbered problem, never silently lost."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from dexacode.store import HistoryFileError, RowProblem, StudyRow, read_history_file

HEADER = "patient_id,date_of_service,cpt,provider,covered\n"


def read(path: Path, fmt: str | None = None) -> list[StudyRow | RowProblem]:
    return list(read_history_file(path, fmt))


def problems(items: list[StudyRow | RowProblem]) -> list[tuple[int, str]]:
    return [(p.row, p.reason) for p in items if isinstance(p, RowProblem)]


def studies(items: list[StudyRow | RowProblem]) -> list[StudyRow]:
    return [s for s in items if isinstance(s, StudyRow)]


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --- CSV -------------------------------------------------------------------------------------


def test_csv_rows_become_studies(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "h.csv",
        HEADER
        + "P-1,2024-01-05,77080,DR-9,true\nP-2, 2023-02-01 ,g0130,,FALSE\nP-3,2022-03-04,77085,,\n",
    )
    assert read(path) == [
        StudyRow("P-1", datetime.date(2024, 1, 5), "77080", "DR-9", True),
        StudyRow("P-2", datetime.date(2023, 2, 1), "G0130", None, False),
        StudyRow("P-3", datetime.date(2022, 3, 4), "77085", None, True),
    ]


def test_csv_columns_in_any_order_and_optional_ones_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "CPT, Patient_ID ,date_of_service\r\n77081,P-1,2021-06-30\r\n")
    assert read(path) == [StudyRow("P-1", datetime.date(2021, 6, 30), "77081")]


def test_csv_utf8_bom_and_no_final_newline_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", b"\xef\xbb\xbf" + (HEADER + "P-1,2024-01-05,77080,,").encode())
    assert studies(read(path)) == [StudyRow("P-1", datetime.date(2024, 1, 5), "77080")]


def test_csv_bad_rows_are_numbered_after_the_header(tmp_path: Path) -> None:
    body = (
        HEADER
        + "P-1,2024-01-05,77080,,\n"  # row 1 fine
        + "P-2,2024-02-30,77080,,\n"  # row 2 not a real date
        + "P-3,05/01/2024,77080,,\n"  # row 3 not ISO
        + "\n"  # blank line: skipped, still counted as a line
        + "P-4,2024-01-05,7708,,\n"  # row 5 short CPT
        + "P-5,2024-01-05,77080,,maybe\n"  # row 6 covered
        + ",2024-01-05,77080,,\n"  # row 7 no patient
        + "P-7,2024-01-05,77080\n"  # row 8 missing columns
        + "P-8,0024-01-05,77080,,\n"  # row 9 year out of range
    )
    got = problems(read(write(tmp_path, "h.csv", body)))
    assert [row for row, _ in got] == [2, 3, 5, 6, 7, 8, 9]
    reasons = dict(got)
    assert "not a real calendar date" in reasons[2]
    assert "YYYY-MM-DD" in reasons[3]
    assert "5-character CPT/HCPCS" in reasons[5]
    assert "covered must be true or false" in reasons[6]
    assert "patient_id is empty" in reasons[7]
    assert reasons[8] == "expected 5 columns, found 3"
    assert "outside 1900-2099" in reasons[9]


def test_csv_all_problems_of_a_row_are_named(tmp_path: Path) -> None:
    got = problems(read(write(tmp_path, "h.csv", HEADER + "P-1,2024-99-01,ABC,,x\n")))
    assert len(got) == 1
    assert got[0][1].count(";") == 2


def test_csv_truncated_last_line(tmp_path: Path) -> None:
    got = problems(read(write(tmp_path, "h.csv", HEADER + "P-1,2024-01-05,77080,,\nP-2,2024-0")))
    assert got == [
        (2, "the last line is incomplete (was the file cut short?): expected 5 columns, found 2")
    ]


def test_csv_unclosed_quote_at_the_end_is_reported(tmp_path: Path) -> None:
    got = problems(read(write(tmp_path, "h.csv", HEADER + 'P-1,2024-01-05,77080,"Dr. Wh')))
    assert len(got) == 1 and got[0][0] == 1
    assert got[0][1].startswith("the last line is incomplete")


def test_csv_a_line_in_another_encoding_costs_only_that_row(tmp_path: Path) -> None:
    body = (HEADER + "P-1,2024-01-05,77080,,\n").encode()
    body += "P-2,2024-01-05,77080,Dr. Müller,\n".encode("cp1252")
    body += b"P-3,2024-01-06,77080,,\n"
    items = read(write(tmp_path, "h.csv", body))
    assert [s.patient_id for s in studies(items)] == ["P-1", "P-3"]
    assert problems(items) == [
        (2, "not UTF-8 text (the line was saved in another encoding; save the file as UTF-8)")
    ]


def test_csv_utf16_file_is_refused_as_a_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", (HEADER + "P-1,2024-01-05,77080,,\n").encode("utf-16"))
    got = problems(read(path))
    assert len(got) == 1 and got[0][0] == 0 and "UTF-16" in got[0][1]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        (HEADER, "the file has a header but no data rows"),
        (HEADER + "\n", "the file has a header but no data rows"),
        ("P-1,2024-01-05,77080\n", "must be a header"),
        ("patient_id,date_of_service,cpt,payer\nP-1,2024-01-05,77080,x\n", "unknown column"),
        ("patient_id,date_of_service,cpt,cpt\n", "appear twice"),
        ("patient_id,cpt\nP-1,77080\n", "lacks the required column(s) date_of_service"),
    ],
)
def test_csv_whole_file_problems(tmp_path: Path, body: str, reason: str) -> None:
    got = problems(read(write(tmp_path, "h.csv", body)))
    assert len(got) == 1
    assert got[0][0] == 0 and reason in got[0][1]


# --- JSON Lines --------------------------------------------------------------------------------


def test_jsonl_rows_become_studies(tmp_path: Path) -> None:
    body = (
        '{"patient_id": "P-1", "date_of_service": "2024-01-05", "cpt": "77080"}\n'
        "\n"
        '{"patient_id": "P-2", "date_of_service": "2023-02-01", "cpt": "G0130",'
        ' "provider": null, "covered": false}\n'
    )
    assert read(write(tmp_path, "h.ndjson", body)) == [
        StudyRow("P-1", datetime.date(2024, 1, 5), "77080"),
        StudyRow("P-2", datetime.date(2023, 2, 1), "G0130", None, False),
    ]


def test_jsonl_rows_are_line_numbers(tmp_path: Path) -> None:
    good = '{"patient_id": "P-1", "date_of_service": "2024-01-05", "cpt": "77080"}'
    body = "\n".join(
        [
            good,
            "{not json",  # 2
            "[1, 2]",  # 3
            '{"patient_id": 12, "date_of_service": "2024-01-05", "cpt": "77080"}',  # 4
            '{"patient_id": "P", "date_of_service": "2024-01-05", "cpt": "77080", "x": 1}',  # 5
            '{"patient_id": "P", "date_of_service": "2024-01-05", "cpt": "77080", '
            '"covered": "yes"}',  # 6
            '{"patient_id": "P", "cpt": "77080"}',  # 7
            good,
            '{"patient_id": "P-9", "date_of_serv',  # 9, truncated
        ]
    )
    got = dict(problems(read(write(tmp_path, "h.jsonl", body))))
    assert sorted(got) == [2, 3, 4, 5, 6, 7, 9]
    assert got[2].startswith("not valid JSON")
    assert "JSON object" in got[3]
    assert got[4] == "patient_id must be a string, not a number"
    assert got[5].startswith("1 unknown field(s); the fields are patient_id")
    assert got[6] == "covered must be true or false"
    assert got[7] == "date_of_service is missing"
    assert got[9].startswith("the last line is incomplete (was the file cut short?): not valid")


def test_jsonl_bad_encoding_and_empty(tmp_path: Path) -> None:
    line = '{"patient_id": "P-1", "date_of_service": "2024-01-05", "cpt": "77080", "provider": "'
    body = (line + 'Müller"}\n').encode("latin-1")
    assert problems(read(write(tmp_path, "h.jsonl", body)))[0][1].startswith("not UTF-8 text")
    assert problems(read(write(tmp_path, "e.jsonl", "\n  \n"))) == [(0, "the file is empty")]


# --- both ----------------------------------------------------------------------------------


def test_reasons_never_repeat_patient_data(tmp_path: Path) -> None:
    secret_id, secret_date = "SECRET-7731", "2019-02-31"
    csv_body = (
        HEADER + f"{secret_id},{secret_date},XYZ12,{secret_id},oops\n{secret_id},{secret_date}\n"
    )
    jsonl_body = (
        f'{{"patient_id": "{secret_id}", "date_of_service": "{secret_date}", "cpt": "1"}}\n'
        f'{{"patient_id": ["{secret_id}"], "date_of_service": "{secret_date}"}}\n'
        f'{{"{secret_id}": 1}}\n'
    )
    for name, body in (("s.csv", csv_body), ("s.jsonl", jsonl_body)):
        got = problems(read(write(tmp_path, name, body)))
        assert len(got) >= 2
        for _, reason in got:
            assert "SECRET" not in reason and secret_date not in reason and "7731" not in reason


def test_format_from_name_or_parameter(tmp_path: Path) -> None:
    path = write(tmp_path, "history.txt", HEADER + "P-1,2024-01-05,77080,,\n")
    with pytest.raises(HistoryFileError, match="cannot tell the format"):
        read_history_file(path)
    assert len(studies(read(path, "csv"))) == 1
    with pytest.raises(HistoryFileError, match="unknown format"):
        read_history_file(path, "xml")


def test_unopenable_files_raise_at_once(tmp_path: Path) -> None:
    with pytest.raises(HistoryFileError, match="no such file"):
        read_history_file(tmp_path / "missing.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(HistoryFileError, match="is a folder"):
        read_history_file(tmp_path / "dir.csv")
