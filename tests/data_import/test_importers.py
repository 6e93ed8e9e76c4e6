"""Each importer on files in CMS's layouts: what is kept, what is refused, and that a
refused or repeated import leaves the stored data exactly as it was."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pytest

from dexacode.data import DataImportError, import_files, list_datasets, status
from dexacode.data._catalog import catalog_dir
from dexacode.rulebook import RuleBook
from tests.conftest import REPO_ROOT
from tests.data_import.conftest import MCD_FILES, MUE_FILE, PTP_FILES

ICD_DIR = REPO_ROOT / "tests" / "data" / "icd10"


def _snapshot(data_dir: Path) -> dict[str, bytes]:
    root = catalog_dir(data_dir)
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _bad_copy(source: Path, folder: Path, line: int, text: str) -> Path:
    """``source`` copied into ``folder`` with its line ``line`` (1-based) replaced."""
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = text
    target = folder / source.name
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


# --- NCCI PTP --------------------------------------------------------------------------


def test_ptp_round_trip_keeps_the_edits_between_known_codes(data_dir: Path, book: RuleBook) -> None:
    report = import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    assert report.changed and report.edition == "v32.1r0"
    assert report.effective == dt.date(2026, 4, 1)  # version 32.1 = the April 2026 quarter
    assert report.rows_read == 13  # header lines, wrapped header and notice are not rows
    (stored,) = list_datasets(data_dir)
    rows = [r for table in stored.tables.values() for r in table]
    pairs = {(r[0], r[1]) for r in rows}
    assert ("77085", "77081") in pairs and ("G0130", "76977") in pairs
    assert ("72100", "77080") not in pairs  # 72100 is not a code dexacode codes
    assert not any(r[0].startswith("1006") for r in rows)
    deleted = next(r for r in rows if (r[0], r[1]) == ("77085", "77081"))
    assert deleted[3:6] == ["2015-01-01", "2025-12-31", 1]
    assert next(r for r in rows if r[0] == "G0130")[2] is True  # in existence before 1996


def test_importing_the_same_files_twice_changes_nothing(data_dir: Path, book: RuleBook) -> None:
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    before = _snapshot(data_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in catalog_dir(data_dir).rglob("*.json")}
    again = import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    assert not again.changed
    assert _snapshot(data_dir) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_the_split_table_may_be_imported_one_file_at_a_time(data_dir: Path, book: RuleBook) -> None:
    for path in PTP_FILES:
        import_files("ncci-ptp", [path], data_dir=data_dir, book=book)
    one_by_one = _snapshot(data_dir)
    shutil.rmtree(catalog_dir(data_dir))
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    assert _snapshot(data_dir) == one_by_one


def test_the_quarterly_zip_is_read_as_its_files(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    archive = tmp_path / "ccipra-v321r0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in PTP_FILES:
            zf.write(path, f"ccipra-v321r0/{path.name}")
    report = import_files("ncci-ptp", [archive], data_dir=data_dir, book=book)
    assert report.rows_read == 13 and report.rows_kept == 9


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("77080\t77086\t\t2015010\t*\t0\tCPT Manual", "effective date '2015010'"),
        ("77080\t77086\t\t20150101\t*\t2\tCPT Manual", "modifier indicator '2'"),
        ("77080\t7708\t\t20150101\t*\t0\tCPT Manual", "column 2 '7708'"),
        ("77080\t77086\t\t20150101\t20251340\t0\tCPT Manual", "deletion date '20251340'"),
        ("77080 77086 20150101 * 0", "expected 7 tab-separated columns"),
    ],
)
def test_a_malformed_ptp_file_is_refused_whole_with_its_line(
    data_dir: Path, tmp_path: Path, book: RuleBook, text: str, reason: str
) -> None:
    import_files("ncci-ptp", PTP_FILES[:1], data_dir=data_dir, book=book)
    before = _snapshot(data_dir)
    bad = _bad_copy(PTP_FILES[1], tmp_path, 8, text)  # a row in the middle of the table
    with pytest.raises(DataImportError) as caught:
        import_files("ncci-ptp", [PTP_FILES[0], bad], data_dir=data_dir, book=book)
    message = str(caught.value)
    assert f"{bad.name}, line 8:" in message and reason in message
    assert "nothing was imported" in message
    assert _snapshot(data_dir) == before  # the good file given beside it was not stored either


def test_a_file_that_is_not_a_ptp_table_is_refused(data_dir: Path, book: RuleBook) -> None:
    with pytest.raises(DataImportError, match="no header line"):
        import_files("ncci-ptp", [MUE_FILE], data_dir=data_dir, book=book)
    assert not catalog_dir(data_dir).exists()


def test_a_file_without_a_quarter_in_its_name_needs_effective(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    plain = tmp_path / "edits.txt"
    shutil.copy(PTP_FILES[1], plain)
    with pytest.raises(DataImportError, match="--effective"):
        import_files("ncci-ptp", [plain], data_dir=data_dir, book=book)
    report = import_files("ncci-ptp", [plain], edition="2026Q3", data_dir=data_dir, book=book)
    assert report.effective == dt.date(2026, 7, 1) and report.edition == "2026Q3"


def test_a_corrected_release_replaces_the_quarter(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    corrected = tmp_path / PTP_FILES[1].name.replace("r0", "r1")
    shutil.copy(PTP_FILES[1], corrected)
    report = import_files("ncci-ptp", [corrected], data_dir=data_dir, book=book)
    assert report.edition == "v32.1r1"
    assert report.replaced == ("edition v32.1r0 (from ccipra-v321r0-f1.txt, ccipra-v321r0-f3.txt)",)
    (stored,) = list_datasets(data_dir)
    assert list(stored.files) == [corrected.name]  # r0's other file does not linger


# --- MUE -------------------------------------------------------------------------------


def test_mue_round_trip(data_dir: Path, book: RuleBook) -> None:
    report = import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    assert report.effective == dt.date(2026, 4, 1)
    assert (report.rows_read, report.rows_kept) == (8, 7)  # 99213 is not ours
    (stored,) = list_datasets(data_dir)
    rows = {r[0]: r for r in stored.tables[MUE_FILE.name]}
    assert rows["77081"][1:4] == [2, 3, "3 Date of Service Edit: Clinical"]
    assert rows["77080"][1:3] == [1, 2]
    assert not import_files("mue", [MUE_FILE], data_dir=data_dir, book=book).changed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"77080","one","2 Date of Service Edit: Policy","x"', "MUE value 'one'"),
        ('"77080","1","Date of Service Edit: Policy","x"', "adjudication indicator"),
        ('"7708","1","2 Date of Service Edit: Policy","x"', "'7708' is not a CPT/HCPCS code"),
    ],
)
def test_a_malformed_mue_file_is_refused_with_its_line(
    data_dir: Path, tmp_path: Path, book: RuleBook, text: str, reason: str
) -> None:
    bad = _bad_copy(MUE_FILE, tmp_path, 7, text)
    with pytest.raises(DataImportError) as caught:
        import_files("mue", [bad], data_dir=data_dir, book=book)
    assert f"{bad.name}, line 7:" in str(caught.value) and reason in str(caught.value)
    assert not catalog_dir(data_dir).exists()


# --- MCD article -----------------------------------------------------------------------


def test_mcd_article_round_trip_takes_the_newest_version_of_the_one_article(
    data_dir: Path, book: RuleBook
) -> None:
    report = import_files(
        "mcd-article", MCD_FILES, article="A57132", payer="medicare", data_dir=data_dir, book=book
    )
    assert report.edition == "A57132 v12" and report.effective == dt.date(2024, 1, 4)
    (stored,) = list_datasets(data_dir)
    covered = {row[0]: row[1] for row in stored.tables["covered"]}
    assert covered["M81.0"] == 1 and covered["Z09"] == 2 and covered["Z13.820"] == 3
    assert "M85.80" not in covered  # version 11 listed it; version 12 does not
    assert "E55.9" not in covered  # another article's code
    assert [r[0] for r in stored.tables["noncovered"]] == ["M85.80", "Z13.89"]
    assert [r[0] for r in stored.tables["hcpcs"]] == ["77078", "77080", "77081", "77085", "G0130"]
    pairings = {row[0]: (row[1], row[2]) for row in stored.tables["pairings"]}
    assert pairings[2][0] == ["Z09"]  # "the following code": the group's own codes
    assert "M81.0" in pairings[2][1]  # "a code from Group 1"
    assert pairings[3] == (["Z13.820"], ["Z78.0", "Z90.721..Z90.722"])
    assert stored.meta["title"].startswith("Billing and Coding: Bone Mass Measurement")
    again = import_files(
        "mcd-article", MCD_FILES, article="57132", payer="medicare", data_dir=data_dir, book=book
    )
    assert not again.changed


def test_mcd_article_needs_the_article_and_the_payer(data_dir: Path, book: RuleBook) -> None:
    with pytest.raises(DataImportError, match="--article"):
        import_files("mcd-article", MCD_FILES, payer="medicare", data_dir=data_dir, book=book)
    with pytest.raises(DataImportError, match="unknown payer profile 'acme'"):
        import_files(
            "mcd-article", MCD_FILES, article="57132", payer="acme", data_dir=data_dir, book=book
        )
    with pytest.raises(DataImportError, match="governs none of the bone density codes"):
        import_files(
            "mcd-article",
            MCD_FILES,
            article="57484",
            payer="medicare",
            data_dir=data_dir,
            book=book,
        )
    with pytest.raises(DataImportError, match="A99999 has no covered diagnoses"):
        import_files(
            "mcd-article",
            MCD_FILES,
            article="99999",
            payer="medicare",
            data_dir=data_dir,
            book=book,
        )
    assert not catalog_dir(data_dir).exists()


def test_a_malformed_mcd_table_is_refused_with_its_line(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    folder = tmp_path / "mcd"
    folder.mkdir()
    for path in MCD_FILES:
        shutil.copy(path, folder / path.name)
    covered = folder / "article_x_icd10_covered.csv"
    _bad_copy(covered, folder, 4, '57132,12,"M81.0",1,1,"N"')  # too few columns
    with pytest.raises(DataImportError, match=r"article_x_icd10_covered.csv, line 4: expected 9"):
        import_files(
            "mcd-article",
            sorted(folder.glob("*.csv")),
            article="57132",
            payer="medicare",
            data_dir=data_dir,
            book=book,
        )
    assert not catalog_dir(data_dir).exists()


# --- ICD-10-CM -------------------------------------------------------------------------


def test_icd10cm_round_trip_builds_the_release_once(data_dir: Path, book: RuleBook) -> None:
    files = [ICD_DIR / "icd10cm-order-2027.txt", ICD_DIR / "icd10cm-tabular-2027.xml"]
    report = import_files("icd10cm", files, data_dir=data_dir, book=book)
    assert report.changed and report.edition == "FY2027"
    index = data_dir / "icd10cm" / "icd10cm-FY2027.sqlite"
    built = index.stat().st_mtime_ns
    assert not import_files("icd10cm", files, data_dir=data_dir, book=book).changed
    assert index.stat().st_mtime_ns == built
    assert status(dt.date(2026, 11, 1), data_dir).icd10cm_years == (2027,)


def test_a_malformed_order_file_is_refused_with_its_line(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    bad = _bad_copy(ICD_DIR / "icd10cm-order-2027.txt", tmp_path, 3, "00003 M8008   X short")
    with pytest.raises(DataImportError, match=r"icd10cm-order-2027.txt, line 3"):
        import_files(
            "icd10cm", [bad, ICD_DIR / "icd10cm-tabular-2027.xml"], data_dir=data_dir, book=book
        )
    assert not (data_dir / "icd10cm").exists() or not any((data_dir / "icd10cm").iterdir())
    assert not catalog_dir(data_dir).exists()


def test_arguments_that_do_not_fit_the_kind_are_refused(data_dir: Path, book: RuleBook) -> None:
    with pytest.raises(DataImportError, match="unknown kind 'ptp'"):
        import_files("ptp", PTP_FILES, data_dir=data_dir, book=book)
    with pytest.raises(DataImportError, match="mcd-article only"):
        import_files("mue", [MUE_FILE], payer="medicare", data_dir=data_dir, book=book)
    with pytest.raises(DataImportError, match="no such file"):
        import_files("mue", [MUE_FILE.with_name("missing.csv")], data_dir=data_dir, book=book)
