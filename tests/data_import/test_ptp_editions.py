"""Several PTP editions loaded: the newest speaks for every date (its rows restate the
edits' history, back-dated corrections included), part by part, and an edition that lacks
a part is flagged wherever it is used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from dexacode.cli_data import format_status
from dexacode.contract import CodingResult
from dexacode.data import import_files, status
from dexacode.rulebook import RuleBook
from tests.conftest import ids, lines
from tests.data_import.conftest import PTP_FILES

Coder = Callable[..., CodingResult]

AXIAL_AND_VFA = {
    "exam__sites": ["lumbar_spine"],
    "exam__vfa": True,
    "results": [],
    "submitted": {
        "lines": [{"cpt": "77085", "units": 1}, {"cpt": "77086", "units": 1}],
        "diagnoses": ["Z13.820", "Z78.0"],
    },
}
AXIAL_VFA_AND_FOREARM = {
    "exam__sites": ["lumbar_spine", "left_forearm"],
    "exam__vfa": True,
    "results": [],
}


def _next_quarter(folder: Path, *parts: Path, change: tuple[str, str] = ("", "")) -> list[Path]:
    """v32.1's files as v32.2 (the quarter from 2026-07-01), with one text change."""
    folder.mkdir(exist_ok=True)
    out = []
    for part in parts:
        target = folder / part.name.replace("v321r0", "v322r0")
        target.write_text(part.read_text().replace(*change), encoding="utf-8")
        out.append(target)
    return out


def test_a_back_dated_deletion_in_a_newer_edition_holds_when_the_older_is_loaded(
    coder: Coder, data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    june = coder(date_of_service="2026-06-10", **AXIAL_AND_VFA)
    assert "PTP-BUNDLED" in ids(june)
    # v32.2 deletes 77085 + 77086 as of 2026-05-31: a correction reaching back into the
    # quarter v32.1 was published for.
    deleted = ("77085\t77086\t\t20150101\t*", "77085\t77086\t\t20150101\t20260531")
    v322 = _next_quarter(tmp_path / "v322", *PTP_FILES, change=deleted)
    import_files("ncci-ptp", v322, data_dir=data_dir, book=book)
    june = coder(date_of_service="2026-06-10", **AXIAL_AND_VFA)
    assert "PTP-BUNDLED" not in ids(june)
    assert june.editions[2:] == ["NCCI PTP v32.2r0"]  # v32.1 is superseded
    # The edit stands up to its last day.
    assert "PTP-BUNDLED" in ids(coder(date_of_service="2026-05-31", **AXIAL_AND_VFA))
    (older, newer) = status(dt.date(2026, 6, 10), data_dir).of("ncci-ptp")
    assert older.superseded_by == "v32.2r0" and newer.speaks_for == ("f1", "f3")


def test_a_new_edition_missing_a_part_keeps_that_parts_older_rows_and_says_so(
    coder: Coder, data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import_files("ncci-ptp", PTP_FILES, data_dir=data_dir, book=book)
    # v32.1's f3 ends the 77085 + 77081 edit on 2025-12-31: no modifier on 77081.
    august = {"date_of_service": "2026-08-01", **AXIAL_VFA_AND_FOREARM}
    assert lines(coder(**august)) == [("77085", []), ("77081", [])]
    (f1,) = _next_quarter(tmp_path / "v322", PTP_FILES[0])
    report = import_files("ncci-ptp", [f1], data_dir=data_dir, book=book)
    assert report.notes == (
        "edition v32.2r0 is INCOMPLETE: it lacks part f3, which v32.1r0 has; until you load "
        "ccipra-v322r0-f3, the pairs of that part are checked against v32.1r0's rows, and "
        "every result says so",
    )
    # The pairs of f3 are still v32.1's (the shipped XU row does not come back) ...
    result = coder(**august)
    assert lines(result) == [("77085", []), ("77081", [])]
    # ... and the result says the edition it used is incomplete.
    assert result.editions[2:] == [
        "NCCI PTP v32.2r0 (INCOMPLETE: lacks part f3)",
        "NCCI PTP v32.1r0 (part f3)",
    ]
    text = format_status(status(dt.date(2026, 8, 1), data_dir))
    assert (
        "WARNING ncci-ptp: edition v32.2r0 is INCOMPLETE: it lacks part f3, which v32.1r0 has"
    ) in text
    assert "load ccipra-v322r0-f3" in text
    assert "v32.1r0: part f3 only: its rows decide every date of service" in text
    # Loading the missing part completes the edition: no warning, v32.1 superseded.
    (f3,) = _next_quarter(tmp_path / "v322", PTP_FILES[1])
    assert import_files("ncci-ptp", [f3], data_dir=data_dir, book=book).notes == ()
    assert coder(**august).editions[2:] == ["NCCI PTP v32.2r0"]
    assert "WARNING ncci-ptp: edition" not in format_status(status(dt.date(2026, 8, 1), data_dir))
