"""The history store on SQLite and PostgreSQL: duplicates, look-ups, transactions, versions."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dexacode.contract import PriorStudy
from dexacode.store import (
    SCHEMA_VERSION,
    HistoryStore,
    RowProblem,
    StoreError,
    StudyRow,
    default_db_url,
    merge_history,
    read_history_file,
)

D = datetime.date


def rows(n: int, prefix: str = "P", start: int = 0) -> Iterator[StudyRow]:
    """n synthetic studies, 2 per patient."""
    for i in range(start, start + n):
        yield StudyRow(
            f"{prefix}{i // 2:06d}", D(2020, 1, 1) + datetime.timedelta(days=i % 2 * 800), "77080"
        )


# --- adding and reading ----------------------------------------------------------------------


def test_add_counts_added_and_duplicates(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count() == 0
        first = store.add(
            [
                StudyRow("P-1", D(2024, 1, 5), "77080"),
                StudyRow("P-1", D(2024, 1, 5), "77080"),  # duplicate within the batch
                StudyRow("P-1", D(2024, 1, 5), "77080", "DR-2"),  # another provider's claim
                StudyRow("P-2", D(2023, 2, 1), "G0130", None, False),
            ],
            source="test:1",
        )
        assert (first.read, first.added, first.duplicates, first.problems) == (4, 3, 1, [])
        again = store.add([StudyRow("P-1", D(2024, 1, 5), "77080")], source="test:2")
        assert (again.read, again.added, again.duplicates) == (1, 0, 1)
        assert store.count() == 3


def test_show_in_date_order(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add(
            [
                StudyRow("P-1", D(2024, 1, 5), "77080", "DR-2"),
                StudyRow("P-1", D(2020, 3, 1), "77085", None, False),
                StudyRow("P-9", D(2021, 1, 1), "77080"),
            ],
            source="test",
        )
        assert store.show("P-1") == [
            StudyRow("P-1", D(2020, 3, 1), "77085", None, False),
            StudyRow("P-1", D(2024, 1, 5), "77080", "DR-2", True),
        ]
        assert store.show("nobody") == []


def test_studies_for_many_patients_in_chunks(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        report = store.add(rows(5000), source="test")  # 2,500 patients: several SQLite chunks
        assert report.added == 5000
        store.add([StudyRow("P000007", D(2020, 1, 1), "77080", "DR-OTHER")], source="other")
        asked = [f"P{i:06d}" for i in range(0, 3000)]  # 500 of them have no study
        found = store.studies_for(asked)
        assert len(found) == 2500
        assert "P002600" not in found
        assert found["P000007"] == [  # two providers' claims for one study: one PriorStudy
            PriorStudy(date_of_service=D(2020, 1, 1), cpt="77080"),
            PriorStudy(date_of_service=D(2022, 3, 11), cpt="77080"),
        ]
        assert store.studies_for([]) == {}
        assert store.studies_for({"P000001"}) == {"P000001": found["P000001"]}


def test_invalid_python_rows_are_problems_with_their_position(db_url: str) -> None:
    bad = [
        StudyRow("P-1", D(2024, 1, 5), "77080"),
        StudyRow("", D(2024, 1, 5), "77080"),
        StudyRow("P-3", D(2024, 1, 5), "7708"),
        StudyRow("P-4", datetime.datetime(2024, 1, 5, 10, 0), "77080"),
        StudyRow("P-5", D(2024, 1, 5), "77080", "x" * 201),
    ]
    with HistoryStore(db_url) as store:
        report = store.add(bad, source="test")
        assert (report.read, report.added, report.duplicates) == (5, 1, 0)
        assert [p.row for p in report.problems] == [2, 3, 4, 5]


def test_import_file_accounts_for_every_row(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(
        "patient_id,date_of_service,cpt\n"
        "P-1,2024-01-05,77080\n"
        "P-1,2024-01-05,77080\n"
        "P-2,2024-13-05,77080\n"
        "P-3,2024-01-05,77080\n"
    )
    with HistoryStore(db_url) as store:
        report = store.add(read_history_file(path), source=f"import:{path.name}")
        assert (report.read, report.added, report.duplicates) == (4, 2, 1)
        assert report.problems == [RowProblem(3, report.problems[0].reason)]
        assert report.read == report.added + report.duplicates + report.refused


def test_whole_file_problem_writes_nothing(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with HistoryStore(db_url) as store:
        report = store.add(read_history_file(path), source="import:empty.csv")
        assert report.read == 0 and report.unreadable
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM source").scalar_one() == 0
    engine.dispose()


# --- transactions and crashes -------------------------------------------------------------------


def test_failure_mid_batch_leaves_nothing(db_url: str) -> None:
    def failing() -> Iterator[StudyRow]:
        yield from rows(2_500)  # two chunks of 1,000 already sent to the database
        raise RuntimeError("the scrubber broke")

    with HistoryStore(db_url, chunk_size=1_000) as store:
        store.add([StudyRow("KEEP", D(2020, 1, 1), "77080")], source="before")
        with pytest.raises(RuntimeError, match="scrubber broke"):
            store.add(failing(), source="broken")
        assert store.count() == 1
        assert store.show("P000000") == []
        # What a run added is known by its name only once committed.
        assert store.added_by("before") == 1
        assert store.added_by("broken") is None


def test_database_error_mid_batch_is_a_store_error_and_leaves_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HistoryStore(db_url, chunk_size=100) as store:
        real = store._insert_batch
        calls = 0

        def flaky(conn: sa.Connection, batch: list[dict[str, object]], source_id: int) -> int:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise sa.exc.OperationalError(
                    "INSERT", {"patient_id": "SECRET"}, Exception("disk I/O error")
                )
            return real(conn, batch, source_id)

        monkeypatch.setattr(store, "_insert_batch", flaky)
        with pytest.raises(StoreError, match="nothing was written") as caught:
            store.add(rows(1000), source="flaky")
        assert "SECRET" not in str(caught.value)
        assert store.count() == 0


def _python(code: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_process_leaves_nothing_half_written(db_url: str) -> None:
    HistoryStore(db_url).close()
    proc = _python(
        """
        import datetime, os, signal, sys
        from dexacode.store import HistoryStore, StudyRow
        def rows():
            for i in range(5_000):
                yield StudyRow(f"K{i}", datetime.date(2020, 1, 1), "77080")
            os.kill(os.getpid(), signal.SIGKILL)  # dies inside the transaction
        HistoryStore(os.environ["URL"], chunk_size=1_000).add(rows(), "k")
        """,
        URL=db_url,
    )
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    with HistoryStore(db_url) as store:
        assert store.count() == 0


# --- concurrency ----------------------------------------------------------------------------

_WORKER = """
    import datetime, os, sys, time
    from pathlib import Path
    from dexacode.store import HistoryStore, StudyRow
    go = Path(os.environ["GO"])
    Path(os.environ["GO"] + os.environ["START"]).touch()  # ready
    while not go.exists():
        time.sleep(0.005)
    store = HistoryStore(os.environ["URL"], chunk_size=500)
    start = int(os.environ["START"])
    day = datetime.date(2021, 1, 1)
    rows = (StudyRow(f"C{i:06d}", day, "77080") for i in range(start, start + 6_000))
    report = store.add(rows, "worker" + os.environ["START"])
    print(store.schema_version, report.added, report.duplicates)
