"""The MUE adjudication indicator of a loaded MUE table: a claim-line edit (MAI 1) judges
each line alone, a date-of-service edit (MAI 2, 3) every line of the code together, and the
finding says which, and whether units past the limit can be paid on appeal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dexacode.contract import CodingResult
from dexacode.data import import_files
from dexacode.rulebook import RuleBook
from tests.conftest import ids
from tests.data_import.conftest import MUE_FILE

Coder = Callable[..., CodingResult]
MAY = "2026-05-04"


def _claim(*units: int) -> dict[str, object]:
    return {"lines": [{"cpt": "77081", "units": u} for u in units], "diagnoses": ["M81.0"]}


def _table(tmp_path: Path, indicator: str) -> Path:
    """The test MUE table with 77081 at 1 unit and the given indicator text."""
    path = tmp_path / MUE_FILE.name
    text = MUE_FILE.read_text(encoding="utf-8").replace(
        '"77081","2","3 Date of Service Edit: Clinical"', f'"77081","1","{indicator}"'
    )
    path.write_text(text, encoding="utf-8")
    return path


def _mue(result: CodingResult) -> str:
    (found,) = [f.message for f in result.findings if f.id == "MUE-EXCEEDED"]
    return found


def test_a_line_edit_judges_each_line_alone(
    coder: Coder, data_dir: Path, book: RuleBook, tmp_path: Path
) -> None:
    import_files("mue", [_table(tmp_path, "1 Line Edit")], data_dir=data_dir, book=book)
    assert "MUE-EXCEEDED" not in ids(coder(date_of_service=MAY, submitted=_claim(1, 1)))
    message = _mue(coder(date_of_service=MAY, submitted=_claim(2)))
    assert "2 units on one claim line; the limit is 1" in message
    assert "MAI 1" in message


def test_a_date_of_service_edit_adds_the_lines_up(
    coder: Coder, data_dir: Path, book: RuleBook, tmp_path: Path
) -> None:
    table = _table(tmp_path, "2 Date of Service Edit: Policy")
    import_files("mue", [table], data_dir=data_dir, book=book)
    message = _mue(coder(date_of_service=MAY, submitted=_claim(1, 1)))
    assert "2 units on one date; the limit is 1" in message
    assert "not paid, even on appeal" in message


def test_a_clinical_edit_says_an_appeal_can_pay(
    coder: Coder, data_dir: Path, book: RuleBook
) -> None:
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)  # 77081: 2, MAI 3
    message = _mue(coder(date_of_service=MAY, submitted=_claim(2, 1)))
    assert "3 units on one date; the limit is 2" in message
    assert "paid only on appeal" in message


def test_the_shipped_limit_counts_the_date_and_names_no_indicator(coder: Coder) -> None:
    message = _mue(coder(date_of_service=MAY, submitted=_claim(1, 1)))
    assert "2 units on one date; the limit is 1." in message
    assert "MAI" not in message
