"""Loaded edits drive the checks by date of service: the edition in force, the edits in
force within it, and the shipped rows where nothing is loaded."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

from dexacode.contract import CodingResult
from dexacode.data import import_files, with_loaded_data
from dexacode.data.overlay import subtract
from dexacode.rulebook import RuleBook
from tests.conftest import ids, lines
from tests.data_import.conftest import MCD_FILES, MUE_FILE, PTP_FILES

Coder = Callable[..., CodingResult]

VFA_AND_FOREARM = {"exam__sites": ["left_forearm"], "exam__vfa": True, "results": []}
AXIAL_VFA_AND_FOREARM = {
    "exam__sites": ["lumbar_spine", "left_forearm"],
    "exam__vfa": True,
    "results": [],
}


def _submitted(*codes: tuple[str, int]) -> dict[str, object]:
    return {
        "lines": [{"cpt": c, "modifiers": [], "units": u} for c, u in codes],
        "diagnoses": ["Z13.820", "Z78.0"],
    }


def test_two_dates_straddling_an_edits_effective_date_get_different_answers(
    coder: Coder, data_dir: Path, book: RuleBook
) -> None:
    # Shipped rules: 77086 + 77081 carry no distinct-service modifier.
    assert lines(coder(date_of_service="2026-01-15", **VFA_AND_FOREARM)) == [
        ("77081", []),
        ("77086", []),
    ]
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    # The loaded table pairs 77086 (column 1) with 77081 (column 2), indicator 1, from
    # 2026-01-01: column 2 takes Medicare's XU from that day, not the day before.
    before = coder(date_of_service="2025-12-31", **VFA_AND_FOREARM)
    after = coder(date_of_service="2026-01-01", **VFA_AND_FOREARM)
    assert lines(before) == [("77081", []), ("77086", [])]
    assert lines(after) == [("77081", ["XU"]), ("77086", [])]


def test_a_deletion_date_ends_an_edit(coder: Coder, data_dir: Path, book: RuleBook) -> None:
    # Shipped: 77085 + 77081 puts XU on 77081 (column 2).
    assert lines(coder(date_of_service="2026-01-02", **AXIAL_VFA_AND_FOREARM)) == [
        ("77085", []),
        ("77081", ["XU"]),
    ]
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    # The loaded edit's deletion date is 2025-12-31, its last day: after it, no edit, and
    # the shipped row for the pair does not come back.
    assert lines(coder(date_of_service="2025-12-31", **AXIAL_VFA_AND_FOREARM)) == [
        ("77085", []),
        ("77081", ["XU"]),
    ]
    assert lines(coder(date_of_service="2026-01-01", **AXIAL_VFA_AND_FOREARM)) == [
        ("77085", []),
        ("77081", []),
    ]


def test_a_pair_the_loaded_table_never_mentions_keeps_the_shipped_row(
    book: RuleBook, data_dir: Path
) -> None:
    import_files("ncci-ptp", PTP_FILES[1:], data_dir=data_dir, book=book)
    shipped = book.in_force(dt.date(2026, 5, 1), "medicare").ptp
    loaded = with_loaded_data(book, data_dir).in_force(dt.date(2026, 5, 1), "medicare").ptp
    pair = frozenset(("77080", "77086"))
    assert loaded[pair].source == ("ncci-ptp",)
    assert loaded[pair].finding == shipped[pair].finding == "PTP-AXIAL-VFA"
    assert frozenset(("77086", "77078")) not in loaded  # indicator 9: never in force


def test_an_indicator_0_pair_without_a_shipped_meaning_raises_ptp_ncci(
    coder: Coder, data_dir: Path, book: RuleBook
) -> None:
    claim = _submitted(("77080", 1), ("77078", 1))
    assert "PTP-SAME-GROUP" in ids(coder(submitted=claim))
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    result = coder(submitted=claim)
    assert "PTP-NCCI" in ids(result) and "PTP-SAME-GROUP" not in ids(result)
    found = next(f for f in result.findings if f.id == "PTP-NCCI")
    assert found.line == "77078" and found.sources == ["ncci-ptp"]


def test_mue_values_follow_the_edition_in_force(
    coder: Coder, data_dir: Path, book: RuleBook, tmp_path: Path
) -> None:
    claim = _submitted(("77080", 1), ("77081", 2))
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    # Before the oldest edition the shipped value (1) stands; from 2026-04-01 it is 2.
    assert "MUE-EXCEEDED" in ids(coder(date_of_service="2026-03-31", submitted=claim))
    assert "MUE-EXCEEDED" not in ids(coder(date_of_service="2026-04-01", submitted=claim))
    # A newer edition governs from its own first day: back to 1 on 2026-07-01.
    july = tmp_path / MUE_FILE.name.replace("04-01-2026", "07-01-2026")
    july.write_text(MUE_FILE.read_text().replace('"77081","2"', '"77081","1"'), encoding="utf-8")
    import_files("mue", [july], data_dir=data_dir, book=book)
    assert "MUE-EXCEEDED" not in ids(coder(date_of_service="2026-06-30", submitted=claim))
    assert "MUE-EXCEEDED" in ids(coder(date_of_service="2026-07-01", submitted=claim))


def test_a_result_names_the_editions_it_used(coder: Coder, data_dir: Path, book: RuleBook) -> None:
    plain = coder(date_of_service="2026-05-04")
    assert plain.editions[0] == f"rule book {book.version}"
    assert plain.editions[1].startswith("ICD-10-CM FY")
    assert len(plain.editions) == 2
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    import_files(
        "mcd-article", MCD_FILES, article="57132", payer="medicare", data_dir=data_dir, book=book
    )
    may = coder(date_of_service="2026-05-04").editions
    assert may[2:] == [
        "MCD article A57132 v12 for medicare",
        "MUE practitioner 2026-04-01",
        "NCCI PTP v32.1r0",
    ]
    # Before the MUE edition and the article: only the PTP edition (its rows are dated).
    assert coder(date_of_service="2023-06-01").editions[2:] == ["NCCI PTP v32.1r0"]
    # The article is attached to medicare only.
    assert (
        "MCD article A57132 v12 for medicare"
        not in coder(date_of_service="2026-05-04", payer="commercial").editions
    )


def test_the_loaded_book_is_cached_until_something_is_imported(
    book: RuleBook, data_dir: Path
) -> None:
    assert with_loaded_data(book, data_dir) is book  # nothing loaded: the book itself
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
    first = with_loaded_data(book, data_dir)
    assert first is not book and with_loaded_data(book, data_dir) is first
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    assert with_loaded_data(book, data_dir) is not first
    shutil.rmtree(data_dir / "cms")
    assert with_loaded_data(book, data_dir) is book


def test_subtract_leaves_what_the_holes_do_not_cover() -> None:
    d = dt.date
    assert subtract((d(2020, 1, 1), None), [(d(2021, 1, 1), d(2021, 12, 31))]) == [
        (d(2020, 1, 1), d(2020, 12, 31)),
        (d(2022, 1, 1), None),
    ]
    assert subtract((d(2020, 1, 1), d(2020, 6, 30)), [(d(2019, 1, 1), None)]) == []
    assert subtract((d(2020, 1, 1), d(2020, 6, 30)), [(d(2021, 1, 1), None)]) == [
        (d(2020, 1, 1), d(2020, 6, 30))
    ]