"""


def _race(db_url: str, tmp_path: Path, starts: list[int]) -> list[list[int]]:
    go = tmp_path / "go"
    procs = [_python(_WORKER, URL=db_url, GO=str(go), START=str(s)) for s in starts]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}{s}").exists() for s in starts) and time.monotonic() < deadline:
        time.sleep(0.01)  # until every worker has imported dexacode and waits at the line
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append([int(x) for x in out.split()])
    return results


def test_two_processes_create_the_schema_and_write_at_once(db_url: str, tmp_path: Path) -> None:
    # Nothing exists yet: both create the schema, then both add overlapping rows.
    results = _race(db_url, tmp_path, [0, 3_000])
    assert [r[0] for r in results] == [SCHEMA_VERSION, SCHEMA_VERSION]
    assert sum(r[1] for r in results) == 9_000  # each row added once...
    assert sum(r[2] for r in results) == 3_000  # ...and the overlap counted once as duplicate
    with HistoryStore(db_url) as store:
        assert store.count() == 9_000
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM schema_version").scalars().all()
    engine.dispose()
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_store_locked_without_waiting_is_opened_once_the_lock_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite may answer "database is locked" at once (no busy wait) while another run
    creates the same store; opening tries again instead of failing."""
    import sqlite3

    from dexacode.store import _store

    real = _store._current_version
    locked = [True, True]  # the first two looks find the store locked

    def flaky(conn: sa.Connection) -> int:
        if locked:
            locked.pop()
            raise sa.exc.OperationalError(
                "SELECT", {}, sqlite3.OperationalError("database is locked")
            )
        return real(conn)

    monkeypatch.setattr(_store, "_current_version", flaky)
    with HistoryStore(f"sqlite:///{tmp_path}/h.sqlite3") as store:
        assert store.schema_version == SCHEMA_VERSION
    assert not locked


