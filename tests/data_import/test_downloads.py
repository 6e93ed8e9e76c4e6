"""CMS's downloads as published: a zip holds the table's text form beside a spreadsheet
copy (and sometimes a read-me or a PDF); dexacode reads the text form, skips the rest and
says which members it skipped and why."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dexacode.cli_data import data_app
from dexacode.data import DataImportError, import_files, list_datasets
from dexacode.data._catalog import catalog_dir
from dexacode.rulebook import RuleBook
from tests.conftest import REPO_ROOT
from tests.data_import.conftest import MUE_FILE, PTP_FILES

ICD_DIR = REPO_ROOT / "tests" / "data" / "icd10"
ORDER = ICD_DIR / "icd10cm-order-2027.txt"
TABULAR = ICD_DIR / "icd10cm-tabular-2027.xml"


def _xlsx() -> bytes:
    """The shape of an .xlsx (itself a zip of XML): enough to be recognised, not read."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return out.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _ptp_zip(folder: Path, part: Path) -> Path:
    stem = part.stem
    return _zip(
        folder / f"medicare-ncci-2026q2-practitioner-ptp-edits-{stem}.zip",
        {
            f"{stem}.TXT": part.read_bytes(),
            f"{stem}.xlsx": _xlsx(),
            "NCCI PTP Edits Read Me.pdf": b"%PDF-1.4",
        },
    )


def test_the_ptp_zips_as_published_are_read_and_the_spreadsheets_skipped(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    zips = [_ptp_zip(tmp_path, part) for part in PTP_FILES]
    report = import_files("ncci-ptp", zips, data_dir=data_dir, book=book)
    assert (report.edition, report.rows_read, report.rows_kept) == ("v32.1r0", 13, 9)
    assert f"{zips[0]}:ccipra-v321r0-f1.xlsx (the spreadsheet copy of the table" in "\n".join(
        report.skipped
    )
    assert f"{zips[0]}:NCCI PTP Edits Read Me.pdf (documentation" in "\n".join(report.skipped)
    assert len(report.skipped) == 4
    (stored,) = list_datasets(data_dir)
    assert sorted(stored.files) == ["ccipra-v321r0-f1.TXT", "ccipra-v321r0-f3.TXT"]


def test_the_mue_zip_as_published_is_read_and_the_summary_names_what_was_skipped(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _zip(
        tmp_path / "medicare-ncci-2026-q2-practitioner-services-mue-table.zip",
        {
            MUE_FILE.name: MUE_FILE.read_bytes(),
            MUE_FILE.with_suffix(".xlsx").name: _xlsx(),
            "README.txt": b"Practitioner Services MUE table\r\n",
        },
    )
    monkeypatch.setenv("DEXACODE_DATA_DIR", str(data_dir))
    app = typer.Typer()
    app.add_typer(data_app, name="data")
    result = CliRunner().invoke(app, ["data", "import", "mue", str(archive)])
    assert result.exit_code == 0, result.stderr
    assert "1 file(s), 8 rows read, 7 kept" in result.stdout
    assert (
        f"skipped {archive}:MCR_MUE_PractitionerServices_Eff_04-01-2026.xlsx (the spreadsheet "
        "copy of the table; the text form beside it is read)" in result.stdout
    )
    assert f"skipped {archive}:README.txt (a read-me, not the table)" in result.stdout


def test_a_spreadsheet_named_on_its_own_is_refused_pointing_to_the_text_form(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    sheet = tmp_path / "ccipra-v321r0-f3.xlsx"
    sheet.write_bytes(_xlsx())
    with pytest.raises(DataImportError) as caught:
        import_files("ncci-ptp", [sheet], data_dir=data_dir, book=book)
    message = str(caught.value)
    assert f"{sheet}: the spreadsheet form of the table, which dexacode does not read" in message
    assert "import the text form CMS publishes beside it" in message
    assert "ccipra-v321r0-f3.txt" in message
    assert not catalog_dir(data_dir).exists()


def test_a_zip_with_no_text_form_is_refused_naming_what_it_holds(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    archive = _zip(tmp_path / "mue.zip", {MUE_FILE.with_suffix(".xlsx").name: _xlsx()})
    with pytest.raises(DataImportError) as caught:
        import_files("mue", [archive], data_dir=data_dir, book=book)
    message = str(caught.value)
    assert f"{archive}: holds no mue table in its text form" in message
    assert "MCR_MUE_PractitionerServices_Eff_04-01-2026.xlsx" in message


def test_the_icd10cm_zips_as_published_pick_the_order_file_not_its_addenda(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    descriptions = _zip(
        tmp_path / "icd10cm-Code-Descriptions-2027.zip",
        {
            ORDER.name: ORDER.read_bytes(),
            "icd10cm-order-addenda-2027.txt": b"Add:    00009 M819    1 Osteoporosis\r\n",
            "icd10cm-codes-2027.txt": b"M810    Age-related osteoporosis\r\n",
            "icd10OrderFiles.pdf": b"%PDF-1.4",
        },
    )
    tables = _zip(
        tmp_path / "icd10cm-Table-and-Index-2027.zip",
        {
            TABULAR.name: TABULAR.read_bytes(),
            "icd10cm-index-2027.xml": b"<ICD10CM.index/>",
        },
    )
    report = import_files("icd10cm", [descriptions, tables], data_dir=data_dir, book=book)
    assert report.changed and report.edition == "FY2027"
    skipped = "\n".join(report.skipped)
    assert "icd10cm-order-addenda-2027.txt (the year's changes, not the release itself)" in skipped
    assert "icd10cm-codes-2027.txt (the plain code list" in skipped
    assert "icd10cm-index-2027.xml (an alphabetic index" in skipped
    assert (data_dir / "icd10cm" / "icd10cm-FY2027.sqlite").is_file()


def test_two_order_files_are_refused_naming_both(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    archive = _zip(
        tmp_path / "two-years.zip",
        {
            ORDER.name: ORDER.read_bytes(),
            "icd10cm-order-2026.txt": ORDER.read_bytes().replace(b"M80 ", b"M81 ", 1),
            TABULAR.name: TABULAR.read_bytes(),
        },
    )
    with pytest.raises(DataImportError) as caught:
        import_files("icd10cm", [archive], data_dir=data_dir, book=book)
    message = str(caught.value)
    assert "found 2 files that look like the order file" in message
    assert f"{archive}:icd10cm-order-2026.txt, {archive}:icd10cm-order-2027.txt" in message
    assert not (data_dir / "icd10cm").exists()
