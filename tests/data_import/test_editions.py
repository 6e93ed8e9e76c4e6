"""What a second import does to an edition already stored: by content, never by file
name; and options that would store files as another edition than theirs are refused."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dexacode.cli_data import format_status
from dexacode.contract import CodingResult
from dexacode.data import DataImportError, import_files, list_datasets, status
from dexacode.data._catalog import catalog_dir
from dexacode.rulebook import RuleBook
from tests.conftest import REPO_ROOT, ids, lines
from tests.data_import.conftest import MUE_FILE, PTP_FILES

Coder = Callable[..., CodingResult]
ICD_DIR = REPO_ROOT / "tests" / "data" / "icd10"
TWO_77081 = {
    "date_of_service": "2026-05-04",
    "submitted": {
        "lines": [{"cpt": "77080", "modifiers": [], "units": 1}, {"cpt": "77081", "units": 2}],
        "diagnoses": ["Z13.820", "Z78.0"],
    },
}


def _snapshot(data_dir: Path) -> dict[str, bytes]:
    root = catalog_dir(data_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --- by content, part by part (F6) -------------------------------------------------------


def test_a_corrected_mue_table_saved_as_a_copy_replaces_the_edition_table(
    coder: Coder, data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    assert "MUE-EXCEEDED" not in ids(coder(**TWO_77081))  # this table allows 2
    # The browser saved the corrected download beside the first one: "... (1).csv".
    corrected = tmp_path / MUE_FILE.name.replace(".csv", " (1).csv")
    corrected.write_text(
        MUE_FILE.read_text().replace('"77081","2"', '"77081","1"'), encoding="utf-8"
    )
    report = import_files("mue", [corrected], data_dir=data_dir, book=book)
    assert report.changed and report.edition == "practitioner 2026-04-01"
    assert report.replaced == (
        "the table of edition practitioner 2026-04-01 (from "
        "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv, loaded earlier)",
    )
    assert "MUE-EXCEEDED" in ids(coder(**TWO_77081))  # the corrected value is used
    (stored,) = list_datasets(data_dir)
    assert list(stored.files) == [corrected.name]


def test_the_same_file_under_another_name_changes_nothing(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    before = _snapshot(data_dir)
    copy = tmp_path / "ccipra-v321r0-f3 (1).txt"
    shutil.copy(PTP_FILES[1], copy)
    report = import_files("ncci-ptp", [copy], data_dir=data_dir, book=book)
    assert not report.changed and report.rows_read == 13
    assert _snapshot(data_dir) == before
    # ... and given twice in one import, it is read once.
    again = import_files("ncci-ptp", [PTP_FILES[1], copy], data_dir=data_dir, book=book)
    assert not again.changed
    assert again.skipped == (f"{copy} (the same bytes as {PTP_FILES[1]}, read once)",)


def test_a_part_loaded_again_with_other_rows_replaces_that_part_only(
    coder: Coder, data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    vfa_and_forearm = {"exam__sites": ["left_forearm"], "exam__vfa": True, "results": []}
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    assert lines(coder(date_of_service="2025-06-02", **vfa_and_forearm)) == [
        ("77081", []),
        ("77086", []),
    ]
    # A corrected f3, saved beside the first download, starts the 77086/77081 edit a year
    # earlier.
    f3 = tmp_path / "ccipra-v321r0-f3 (1).txt"
    f3.write_text(PTP_FILES[1].read_text().replace("77081\t\t20260101", "77081\t\t20250101"))
    assert f3.read_bytes() != PTP_FILES[1].read_bytes()
    report = import_files("ncci-ptp", [f3], data_dir=data_dir, book=book)
    assert report.replaced == (
        "part f3 of edition v32.1r0 (from ccipra-v321r0-f3.txt, loaded earlier)",
    )
    assert lines(coder(date_of_service="2025-06-02", **vfa_and_forearm)) == [
        ("77081", ["XU"]),
        ("77086", []),
    ]
    (stored,) = list_datasets(data_dir)
    assert {n: f.part for n, f in stored.files.items()} == {
        "ccipra-v321r0-f1.txt": "f1",  # the other part stays
        "ccipra-v321r0-f3 (1).txt": "f3",  # the earlier f3 is gone
    }
    assert report.rows_read == 13


def test_two_different_files_for_one_part_are_refused(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    other = tmp_path / "ccipra-v321r0-f3 (1).txt"
    other.write_text(PTP_FILES[1].read_text().replace("Misuse of column two", "Other"))
    with pytest.raises(DataImportError, match=r"are both part f3 of the PTP table"):
        import_files("ncci-ptp", [PTP_FILES[1], other], data_dir=data_dir, book=book)
    assert not catalog_dir(data_dir).exists()


# --- options against the file names (F10) ------------------------------------------------


def test_an_edition_option_that_disagrees_with_the_file_names_is_refused(
    data_dir: Path, book: RuleBook
) -> None:
    with pytest.raises(DataImportError) as caught:
        import_files("ncci-ptp", PTP_FILES, edition="2026Q3", data_dir=data_dir, book=book)
    message = str(caught.value)
    assert "--edition '2026Q3' (from 2026-07-01) disagrees with the files" in message
    assert "the file names say v32.1r0, the quarter from 2026-04-01" in message
    assert "--force" in message
    with pytest.raises(DataImportError, match="--edition 'my label'"):
        import_files("ncci-ptp", PTP_FILES, edition="my label", data_dir=data_dir, book=book)
    with pytest.raises(DataImportError, match="--effective 2026-04-02 disagrees"):
        import_files("mue", [MUE_FILE], effective=dt.date(2026, 4, 2), data_dir=data_dir, book=book)
    assert not catalog_dir(data_dir).exists()
    # An option that agrees is accepted, and the edition keeps the files' own label.
    agreed = import_files("ncci-ptp", PTP_FILES, edition="2026Q2", data_dir=data_dir, book=book)
    assert agreed.edition == "v32.1r0" and agreed.effective == dt.date(2026, 4, 1)
    # --force stores them as the option says.
    forced = import_files(
        "ncci-ptp", PTP_FILES, edition="2026Q3", force=True, data_dir=data_dir, book=book
    )
    assert forced.edition == "2026Q3" and forced.effective == dt.date(2026, 7, 1)


def test_options_a_kind_does_not_use_are_refused(data_dir: Path, book: RuleBook) -> None:
    files = [ICD_DIR / "icd10cm-order-2027.txt", ICD_DIR / "icd10cm-tabular-2027.xml"]
    with pytest.raises(DataImportError, match="--effective does not apply to icd10cm"):
        import_files("icd10cm", files, effective=dt.date(2026, 10, 1), data_dir=data_dir, book=book)
    with pytest.raises(DataImportError, match="--edition FY2028 disagrees with the files"):
        import_files("icd10cm", files, edition="FY2028", data_dir=data_dir, book=book)
    with pytest.raises(DataImportError, match="--force only lets --edition or --effective"):
        import_files("mue", [MUE_FILE], force=True, data_dir=data_dir, book=book)
    assert not (data_dir / "icd10cm").exists() and not catalog_dir(data_dir).exists()


def test_status_on_a_fresh_folder_names_the_shipped_icd10cm_release(data_dir: Path) -> None:
    text = format_status(status(dt.date(2026, 9, 30), data_dir))
    assert "ICD-10-CM releases: FY2026 (shipped with dexacode)" in text
    assert "WARNING" not in text
    october = format_status(status(dt.date(2026, 10, 1), data_dir))
    assert (
        "WARNING icd10cm: 2026-10-01 is in FY2027, after the newest release dexacode has "
        "(FY2026); claims of that date are checked against FY2026 with ICD10-VINTAGE"
    ) in october
