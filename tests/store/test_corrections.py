"""Correcting the history store (schema version 3), on SQLite and PostgreSQL: a claim's new
version replaces its old one, a claim is never its own prior study, an import may correct
coverage, a wrong row can be removed, and patient ids are read trimmed."""

from __future__ import annotations

import datetime
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dexacode.cli_history import history_app
from dexacode.store import (
    SCHEMA_VERSION,
    HistoryStore,
    StoreError,
    StudyRow,
    _schema,
    read_history_file,
)

D = datetime.date


def _shown(store: HistoryStore, patient: str) -> list[tuple[str, str, bool, str | None]]:
    return [
        (s.date_of_service.isoformat(), s.cpt, s.covered, s.claim_id) for s in store.show(patient)
    ]


def test_a_claims_new_date_replaces_its_earlier_version(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-1", D(2026, 4, 2), "77080", claim_id="C-1")], source="scrub:1")
        report = store.add(
            [StudyRow("P-1", D(2026, 4, 20), "77080", claim_id="C-1")], source="scrub:2"
        )
        assert (report.added, report.replaced, report.duplicates) == (1, 1, 0)
        assert _shown(store, "P-1") == [("2026-04-20", "77080", True, "C-1")]


def test_a_claims_new_coverage_updates_the_stored_study(db_url: str) -> None:
    denied = StudyRow("P-1", D(2026, 4, 20), "77080", covered=False, claim_id="C-1")
    with HistoryStore(db_url) as store:
        store.add([denied], source="scrub:1")
        report = store.add(
            [StudyRow("P-1", D(2026, 4, 20), "77080", claim_id="C-1")], source="scrub:2"
        )
        assert (report.added, report.updated, report.duplicates) == (0, 1, 0)
        assert _shown(store, "P-1") == [("2026-04-20", "77080", True, "C-1")]
        # The same version again changes nothing.
        again = store.add(
            [StudyRow("P-1", D(2026, 4, 20), "77080", claim_id="C-1")], source="scrub:3"
        )
        assert (again.added, again.updated, again.duplicates, again.replaced) == (0, 0, 1, 0)


def test_a_claim_with_two_lines_keeps_both_and_drops_a_line_it_lost(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add(
            [
                StudyRow("P-1", D(2026, 4, 2), "77080", claim_id="C-1"),
                StudyRow("P-1", D(2026, 4, 2), "77085", claim_id="C-1"),
                StudyRow("P-1", D(2024, 1, 9), "77080", claim_id="C-OLD"),
            ],
            source="scrub:1",
        )
        report = store.add(
            [StudyRow("P-1", D(2026, 4, 2), "77080", claim_id="C-1")], source="scrub:2"
        )
        assert (report.added, report.replaced, report.duplicates) == (0, 1, 1)
        assert _shown(store, "P-1") == [
            ("2024-01-09", "77080", True, "C-OLD"),
            ("2026-04-02", "77080", True, "C-1"),
        ]


def test_rows_of_one_claim_in_one_add_never_replace_each_other(db_url: str) -> None:
    """A batch ends between claims, and rows written by the same add are never stale."""
    rows = [
        StudyRow("P-1", D(2020 + i % 6, 1 + i % 12, 1), "77080", claim_id="C-1") for i in range(30)
    ]
    with HistoryStore(db_url, chunk_size=4) as store:
        report = store.add(rows, source="import:x")
        assert report.replaced == 0 and report.added == len({r.date_of_service for r in rows})


def test_a_stored_study_without_a_claim_id_takes_the_claims(db_url: str) -> None:
    """An imported study recorded again by scrub is known by its claim from then on, so a
    correction of that claim replaces it."""
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-1", D(2026, 4, 2), "77080")], source="import:a.csv")
        first = store.add(
            [StudyRow("P-1", D(2026, 4, 2), "77080", claim_id="C-1")], source="scrub:1"
        )
        assert (first.added, first.duplicates) == (0, 1)
        store.add([StudyRow("P-1", D(2026, 4, 9), "77080", claim_id="C-1")], source="scrub:2")
        assert _shown(store, "P-1") == [("2026-04-09", "77080", True, "C-1")]


def test_look_ups_leave_out_the_claims_own_earlier_version(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add(
            [
                StudyRow("P-1", D(2026, 4, 2), "77080", claim_id="C-1", payer_family="medicare"),
                StudyRow("P-1", D(2024, 1, 9), "77080", claim_id="C-0", payer_family="medicare"),
            ],
            source="scrub:1",
        )
        mine = store.studies_for(["P-1"], family="medicare", claim_id="C-1")["P-1"]
        assert [s.date_of_service for s in mine] == [D(2024, 1, 9)]
        other = store.studies_for(["P-1"], family="medicare", claim_id="C-9")["P-1"]
        assert len(other) == 2
        entries = store.studies_with_family(["P-1"])["P-1"]
        assert sorted(claim for _, _, claim, _ in entries if claim) == ["C-0", "C-1"]


def test_an_import_that_says_otherwise_about_coverage_updates_it(
    db_url: str, tmp_path: Path
) -> None:
    v1 = tmp_path / "v1.csv"
    v1.write_text("patient_id,date_of_service,cpt,covered\nP-1,2025-06-01,77080,true\n")
    v2 = tmp_path / "v2.csv"
    v2.write_text("patient_id,date_of_service,cpt,covered\nP-1,2025-06-01,77080,no\n")
    runner = CliRunner()
    assert runner.invoke(history_app, ["import", str(v1), "--db", db_url]).exit_code == 0
    result = runner.invoke(history_app, ["import", str(v2), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "updated                  1" in result.output
    assert "already there            0" in result.output
    with HistoryStore(db_url) as store:
        assert _shown(store, "P-1") == [("2025-06-01", "77080", False, None)]


def test_history_files_read_covered_as_the_flat_layout_does(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "patient_id,date_of_service,cpt,covered\n"
        "P-1,2025-06-01,77080,no\nP-2,2025-06-01,77080,N\nP-3,2025-06-01,77080,Yes\n"
        "P-4,2025-06-01,77080,0\n"
    )
    assert [r.covered for r in read_history_file(path) if isinstance(r, StudyRow)] == [
        False,
        False,
        True,
        False,
    ]


def test_history_files_may_name_the_claim(db_url: str, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("patient_id,date_of_service,cpt,claim_id\nP-1,2025-06-01,77080,C-7\n")
    fixed = tmp_path / "b.jsonl"
    fixed.write_text(
        '{"patient_id": "P-1", "date_of_service": "2025-06-11", "cpt": "77080", '
        '"claim_id": "C-7"}\n'
    )
    runner = CliRunner()
    assert runner.invoke(history_app, ["import", str(first), "--db", db_url]).exit_code == 0
    result = runner.invoke(history_app, ["import", str(fixed), "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "replaced                 1" in result.output
    with HistoryStore(db_url) as store:
        assert _shown(store, "P-1") == [("2025-06-11", "77080", True, "C-7")]


def test_a_quote_left_open_in_a_history_file_names_the_lines(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        'patient_id,date_of_service,cpt\nP-1,"2025-06-01,77080\nP-2,2025-06-01,77080\n'
        "P-3,2025-06-01,77080\n"
    )
    rows = list(read_history_file(path))
    assert len(rows) == 1 and not isinstance(rows[0], StudyRow)
    assert "lines 2 to 4 of the file were read as this one row" in rows[0].reason


def test_remove_takes_out_a_wrong_row_by_date_cpt_or_claim(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add(
            [
                StudyRow("P-1", D(2025, 6, 1), "77080", claim_id="C-1"),
                StudyRow("P-1", D(2025, 6, 1), "77085", claim_id="C-1"),
                StudyRow("P-1", D(2023, 2, 2), "77080", claim_id="C-0"),
            ],
            source="t",
        )
    runner = CliRunner()
    result = runner.invoke(
        history_app, ["remove", " P-1", "--date", "2025-06-01", "--cpt", "77085", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    assert "Removed 1 study of patient P-1" in result.output
    result = runner.invoke(history_app, ["remove", "P-1", "--claim", "C-0", "--db", db_url])
    assert result.exit_code == 0 and "2023-02-02" in result.output
    with HistoryStore(db_url) as store:
        assert _shown(store, "P-1") == [("2025-06-01", "77080", True, "C-1")]
    nothing = runner.invoke(history_app, ["remove", "P-1", "--date", "2020-01-01", "--db", db_url])
    assert nothing.exit_code == 1 and "nothing was removed" in nothing.output
    unsaid = runner.invoke(history_app, ["remove", "P-1", "--db", db_url])
    assert unsaid.exit_code == 2 and "--date" in unsaid.output
    bad = runner.invoke(history_app, ["remove", "P-1", "--date", "1/6/2025", "--db", db_url])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    with HistoryStore(db_url) as store, pytest.raises(StoreError):
        store.remove("P-1")


def test_patient_ids_are_stored_and_shown_trimmed(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-1 ", D(2025, 6, 1), "77080")], source="t")
        assert store.add([StudyRow("P-1", D(2025, 6, 1), "77080")], source="t2").duplicates == 1
        assert _shown(store, " P-1 ") == [("2025-06-01", "77080", True, None)]
        assert list(store.studies_for(["P-1"])) == ["P-1"]


def _version_2_store(url: str) -> None:
    """A store as dexacode wrote it before version 3: no claim ids, and ids with spaces
    (JSON Lines ids were not trimmed then)."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    version, src, study = _schema._v2_tables(metadata)
    metadata.create_all(engine)
    now = datetime.datetime.now(datetime.UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(version),
            [{"version": 1, "applied_at": now}, {"version": 2, "applied_at": now}],
        )
        key = conn.execute(sa.insert(src).values(name="scrub:old", created_at=now))
        assert key.inserted_primary_key is not None
        source_id = key.inserted_primary_key[0]
        rows = [
            ("P-1 ", D(2025, 6, 2), "77080", True),  # the same study as the next: dropped
            ("P-1", D(2025, 6, 2), "77080", True),
            (" P-2", D(2024, 1, 3), "77081", False),  # trimmed
            ("P-2\t", D(2024, 1, 3), "77081", False),  # and then the same: dropped
        ]
        conn.execute(
            sa.insert(study),
            [
                {
                    "patient_id": p,
                    "date_of_service": d,
                    "cpt": c,
                    "provider": "",
                    "covered": cov,
                    "source_id": source_id,
                    "payer_family": "medicare",
                }
                for p, d, c, cov in rows
            ],
        )
    engine.dispose()


def test_a_version_2_store_gets_claim_ids_and_trimmed_patient_ids(db_url: str) -> None:
    _version_2_store(db_url)
    with HistoryStore(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count() == 2
        assert _shown(store, "P-1") == [("2025-06-02", "77080", True, None)]
        assert _shown(store, "P-2") == [("2024-01-03", "77081", False, None)]
        store.add([StudyRow("P-2", D(2026, 1, 3), "77081", claim_id="C-2")], source="scrub:new")
        assert [s.claim_id for s in store.show("P-2")] == [None, "C-2"]


def _version_2_rows(url: str, rows: list[tuple[str, datetime.date, str, bool, str | None]]) -> None:
    """A version-2 store holding ``rows`` (patient, date, CPT, covered, payer family), added
    one by one in this order, each by a source of its own (as separate runs would)."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    version, src, study = _schema._v2_tables(metadata)
    metadata.create_all(engine)
    now = datetime.datetime.now(datetime.UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(version),
            [{"version": 1, "applied_at": now}, {"version": 2, "applied_at": now}],
        )
        for n, (patient, when, cpt, covered, family) in enumerate(rows):
            key = conn.execute(sa.insert(src).values(name=f"run:{n}", created_at=now))
            assert key.inserted_primary_key is not None
            conn.execute(
                sa.insert(study).values(
                    patient_id=patient,
                    date_of_service=when,
                    cpt=cpt,
                    provider="",
                    covered=covered,
                    source_id=key.inserted_primary_key[0],
                    payer_family=family,
                )
            )
    engine.dispose()


def _seen(store: HistoryStore, patient: str) -> list[tuple[str, str, bool, str | None]]:
    return [
        (s.date_of_service.isoformat(), s.cpt, s.covered, s.payer_family)
        for s in store.show(patient)
    ]


def test_migrating_ids_keeps_the_first_row_of_a_study_and_trims_unicode_spaces(
    db_url: str,
) -> None:
    """Version 3 trims stored ids as str.strip() does (a non-breaking or ideographic space
    too, which SQL's trim keeps). Two rows of one study after trimming become one, as adding
    them in turn would have made it: the first added stays (a later scrub's row never
    changes a stored study's coverage, so it cannot turn an imported denial into covered)."""
    day, later = D(2024, 3, 1), D(2025, 3, 1)
    _version_2_rows(
        db_url,
        [
            ("P1", day, "77080", False, None),  # an import: denied
            (" P1", day, "77080", True, "medicare"),  # a later scrub run: ignored, as in add
            (" P1", later, "77080", True, "medicare"),  # no twin: only trimmed
            (" P2", day, "77080", True, "medicare"),
            ("P2 ", day, "77080", False, "commercial"),  # the later of two spaced twins: out
            ("P3\u00a0", day, "77080", True, "medicare"),
            ("\u2003P4\u3000\t", day, "77085", True, None),
            (" P5", day, "77080", True, "medicare"),
            ("P5", day, "77080", False, None),  # the trimmed row is the later one: out
            ("\u00a0 ", day, "77080", True, None),  # only spaces: no door can find it
        ],
    )
    with HistoryStore(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert _seen(store, "P1") == [
            ("2024-03-01", "77080", False, None),
            ("2025-03-01", "77080", True, "medicare"),
        ]
        assert _seen(store, "P2") == [("2024-03-01", "77080", True, "medicare")]
        assert _seen(store, "P3") == [("2024-03-01", "77080", True, "medicare")]
        assert _seen(store, "P4") == [("2024-03-01", "77085", True, None)]
        assert _seen(store, "P5") == [("2024-03-01", "77080", True, "medicare")]
        assert store.count() == 6
        found = store.studies_for(["P3", "P4", "P5"], family="medicare")
        assert sorted(found) == ["P3", "P4", "P5"]
        assert all(s.covered for studies in found.values() for s in studies)


def test_trimming_ids_keeps_a_claim_id_only_one_twin_has(db_url: str) -> None:
    """The merge itself, on version-3 rows: the first row's values, and a claim id from
    the earliest twin that has one when the kept row has none."""
    engine = sa.create_engine(db_url)
    metadata = sa.MetaData()
    _, src, study = _schema._v3_tables(metadata)
    metadata.create_all(engine)
    now = datetime.datetime.now(datetime.UTC)
    rows = [
        ("A", None, False),  # the first: kept, with C-2
        ("A ", "C-2", False),
        ("\u00a0A", "C-3", True),
        (" B", None, True),  # kept, with C-9
        ("B", "C-9", False),
        ("C\u2028", None, True),  # alone: trimmed, no claim id
    ]
    with engine.begin() as conn:
        key = conn.execute(sa.insert(src).values(name="t", created_at=now)).inserted_primary_key
        assert key is not None
        for patient, claim, covered in rows:
            conn.execute(
                sa.insert(study).values(
                    patient_id=patient,
                    date_of_service=D(2024, 3, 1),
                    cpt="77080",
                    provider="DR-1",
                    covered=covered,
                    source_id=key[0],
                    claim_id=claim,
                )
            )
        _schema._trim_patient_ids(conn, study)
        got = conn.execute(
            sa.select(study.c.patient_id, study.c.claim_id, study.c.covered).order_by(
                study.c.patient_id
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in got] == [
        ("A", "C-2", False),
        ("B", "C-9", True),
        ("C", None, True),
    ]


def test_two_runs_recording_versions_of_one_claim_at_once_leave_one_version(
    db_url: str,
) -> None:
    """Two writers, each its own connection: the write lock makes them take turns, and the
    claim ends with exactly one version, never both, never none."""
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-1", D(2026, 1, 1), "77080", claim_id="C-1")], source="scrub:0")
    errors: list[BaseException] = []

    def record(day: int) -> None:
        try:
            with HistoryStore(db_url) as store:
                for _ in range(5):
                    store.add(
                        [StudyRow("P-1", D(2026, 1, day), "77080", claim_id="C-1")],
                        source=f"scrub:{day}",
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(day,)) for day in (10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with HistoryStore(db_url) as store:
        shown = _shown(store, "P-1")
    assert len(shown) == 1 and shown[0][0] in ("2026-01-10", "2026-01-20")
