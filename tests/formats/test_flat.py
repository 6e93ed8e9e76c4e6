"""The flat layout (CSV, Parquet): a row of cells back to an encounter in the contract's shape."""

from __future__ import annotations

import io

import pytest

from dexacode.formats.flat import (
    CsvRecord,
    FlatRowError,
    TextLines,
    csv_records,
    row_to_encounter,
    unknown_column,
)


def _row(**cells: object) -> dict[str, object]:
    base: dict[str, object] = {"claim_id": "C-1", "date_of_service": "2026-03-02", "sites": ""}
    return {**base, **cells}


def test_results_come_in_group_order_whatever_the_column_order() -> None:
    row = _row(
        result10_site="left_hip",
        result10_t_score="\u22122,6",  # a spreadsheet's minus sign and decimal comma
        result2_site="lumbar_spine",
        result2_region="L1-L4",
        result2_t_score="-1.0",
        result2_z_score="",
        result3_site=None,  # an empty Parquet cell: no third result
    )
    results = row_to_encounter(row)["results"]
    assert results == [
        {"site": "lumbar_spine", "region": "L1-L4", "t_score": -1.0},
        {"site": "left_hip", "t_score": -2.6},
    ]


def test_a_row_with_no_result_cells_has_no_results() -> None:
    assert "results" not in row_to_encounter(_row(result1_site=None, result1_bmd=""))


def test_an_unknown_column_is_named() -> None:
    with pytest.raises(FlatRowError) as caught:
        row_to_encounter(_row(result1_site="left_hip", shoe_size="42", result_x="1"))
    assert caught.value.column == "shoe_size"
    assert unknown_column(("claim_id", "result4_bmd", "result4_colour")) == "result4_colour"
    assert unknown_column(("claim_id", "result12_z_score")) is None


def test_compact_cells_read_like_the_row_they_hold() -> None:
    import pickle

    from dexacode.formats.batch_io import Cells

    row = _row(
        patient_id="P-1",
        sex="F",
        birth_date="1950-01-01",
        result1_site="left_hip",
        result1_region="total_hip",
        result1_t_score="-2.6",
        result2_site=None,
    )
    cells = Cells.of(row)
    assert dict(cells) == row and len(cells) == len(row) and list(cells) == list(row)
    assert cells.get("nothing") is None and cells["sex"] == "F"
    back = pickle.loads(pickle.dumps(cells))
    assert dict(back) == row
    assert row_to_encounter(cells) == row_to_encounter(back) == row_to_encounter(row)


def test_submitted_lines_carry_their_diagnosis_pointers_both_ways() -> None:
    from dexacode.formats.flat import encounter_to_row
    from tests.conftest import make_encounter

    row = _row(
        submitted_lines="77080:26,XU:1:1,2;77081::1;77086",
        submitted_diagnoses="Z13.820;Z78.0",
    )
    lines = row_to_encounter(row)["submitted"]["lines"]
    assert lines == [
        {"cpt": "77080", "modifiers": ["26", "XU"], "units": 1, "diagnosis_pointers": [1, 2]},
        {"cpt": "77081", "units": 1},
        {"cpt": "77086"},
    ]
    enc = make_encounter(submitted={"lines": lines, "diagnoses": ["Z13.820", "Z78.0"]})
    again = row_to_encounter(encounter_to_row(enc))["submitted"]["lines"]
    assert again[0]["diagnosis_pointers"] == [1, 2]
    assert "diagnosis_pointers" not in again[1]  # none given stays none given
    with pytest.raises(FlatRowError, match="pointers of item 1"):
        row_to_encounter(_row(submitted_lines="77080::1:1,x", submitted_diagnoses="Z13.820"))


# --- CSV records over several lines ---------------------------------------------------------


def _records(text: str) -> list[CsvRecord]:
    return list(csv_records(TextLines(io.BufferedReader(io.BytesIO(text.encode())))))


def test_a_quoted_cell_typed_over_lines_is_a_row() -> None:
    """Excel's Alt+Enter in a free-text cell: the record spans lines, has the header's
    columns and its text holds no row's worth of commas. It is a row, line breaks kept."""
    header, row, after = _records(
        'claim_id,peripheral_reason,sites\r\nC1,"hardware in the spine,\r\nsee report",'
        "lumbar_spine\r\nC2,,left_hip\r\n"
    )
    assert (row.first, row.last) == (2, 3)
    assert row.problem(3) is None
    assert row.cells == ["C1", "hardware in the spine,\r\nsee report", "lumbar_spine"]
    assert (after.first, after.problem(3)) == (4, None)
    assert header.problem() is None
    # a header (no column count to judge by) is never read over several lines
    assert row.problem() is not None


@pytest.mark.parametrize(
    "text",
    [
        # a quote closed by the opening quote of a later line's cell: 4 cells by chance
        'a,b,c,d\nC1,"x,y,z\nC2,p,"q,s",r\n',
        # a whole row swallowed into the cell, the count matching by chance
        'a,b,c,d\nC1,"x\nC2,p,q,r\nC3",q,r\n',
        # a wrong number of cells
        'a,b,c,d\nC1,"x\nC2,p,q,r\n',
    ],
)
def test_a_record_holding_swallowed_rows_is_refused_naming_its_lines(text: str) -> None:
    record = _records(text)[1]
    problem = record.problem(4)
    assert problem is not None
    assert f"lines 2 to {record.last} of the file were read as this one row" in problem


def test_a_cell_over_lines_at_the_end_of_a_file_cut_short_is_refused() -> None:
    record = _records('a,b\nC1,"reason\nmore')[1]
    problem = record.problem(2)
    assert problem is not None and problem.startswith("the last line is incomplete")


def test_a_closed_cell_over_lines_in_a_last_row_without_a_line_ending_is_a_row() -> None:
    """Some exports leave off the file's last line ending: a last row whose quoted cell
    spans lines and is closed is still a row (only an open quote is a file cut short)."""
    record = _records('a,b,c\nC1,"reason\nmore",x')[1]
    assert record.problem(3) is None
    assert record.cells == ["C1", "reason\nmore", "x"]
    cut = _records('a,b,c\nC1,"reason\nmore,x')[1]
    assert cut.problem(3) is not None