def test_a_store_that_stays_locked_is_refused_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dexacode.store import _store

    def always_locked(engine: sa.Engine, shown_url: str) -> int:
        raise _store._Locked

    monkeypatch.setattr(_store, "_migrate_once", always_locked)
    started = time.monotonic()
    with pytest.raises(StoreError, match="database is locked"):
        HistoryStore(f"sqlite:///{tmp_path}/h.sqlite3", busy_timeout=0.2)
    assert time.monotonic() - started < 5
    # A store locked at once every time fails within the short retry window, not after
    # the busy timeout meant for waiting on a writer.
    monkeypatch.setattr(_store, "_LOCKED_RETRY_SECONDS", 0.3)
    started = time.monotonic()
    with pytest.raises(StoreError, match="still locked after"):
        HistoryStore(f"sqlite:///{tmp_path}/h.sqlite3", busy_timeout=300)
    assert time.monotonic() - started < 5


# --- versions and errors ------------------------------------------------------------------------


def test_reopening_keeps_data_and_version(db_url: str) -> None:
    with HistoryStore(db_url) as store:
        store.add([StudyRow("P-1", D(2024, 1, 5), "77080")], source="test")
    with HistoryStore(db_url) as store:
        assert store.count() == 1 and store.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused(db_url: str) -> None:
    HistoryStore(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :t)"),
            {"v": SCHEMA_VERSION + 5, "t": datetime.datetime.now(datetime.UTC)},
        )
    engine.dispose()
    with pytest.raises(StoreError, match=r"newer than this dexacode knows.*upgrade dexacode"):
        HistoryStore(db_url)


def test_an_sqlite_file_of_something_else_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE codes (code TEXT)")
    engine.dispose()
    with pytest.raises(StoreError, match="not a dexacode history store"):
        HistoryStore(f"sqlite:///{other}")
    (tmp_path / "text.sqlite3").write_text("hello " * 1000)
    with pytest.raises(StoreError, match="not a database"):
        HistoryStore(str(tmp_path / "text.sqlite3"))  # a plain path means an SQLite file


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("mysql://u:p@localhost/db", "unsupported database 'mysql'"),
        ("postgresql+psycopg://u:s3cret@:notaport/db", "cannot be read"),
        ("sqlite:////no/such/folder/history.sqlite3", "unable to open database file"),
        ("postgresql://u:s3cret@127.0.0.1:1/db", "cannot open the history store"),
    ],
)
def test_bad_urls_are_one_sentence(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as caught:
        HistoryStore(url)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_default_url_is_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXACODE_DATA_DIR", str(tmp_path / "data"))
    assert default_db_url() == f"sqlite:///{(tmp_path / 'data' / 'history.sqlite3').as_posix()}"
    with HistoryStore() as store:
        store.add([StudyRow("P-1", D(2024, 1, 5), "77080")], source="test")
    assert (tmp_path / "data" / "history.sqlite3").is_file()


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    with HistoryStore(f"sqlite:///{tmp_path}/h.sqlite3") as store:
        store.add([StudyRow("P-1", D(2024, 1, 5), "77080")], source="test")
    engine = sa.create_engine(f"sqlite:///{tmp_path}/h.sqlite3")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
    engine.dispose()


# --- merging -------------------------------------------------------------------------------


def test_merge_history_drops_duplicates_and_sorts() -> None:
    own = [PriorStudy(date_of_service=D(2023, 5, 1), cpt="77080", covered=False)]
    stored = [
        PriorStudy(date_of_service=D(2021, 5, 1), cpt="77080"),
        PriorStudy(date_of_service=D(2023, 5, 1), cpt="77080"),  # same study: own one wins
        PriorStudy(date_of_service=D(2023, 5, 1), cpt="77085"),
    ]
    assert merge_history(own, stored) == [stored[0], own[0], stored[2]]
    assert merge_history([], []) == []
