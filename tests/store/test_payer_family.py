"""Payer families in the history store (schema version 2), on SQLite and PostgreSQL.

A study one payer family paid does not count as covered for a claim to another family
(contract: ``history[].covered`` is false for a study the current payer family did not
pay), so a Medicare study recorded by one run does not raise FREQUENCY on the patient's
commercial claim in the next. Studies of unknown family (imported files, rows from before
version 2) count as stored.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dexacode.contract import CodingResult, PriorStudy
from dexacode.store import (
    SCHEMA_VERSION,
    HistoryStore,
    StoreError,
    StudyRow,
    _schema,
    as_seen_by,
    read_history_file,
)

D = datetime.date
MEDICARE_STUDY = StudyRow("P-1", D(2025, 6, 2), "77080", payer_family="medicare")


def _covered(studies: list[PriorStudy]) -> list[tuple[datetime.date, str, bool]]:
    return [(s.date_of_service, s.cpt, s.covered) for s in studies]


# --- what a claim sees ------------------------------------------------------------------------


def test_a_study_medicare_paid_is_not_covered_for_a_commercial_claim(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([MEDICARE_STUDY], source="scrub:run-1")
        commercial = store.studies_for(["P-1"], family="commercial")
        medicare = store.studies_for(["P-1"], family="medicare")
        as_stored = store.studies_for(["P-1"])
    assert _covered(commercial["P-1"]) == [(D(2025, 6, 2), "77080", False)]
    assert _covered(medicare["P-1"]) == [(D(2025, 6, 2), "77080", True)]
    assert _covered(as_stored["P-1"]) == [(D(2025, 6, 2), "77080", True)]
    assert medicare["P-1"][0] is as_stored["P-1"][0]  # unchanged: the same object


def test_an_imported_study_of_unknown_family_counts_for_every_family(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("patient_id,date_of_service,cpt,covered\nP-2,2025-06-02,77080,true\n")
    with HistoryStore(db_url) as store:
        store.add(read_history_file(path), source="import:claims.csv")
        assert store.show("P-2")[0].payer_family is None
        pairs = store.studies_with_family(["P-2"])["P-2"]
        for family in ("commercial", "medicare", None):
            seen = store.studies_for(["P-2"], family=family)["P-2"]
            assert _covered(seen) == [(D(2025, 6, 2), "77080", True)]
            assert seen[0] is pairs[0][0]


def test_a_denied_study_stays_denied_for_every_family(db_url: str) -> None:
    denied = StudyRow("P-3", D(2025, 6, 2), "77080", covered=False, payer_family="medicare")
    with HistoryStore(db_url) as store:
        store.add([denied], source="scrub:run-1")
        for family in ("commercial", "medicare", None):
            seen = store.studies_for(["P-3"], family=family)["P-3"]
            assert _covered(seen) == [(D(2025, 6, 2), "77080", False)]


def test_studies_with_family_pairs_each_study_with_its_family(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add(
            [
                StudyRow("P-1", D(2024, 1, 5), "77080", "DR-1", payer_family="medicare"),
                StudyRow("P-1", D(2024, 1, 5), "77080", "DR-2", payer_family="medicare"),
                StudyRow("P-1", D(2024, 1, 5), "77080", "DR-3"),  # imported: unknown
                StudyRow("P-1", D(2021, 3, 1), "77085", payer_family="commercial"),
                StudyRow("P-1", D(2022, 3, 1), "77081", covered=False, payer_family="medicaid"),
                StudyRow("P-9", D(2023, 1, 1), "77080", payer_family="acme_health"),
            ],
            source="test",
        )
        found = store.studies_with_family(["P-1", "P-9", "nobody"])
        as_stored = store.studies_for(["P-1", "P-9", "nobody"])
        assert store.studies_with_family([]) == {}
    assert set(found) == {"P-1", "P-9"}
    assert [(s.date_of_service, s.cpt, s.covered, f) for s, f, _, _ in found["P-1"]] == [
        (D(2021, 3, 1), "77085", True, "commercial"),
        (D(2022, 3, 1), "77081", False, "medicaid"),
        (D(2024, 1, 5), "77080", True, None),  # unknown family first, on both databases
        (D(2024, 1, 5), "77080", True, "medicare"),  # two providers' claims: one pair
    ]
    # The same studies (the same objects) in the same order as studies_for.
    assert [s for s, *_ in found["P-1"]][:3] == as_stored["P-1"]
    assert found["P-9"] == [(as_stored["P-9"][0], "acme_health", None, None)]


def test_show_returns_the_family(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([MEDICARE_STUDY, StudyRow("P-1", D(2020, 1, 1), "77080")], source="test")
        assert [r.payer_family for r in store.show("P-1")] == [None, "medicare"]
        assert store.show("P-1")[1] == MEDICARE_STUDY


def test_a_study_recorded_again_keeps_its_first_family(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-1", D(2025, 6, 2), "77080")], source="import:claims.csv")
        again = store.add([MEDICARE_STUDY], source="scrub:run-1")
        assert (again.added, again.duplicates) == (0, 1)  # same patient, date, CPT, provider
        assert store.show("P-1")[0].payer_family is None
        assert store.add([MEDICARE_STUDY], source="scrub:run-2").duplicates == 1


def test_a_bad_family_is_refused(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        report = store.add(
            [
                StudyRow("P-1", D(2025, 6, 2), "77080", payer_family=""),
                StudyRow("P-1", D(2025, 6, 2), "77080", payer_family="x" * 201),
                StudyRow("P-1", D(2025, 6, 2), "77080", payer_family="x" * 200),
            ],
            source="test",
        )
        assert (report.added, [p.row for p in report.problems]) == (1, [1, 2])
        assert "payer_family" in report.problems[0].reason


def test_many_patients_in_chunks_with_a_family(db_url: str) -> None:
    families = ("medicare", "commercial", None)
    with HistoryStore(db_url) as store:
        store.add(
            (
                StudyRow(f"P{i:06d}", D(2024, 1, 5), "77080", payer_family=families[i % 3])
                for i in range(2_000)  # several SQLite chunks of ids
            ),
            source="test",
        )
        seen = store.studies_for([f"P{i:06d}" for i in range(2_100)], family="commercial")
    assert len(seen) == 2_000
    assert [seen[f"P{i:06d}"][0].covered for i in range(6)] == [False, True, True] * 2


# --- as_seen_by, the rule itself -------------------------------------------------------------


def test_as_seen_by_marks_other_families_studies_not_covered() -> None:
    paid = PriorStudy(date_of_service=D(2025, 6, 2), cpt="77080")
    denied = PriorStudy(date_of_service=D(2023, 1, 9), cpt="77080", covered=False)
    pairs: list[tuple[PriorStudy, str | None]] = [(denied, "commercial"), (paid, "medicare")]

    commercial = as_seen_by(pairs, "commercial")
    assert commercial[0] is denied
    assert commercial[1] == PriorStudy(date_of_service=D(2025, 6, 2), cpt="77080", covered=False)
    assert paid.covered  # the stored study is not changed
    for family in ("medicare", None):
        seen = as_seen_by(pairs, family)
        assert seen[0] is denied and seen[1] is paid
    assert as_seen_by([], "medicare") == []


def test_as_seen_by_keeps_a_study_this_family_also_paid() -> None:
    """One study billed by two providers to two families (Medicare primary, Medicaid
    secondary): for either family it counts as covered; for a third it is one study that
    family did not pay."""
    paid = PriorStudy(date_of_service=D(2025, 6, 2), cpt="77080")
    pairs: list[tuple[PriorStudy, str | None]] = [(paid, "medicaid"), (paid, "medicare")]
    assert as_seen_by(pairs, "medicare") == [paid]
    assert as_seen_by(pairs, "medicare")[0] is paid
    assert as_seen_by(pairs, "medicaid") == [paid]
    assert _covered(as_seen_by(pairs, "commercial")) == [(D(2025, 6, 2), "77080", False)]
    # A row of unknown family counts for every family.
    assert as_seen_by([(paid, "medicare"), (paid, None)], "commercial") == [paid]


def test_as_seen_by_lists_one_study_per_date_code_and_coverage() -> None:
    paid = PriorStudy(date_of_service=D(2025, 6, 2), cpt="77080")
    denied = PriorStudy(date_of_service=D(2025, 6, 2), cpt="77080", covered=False)
    pairs: list[tuple[PriorStudy, str | None]] = [
        (denied, "commercial"),
        (denied, None),
        (paid, "medicare"),
    ]
    assert as_seen_by(pairs, None) == [denied, paid]
    assert as_seen_by(pairs, "medicare") == [denied, paid]
    assert as_seen_by(pairs, "commercial") == [denied]  # Medicare's payment: not covered


def test_frequency_follows_the_family_of_the_claim(
    db_url: str, code: Callable[..., CodingResult]
) -> None:
    """What a user sees: a study Medicare paid in June 2025 raises FREQUENCY on a Medicare
    claim in March 2026, not on a commercial one; an imported study raises it on both."""
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-TEST", D(2025, 6, 2), "77080", payer_family="medicare")], "run")
        store.add([StudyRow("P-OLD", D(2025, 6, 2), "77080")], source="import:claims.csv")
        pairs = store.studies_with_family(["P-TEST", "P-OLD"])

    def findings(patient: str, payer: str, family: str) -> list[str]:
        history: list[dict[str, Any]] = [
            s.model_dump(mode="json") for s in as_seen_by(pairs[patient], family)
        ]
        result = code(payer=payer, patient__id=patient, history=history)
        return [f.id for f in result.findings]

    assert "FREQUENCY" in findings("P-TEST", "medicare", "medicare")
    assert "FREQUENCY" not in findings("P-TEST", "commercial", "commercial")
    assert "FREQUENCY" in findings("P-OLD", "medicare", "medicare")
    assert "FREQUENCY" in findings("P-OLD", "commercial", "commercial")


# --- migration from version 1 -------------------------------------------------------------------


def _version_1_store(url: str) -> None:
    """A store as dexacode with schema version 1 left it: two studies, no payer family."""
    version, source, study = _schema._v1_tables(sa.MetaData())
    now = datetime.datetime.now(datetime.UTC)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _schema.MIGRATIONS[0](conn)
        conn.execute(sa.insert(version).values(version=1, applied_at=now))
        key = conn.execute(
            sa.insert(source).values(name="import:old.csv", created_at=now, rows_added=2)
        ).inserted_primary_key
        assert key is not None
        conn.execute(
            sa.insert(study),
            [
                dict(
                    patient_id="P-1",
                    date_of_service=D(2025, 6, 2),
                    cpt="77080",
                    provider="",
                    covered=True,
                    source_id=key[0],
                ),
                dict(
                    patient_id="P-1",
                    date_of_service=D(2022, 1, 3),
                    cpt="77081",
                    provider="DR-1",
                    covered=False,
                    source_id=key[0],
                ),
            ],
        )
    engine.dispose()


def _shape(url: str) -> tuple[list[int], list[str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY 1")
        found = [int(v) for v in versions.scalars()]
        columns = [c["name"] for c in sa.inspect(conn).get_columns("prior_study")]
    engine.dispose()
    return found, columns


def test_a_version_1_store_is_migrated_and_keeps_its_rows(db_url: str) -> None:
    _version_1_store(db_url)
    assert "payer_family" not in _shape(db_url)[1]
    with HistoryStore(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        assert store.show("P-1") == [
            StudyRow("P-1", D(2022, 1, 3), "77081", "DR-1", False, None),
            StudyRow("P-1", D(2025, 6, 2), "77080", None, True, None),
        ]
        # Old rows are of unknown family: as stored for every claim.
        assert _covered(store.studies_for(["P-1"], family="commercial")["P-1"]) == [
            (D(2022, 1, 3), "77081", False),
            (D(2025, 6, 2), "77080", True),
        ]
        # The duplicate key is unchanged, and new rows carry their family.
        report = store.add(
            [
                StudyRow("P-1", D(2025, 6, 2), "77080", payer_family="medicare"),
                StudyRow("P-1", D(2026, 1, 5), "77080", payer_family="medicare"),
            ],
            source="scrub:run-1",
        )
        assert (report.added, report.duplicates) == (1, 1)
        assert store.show("P-1")[-1].payer_family == "medicare"
    versions, columns = _shape(db_url)
    assert versions == [1, 2, 3, 4]
    assert {"payer_family", "claim_id", "billed"} <= set(columns)
    with HistoryStore(db_url) as store:  # opening again: nothing left to migrate
        assert store.schema_version == SCHEMA_VERSION and store.count() == 3


def test_a_failed_migration_leaves_the_version_1_store_as_it_was(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The migrations run in one transaction: when a later one fails, version 2's new
    column is rolled back with it (SQLite and PostgreSQL both have transactional DDL)."""
    _version_1_store(db_url)

    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE source (id INTEGER)")  # exists: the database refuses

    monkeypatch.setattr(_schema, "MIGRATIONS", (*_schema.MIGRATIONS, broken))
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", len(_schema.MIGRATIONS))
    with pytest.raises(StoreError, match="cannot open the history store"):
        HistoryStore(db_url)
    versions, columns = _shape(db_url)
    assert versions == [1]
    assert "payer_family" not in columns
    monkeypatch.undo()
    with HistoryStore(db_url) as store:  # and the real migration still works afterwards
        assert store.schema_version == SCHEMA_VERSION and store.count() == 2
