"""The claim-history store: prior DXA studies by patient, in SQLite or PostgreSQL.

SQLAlchemy Core (no ORM: rows are plain tuples, bulk inserts are ``executemany``).

Safety:
- every ``add`` is one transaction: it all lands or (error, crash, Ctrl-C) none of it does;
- two runs writing at once wait for each other: SQLite in WAL mode takes the write lock at
  ``BEGIN IMMEDIATE`` and waits up to ``busy_timeout`` seconds for it; PostgreSQL writers
  queue on an advisory lock (readers are never blocked on either);
- duplicates (same patient, date of service, CPT and provider) are skipped by the database
  itself (``INSERT ... ON CONFLICT DO NOTHING``), so concurrent runs cannot both add one;
  the first row stored is kept as it is, payer family included, except that a newer
  version of the same claim (same patient and claim id) replaces the earlier one, and an
  import may correct ``covered``;
- errors never show the rows being written (``hide_parameters``): they hold patient data.

Patient ids are stored and looked up trimmed of surrounding spaces, as every door (the
contract, CSV, history files) reads them.
"""

from __future__ import annotations

import datetime
import functools
import re
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine

from dexacode.store import _schema
from dexacode.store._files import row_errors
from dexacode.store._model import ImportReport, RowProblem, StoreError, StudyRow
from dexacode.store._schema import prior_study, schema_version

if TYPE_CHECKING:  # imported when first needed: `history import` does without pydantic
    from dexacode.contract import PriorStudy
    from dexacode.engine import SameDateClaim

__all__ = [
    "HistoryStore",
    "StoredStudy",
    "as_seen_by",
    "claims_of_date",
    "default_db_url",
    "merge_history",
]

# A stored study as the frequency check needs it: the study, the payer family it was
# recorded under and the claim it was billed on (None: not known).
# (study, payer family, claim id, what the claim billed of it); None when unknown.
StoredStudy = tuple["PriorStudy", str | None, str | None, str | None]

_WRITE = "dexacode_write"  # execution option: this transaction writes (SQLite BEGIN IMMEDIATE)
_SQLITE_MAX_IDS = 900  # bound parameters per IN list, well under old SQLite's 999
_PG_MAX_IDS = 10_000
_MAX_FLYWEIGHTS = 200_000
_URL_HELP = "expected sqlite:///path/to/history.sqlite3 or postgresql+psycopg://user@host/db"


def default_db_url() -> str:
    """``sqlite:///<data dir>/history.sqlite3``; the data dir is $DEXACODE_DATA_DIR, else the
    per-user data folder (the same folder as the ICD-10-CM indexes)."""
    from dexacode.paths import default_store_path

    return "sqlite:///" + default_store_path().as_posix()


class HistoryStore:
    """Prior DXA studies by patient, for frequency checks across runs and providers.

    >>> with HistoryStore("sqlite:///history.sqlite3") as store:   # doctest: +SKIP
    ...     store.add(read_history_file(Path("claims.csv")), source="import:claims.csv")
    ...     store.studies_for(["P-1", "P-2"], family="commercial")

    Opening creates the schema, or migrates it when this version of dexacode knows a newer
    one. A ``StoreError`` (one sentence) is raised for a bad URL, a server that cannot be
    reached, a file that is not a dexacode store, or a schema newer than this version knows.
    """

    schema_version: int

    def __init__(
        self,
        url: str | None = None,
        *,
        busy_timeout: float = 300.0,
        chunk_size: int = 10_000,
    ) -> None:
        if url is None:
            url = default_db_url()
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._url = _parse_url(url)
        self.url = self._url.render_as_string(hide_password=True)
        self._chunk_size = chunk_size
        self._engine = _make_engine(self._url, busy_timeout)
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._insert = _sqlite_insert() if self._sqlite else _pg_insert()
        c = prior_study.c
        if self._sqlite:
            by_patient: sa.ColumnElement[bool] = c.patient_id.in_(
                sa.bindparam("ids", expanding=True)
            )
            self._lookup_step = _SQLITE_MAX_IDS
        else:  # one array parameter: no per-id placeholders to build or parse
            ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))
            by_patient = c.patient_id == sa.any_(ids)
            self._lookup_step = _PG_MAX_IDS
        order = (c.patient_id, c.date_of_service, c.cpt, c.covered)
        self._lookup = (
            sa.select(c.patient_id, c.date_of_service, c.cpt, c.covered)
            .where(by_patient)
            .order_by(*order)
        )
        # Unknown family (NULL) first on both databases ('' is never a family: add refuses it).
        self._lookup_family = (
            sa.select(
                c.patient_id,
                c.date_of_service,
                c.cpt,
                c.covered,
                c.payer_family,
                c.claim_id,
                c.billed,
            )
            .where(by_patient)
            .order_by(
                *order, sa.func.coalesce(c.payer_family, ""), sa.func.coalesce(c.claim_id, "")
            )
        )
        # What add() needs of the rows stored for a batch's patients.
        self._lookup_rows = sa.select(
            c.id,
            c.patient_id,
            c.date_of_service,
            c.cpt,
            c.provider,
            c.covered,
            c.payer_family,
            c.claim_id,
            c.billed,
            c.source_id,
        ).where(by_patient)
        # PriorStudy is frozen: one instance per (date, cpt, covered) serves every patient.
        self._flyweights: dict[tuple[datetime.date, str, bool], PriorStudy] = {}
        try:
            self.schema_version = _migrate(self._engine, self.url, busy_timeout)
        except BaseException:
            self._engine.dispose()
            raise

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HistoryStore({self.url!r})"

    # --- writing -----------------------------------------------------------------------------

    def add(
        self,
        rows: Iterable[StudyRow | RowProblem],
        source: str,
        *,
        update_covered: bool = False,
    ) -> ImportReport:
        """Add studies in one transaction; return what was added, updated, replaced, skipped
        and refused.

        ``source`` says where they came from ("import:<file name>", "scrub:<run id>"). A row
        already in the store (same patient, date, CPT and provider) is a duplicate: skipped
        and counted, the stored row kept as it is (the first payer family recorded stays,
        even when the new row names another or the stored one has none), with two
        exceptions:

        - a row with a ``claim_id`` is the latest version of that claim: the patient's rows
          stored under the same claim id by earlier adds and not in this one are removed
          (``replaced``: a corrected date of service), and a stored row of the same study
          and claim takes this one's ``covered`` and payer family (``updated``: a study
          re-coded from denied to covered); a stored row of the same study with no claim
          id takes this one's claim id;
        - with ``update_covered`` (an import of what payers decided), a stored row whose
          ``covered`` differs is updated (``updated``).

        A row whose ``covered_stated`` is False (its file has no ``covered`` column) never
        changes a stored row's ``covered``, in either case: the file does not say.

        ``RowProblem`` items (as ``read_history_file`` yields them) and invalid rows are
        reported in ``problems``; an invalid Python row's number is its 1-based position in
        ``rows``. On any error nothing at all is written.
        """
        problems: list[RowProblem] = []
        offered = 0
        counts = _Counts()
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if not self._sqlite:
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_schema.LOCK_WRITE)))
                    source_id: int | None = None  # the source row, written with the first batch
                    batch: list[dict[str, Any]] = []
                    for position, item in enumerate(rows, start=1):
                        if isinstance(item, RowProblem):
                            problems.append(item)
                            continue
                        errors = row_errors(item)
                        if errors:
                            problems.append(RowProblem(position, "; ".join(errors)))
                            continue
                        offered += 1
                        values = _values(item)
                        # A batch ends between claims, never inside one: a claim's rows are
                        # compared with its stored rows all at once.
                        if len(batch) >= self._chunk_size and not _same_claim(batch[-1], values):
                            source_id = source_id or _new_source(conn, source)
                            self._write_batch(conn, batch, source_id, update_covered, counts)
                            batch = []
                        batch.append(values)
                    if batch:
                        source_id = source_id or _new_source(conn, source)
                        self._write_batch(conn, batch, source_id, update_covered, counts)
                    if source_id is not None:
                        conn.execute(
                            sa.update(_schema.source)
                            .where(_schema.source.c.id == source_id)
                            .values(rows_added=counts.added)
                        )
        except exc.SQLAlchemyError as error:
            raise StoreError(
                f"could not write to the history store {self.url} (nothing was written): "
                f"{_db_reason(error)}"
            ) from None
        refused = sum(1 for p in problems if p.row > 0)
        return ImportReport(
            offered + refused,
            counts.added,
            offered - counts.added - counts.updated,
            problems,
            updated=counts.updated,
            replaced=counts.replaced,
        )

    def _write_batch(
        self,
        conn: Connection,
        batch: list[dict[str, Any]],
        source_id: int,
        update_covered: bool,
        counts: _Counts,
    ) -> None:
        """Write one batch: earlier versions of its claims replaced, what changed updated,
        the rest inserted (duplicates skipped by the database)."""
        fresh = batch
        if update_covered or any(v["claim_id"] is not None for v in batch):
            fresh = self._settle(conn, batch, source_id, update_covered, counts)
        for values in fresh:
            values.pop(_UNSTATED, None)  # not a column
        if fresh:
            counts.added += self._insert_batch(conn, fresh, source_id)

    def _settle(
        self,
        conn: Connection,
        batch: list[dict[str, Any]],
        source_id: int,
        update_covered: bool,
        counts: _Counts,
    ) -> list[dict[str, Any]]:
        """Compare a batch with the rows stored for its patients: delete the rows of its
        claims that the new versions no longer have, update what changed, and return the
        rows still to insert. Runs under the write lock, in add's transaction."""
        claims: dict[tuple[str, str], set[_Key]] = {}  # each claim's studies in this batch
        for v in batch:
            if v["claim_id"] is not None:
                claims.setdefault((v["patient_id"], v["claim_id"]), set()).add(_key(v))
        ids = sorted({v["patient_id"] for v in batch})
        step = self._lookup_step
        by_key: dict[_Key, Any] = {}
        stale: list[int] = []
        for start in range(0, len(ids), step):
            for row in conn.execute(self._lookup_rows, {"ids": ids[start : start + step]}):
                key = (row.patient_id, row.date_of_service, row.cpt, row.provider)
                kept = claims.get((row.patient_id, row.claim_id))
                if kept is not None and key not in kept and row.source_id != source_id:
                    stale.append(row.id)  # an earlier version of a claim of this batch
                else:
                    by_key[key] = row
        c = prior_study.c
        for start in range(0, len(stale), _SQLITE_MAX_IDS):
            conn.execute(
                sa.delete(prior_study).where(c.id.in_(stale[start : start + _SQLITE_MAX_IDS]))
            )
        counts.replaced += len(stale)
        fresh: list[dict[str, Any]] = []
        seen: set[_Key] = set()
        for v in batch:
            key = _key(v)
            old = by_key.get(key)
            if old is None:
                fresh.append(v)
                continue
            if old.source_id == source_id or key in seen:
                continue  # the same study twice in this add: the first one that says stays
            if _UNSTATED not in v:  # one that does not say leaves the next one its say
                seen.add(key)
            change = _change(old, v, update_covered)
            if "covered" in change or "payer_family" in change:
                counts.updated += 1
            if change:
                conn.execute(sa.update(prior_study).where(c.id == old.id).values(**change))
        return fresh

    def _insert_batch(self, conn: Connection, batch: list[dict[str, Any]], source_id: int) -> int:
        if self._sqlite:
            for values in batch:
                values["source_id"] = (
                    source_id  # pysqlite sums executemany's row counts; ignored rows count 0
                )
            return conn.execute(self._insert, batch).rowcount
        # PostgreSQL: one INSERT ... SELECT FROM unnest(arrays) per chunk, 2-3x faster than a
        # multi-row VALUES insert, and its row count is exact.
        columns = {name: [values[name] for values in batch] for name in _PG_COLUMNS}
        result = conn.execute(
            self._insert, {**columns, "source_id": source_id}, execution_options=_ROWCOUNT
        )
        return result.rowcount

    # --- reading -----------------------------------------------------------------------------

    def studies_for(
        self,
        patient_ids: Collection[str],
        *,
        family: str | None = None,
        claim_id: str | None = None,
    ) -> dict[str, list[PriorStudy]]:
        """Prior studies of many patients at once, each list in date order.

        Patients with no study are absent from the dict. Two rows for the same date and CPT
        (two providers' claims) give one ``PriorStudy``. Ask for thousands of patients per
        call: the ids are sent in chunks, one indexed query each.

        ``family`` is the payer family of the claim being checked ("medicare" or the payer's
        name): a study recorded under another family comes back with ``covered=False``
        (that family paid it, the claim's did not); see ``as_seen_by``. Without it every
        study comes back as stored. ``claim_id`` is the claim being checked: a study stored
        under that claim id is its own earlier version, not a prior study, and is left out.
        """
        if family is not None or claim_id is not None:
            found = {
                patient: as_seen_by(entries, family, claim_id)
                for patient, entries in self.studies_with_family(patient_ids).items()
            }
            return {patient: studies for patient, studies in found.items() if studies}
        out: dict[str, list[PriorStudy]] = {}
        cache = self._flyweights
        current: str | None = None
        studies: list[PriorStudy] = []
        try:
            for pid, when, cpt, covered in self._fetch(self._lookup, patient_ids):
                study = cache.get((when, cpt, covered)) or self._new_study(when, cpt, covered)
                if pid != current:
                    current, studies = pid, [study]
                    out[pid] = studies
                elif study is not studies[-1]:  # equal rows (providers) are adjacent
                    studies.append(study)
        except exc.SQLAlchemyError as error:
            raise self._read_error(error) from None
        return out

    def studies_with_family(self, patient_ids: Collection[str]) -> dict[str, list[StoredStudy]]:
        """Prior studies of many patients with the payer family each was recorded under and
        the claim it was billed on.

        As ``studies_for`` (one query per chunk of ids, the same order, patients with no study
        absent), with each study as ``(study, family, claim_id)``, None when unknown; rows
        equal but for their provider give one entry. For callers that check several claims
        of one patient against different payer families: ``as_seen_by(entries, family,
        claim_id)`` per claim.
        """
        out: dict[str, list[StoredStudy]] = {}
        cache = self._flyweights
        current: str | None = None
        entries: list[StoredStudy] = []
        try:
            for pid, when, cpt, covered, paid_by, claim, billed in self._fetch(
                self._lookup_family, patient_ids
            ):
                study = cache.get((when, cpt, covered)) or self._new_study(when, cpt, covered)
                if pid != current:
                    current, entries = pid, [(study, paid_by, claim, billed)]
                    out[pid] = entries
                else:
                    last = entries[-1]  # equal rows (providers) are adjacent
                    if study is not last[0] or (paid_by, claim, billed) != last[1:]:
                        entries.append((study, paid_by, claim, billed))
        except exc.SQLAlchemyError as error:
            raise self._read_error(error) from None
        return out

    def for_claim(
        self, patient_id: str, day: datetime.date, family: str, claim_id: str | None
    ) -> tuple[list[PriorStudy], list[SameDateClaim]]:
        """What one claim is checked against: the patient's prior studies as the claim
        sees them (``as_seen_by``) and the other recorded claims of its date
        (``claims_of_date``); for ``code_encounter(history=..., same_date_claims=...)``."""
        entries = self.studies_with_family([patient_id.strip()]).get(patient_id.strip(), [])
        return (
            as_seen_by(entries, family, claim_id),
            claims_of_date(entries, day, family, claim_id),
        )

    def _fetch(self, lookup: sa.Select[Any], patient_ids: Collection[str]) -> Iterator[Any]:
        """The rows of ``lookup`` for these patients, in one transaction; the ids go in
        chunks (sorted, so each patient's rows come together)."""
        ids = sorted(set(patient_ids))
        if len(self._flyweights) > _MAX_FLYWEIGHTS:
            self._flyweights.clear()
        step = self._lookup_step
        with self._engine.connect() as conn, conn.begin():
            for start in range(0, len(ids), step):
                yield from conn.execute(lookup, {"ids": ids[start : start + step]})

    def _new_study(self, when: datetime.date, cpt: str, covered: bool) -> PriorStudy:
        """A PriorStudy not yet in ``_flyweights``, put there for the next rows."""
        from dexacode.contract import PriorStudy

        study = PriorStudy(date_of_service=when, cpt=cpt, covered=covered)
        self._flyweights[(when, cpt, covered)] = study
        return study

    def show(self, patient_id: str) -> list[StudyRow]:
        """Every stored study of one patient, in date order (then CPT, then provider)."""
        c = prior_study.c
        stmt = (
            sa.select(*_SHOWN)
            .where(c.patient_id == patient_id.strip())
            .order_by(c.date_of_service, c.cpt, c.provider)
        )
        try:
            with self._engine.connect() as conn:
                result = conn.execute(stmt).all()
        except exc.SQLAlchemyError as error:
            raise self._read_error(error) from None
        return [_study_row(row) for row in result]

    def remove(
        self,
        patient_id: str,
        *,
        date_of_service: datetime.date | None = None,
        cpt: str | None = None,
        claim_id: str | None = None,
    ) -> list[StudyRow]:
        """Remove one patient's studies of a date (and CPT), or of a claim, in one
        transaction; return the rows removed. A date or a claim id is required: a patient's
        whole history is never removed by leaving them out."""
        if date_of_service is None and claim_id is None:
            raise StoreError("say which studies to remove: a date of service or a claim id")
        c = prior_study.c
        where = [c.patient_id == patient_id.strip()]
        if date_of_service is not None:
            where.append(c.date_of_service == date_of_service)
        if cpt is not None:
            where.append(c.cpt == cpt.strip().upper())
        if claim_id is not None:
            where.append(c.claim_id == claim_id.strip())
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if not self._sqlite:
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_schema.LOCK_WRITE)))
                    found = conn.execute(
                        sa.select(*_SHOWN).where(*where).order_by(c.date_of_service, c.cpt)
                    ).all()
                    conn.execute(sa.delete(prior_study).where(*where))
        except exc.SQLAlchemyError as error:
            raise StoreError(
                f"could not write to the history store {self.url} (nothing was removed): "
                f"{_db_reason(error)}"
            ) from None
        return [_study_row(row) for row in found]

    def _read_error(self, error: exc.SQLAlchemyError) -> StoreError:
        return StoreError(f"could not read the history store {self.url}: {_db_reason(error)}")

    def added_by(self, source: str) -> int | None:
        """Studies that the import or run named ``source`` added, or None when nothing of
        it was committed (its source row is written in the same transaction)."""
        name = source[: _schema.ID_LENGTH]
        stmt = sa.select(_schema.source.c.rows_added).where(_schema.source.c.name == name)
        try:
            with self._engine.connect() as conn:
                found = conn.execute(stmt).scalars().all()
        except exc.SQLAlchemyError as error:
            raise self._read_error(error) from None
        return int(found[0]) if found else None

    def count(self) -> int:
        """Number of studies in the store."""
        try:
            with self._engine.connect() as conn:
                return int(
                    conn.execute(sa.select(sa.func.count()).select_from(prior_study)).scalar_one()
                )
        except exc.SQLAlchemyError as error:
            raise self._read_error(error) from None


_SHOWN = (
    prior_study.c.patient_id,
    prior_study.c.date_of_service,
    prior_study.c.cpt,
    prior_study.c.provider,
    prior_study.c.covered,
    prior_study.c.payer_family,
    prior_study.c.claim_id,
    prior_study.c.billed,
)


def _study_row(row: Any) -> StudyRow:
    patient, when, cpt, provider, covered, family, claim, billed = row
    return StudyRow(patient, when, cpt, provider or None, bool(covered), family, claim, billed)


# (patient, date of service, CPT, provider): the duplicate key.
_Key = tuple[str, datetime.date, str, str]


@dataclass
class _Counts:
    added: int = 0
    updated: int = 0
    replaced: int = 0


def _values(item: StudyRow) -> dict[str, Any]:
    """A checked StudyRow as the table's values; ids trimmed as every door reads them."""
    values: dict[str, Any] = {
        "patient_id": item.patient_id.strip(),
        "date_of_service": item.date_of_service,
        "cpt": item.cpt,
        "provider": (item.provider or "").strip(),
        "covered": item.covered,
        "payer_family": item.payer_family,
        "claim_id": item.claim_id.strip() if item.claim_id is not None else None,
        "billed": item.billed,
    }
    if not item.covered_stated:
        values[_UNSTATED] = True
    return values


# Key of a row's values (never a column, taken out before the insert): its source did not
# say whether the study was covered, so it cannot change a stored study's coverage.
_UNSTATED = "_covered_unstated"


def _key(values: dict[str, Any]) -> _Key:
    return (values["patient_id"], values["date_of_service"], values["cpt"], values["provider"])


def _same_claim(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["claim_id"] is not None
        and a["claim_id"] == b["claim_id"]
        and a["patient_id"] == b["patient_id"]
    )


def _change(row: Any, values: dict[str, Any], update_covered: bool) -> dict[str, Any]:
    """What a new row changes in the stored row of the same study: the same claim's new
    version changes coverage and payer family; an import (``update_covered``) coverage; a
    claim id fills in a stored row that had none. A row that does not say whether it was
    covered (``_UNSTATED``: its file has no covered column) leaves coverage as stored."""
    change: dict[str, Any] = {}
    same_claim = values["claim_id"] is not None and values["claim_id"] == row.claim_id
    stated = _UNSTATED not in values
    if stated and (same_claim or update_covered) and row.covered != values["covered"]:
        change["covered"] = values["covered"]
    if same_claim and row.payer_family != values["payer_family"]:
        change["payer_family"] = values["payer_family"]
    if same_claim and values["billed"] is not None and row.billed != values["billed"]:
        change["billed"] = values["billed"]
    if row.claim_id is None and values["claim_id"] is not None:
        change["claim_id"] = values["claim_id"]
    return change


_PG_COLUMNS = (
    "patient_id",
    "date_of_service",
    "cpt",
    "provider",
    "covered",
    "payer_family",
    "claim_id",
    "billed",
)
_ROWCOUNT = {"preserve_rowcount": True}


def _sqlite_insert() -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING, run with executemany (one row per parameter set)."""
    return sqlite.insert(prior_study).on_conflict_do_nothing()


def _pg_insert() -> sa.Insert:
    """INSERT ... SELECT FROM unnest(one array per column) ON CONFLICT DO NOTHING."""
    c = prior_study.c
    arrays = [sa.bindparam(name, type_=postgresql.ARRAY(c[name].type)) for name in _PG_COLUMNS]
    new_rows = sa.func.unnest(*arrays).table_valued(*_PG_COLUMNS).render_derived(name="new_rows")
    source_id = sa.bindparam("source_id", type_=sa.BigInteger)
    rows = sa.select(*(new_rows.c[name] for name in _PG_COLUMNS), source_id)
    return (
        postgresql.insert(prior_study)
        .from_select([*_PG_COLUMNS, "source_id"], rows)
        .on_conflict_do_nothing()
    )


def _new_source(conn: Connection, name: str) -> int:
    key = conn.execute(
        sa.insert(_schema.source).values(
            name=name[: _schema.ID_LENGTH], created_at=datetime.datetime.now(datetime.UTC)
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def as_seen_by(
    studies: Sequence[StoredStudy | tuple[PriorStudy, str | None]],
    family: str | None,
    claim_id: str | None = None,
) -> list[PriorStudy]:
    """Stored studies as a claim to payer family ``family`` sees them, in the order given.

    ``studies`` are ``(study, family, claim_id)`` entries as ``studies_with_family`` gives
    them (or ``(study, family)`` pairs). A study stored under ``claim_id`` itself is the
    claim's own earlier version (recorded before it was corrected), not a prior study: it
    is left out.

    A study recorded as covered under another family (not None, not ``family``) comes back
    with ``covered=False``: that family paid it, the claim's family did not (contract:
    history ``covered`` is false for a study the current payer family did not pay). It
    stays in the list, not covered, for the rules that look at every earlier study. A study
    of unknown family (None) or of ``family`` itself, and every study when ``family`` is
    None, is kept as it is: the same object, so this is cheap to call once per claim.

    When another row of the same date and CPT stays covered (the study was also billed to
    this family, or to an unknown one), that row is the study and the other family's copy
    is left out, so it cannot hide the covered one (the engine keeps the first entry of a
    date and CPT). Equal results (same date, CPT and covered) appear once, where first seen.

    >>> entries = store.studies_with_family(["P-1"])["P-1"]     # doctest: +SKIP
    >>> as_seen_by(entries, "commercial")    # a study only Medicare paid: covered=False
    """
    if claim_id is not None:
        studies = [s for s in studies if len(s) < 3 or s[2] != claim_id]
    others = family is not None and any(
        s[0].covered and s[1] is not None and s[1] != family for s in studies
    )
    if not others and len(studies) == 1:  # the common case: nothing to change
        return [studies[0][0]]
    paid_here = (
        {
            (s[0].date_of_service, s[0].cpt)
            for s in studies
            if s[0].covered and (s[1] is None or s[1] == family)
        }
        if others
        else set()
    )
    out: list[PriorStudy] = []
    seen: set[tuple[datetime.date, str, bool]] = set()
    for entry in studies:
        study, paid_by = entry[0], entry[1]
        if others and study.covered and paid_by is not None and paid_by != family:
            if (study.date_of_service, study.cpt) in paid_here:
                continue
            study = _not_covered(study.date_of_service, study.cpt)
        key = (study.date_of_service, study.cpt, study.covered)
        if key not in seen:
            seen.add(key)
            out.append(study)
    return out


def claims_of_date(
    studies: Sequence[StoredStudy],
    day: datetime.date,
    family: str | None,
    claim_id: str | None = None,
) -> list[SameDateClaim]:
    """The other claims of ``day`` that the store knows what they billed, to check a claim
    of payer family ``family`` against (``code_encounter(same_date_claims=...)``).

    Only rows that ``scrub --record`` added say what their claim billed (global, 26, TC or
    a facility's claim) and under which claim id; an imported row does not, and a 26/TC
    split cannot be told from a duplicate without it. The claim's own earlier version
    (``claim_id``) is left out, and so are claims to another payer family: the same study
    billed to a secondary payer after the primary is not a duplicate.

    >>> entries = store.studies_with_family(["P-1"])["P-1"]      # doctest: +SKIP
    >>> claims_of_date(entries, date(2026, 3, 2), "medicare", "C-2")
    """
    from dexacode.engine import SameDateClaim

    codes: dict[tuple[str, str], list[str]] = {}
    for study, paid_by, claim, billed in studies:
        if (
            study.date_of_service == day
            and claim is not None
            and billed is not None
            and claim != claim_id
            and paid_by == family
        ):
            codes.setdefault((claim, billed), []).append(study.cpt)
    return [SameDateClaim(claim, billed, tuple(cpts)) for (claim, billed), cpts in codes.items()]


@functools.lru_cache(maxsize=8192)
def _not_covered(when: datetime.date, cpt: str) -> PriorStudy:
    """PriorStudy(when, cpt, covered=False), one instance per date and code (it is frozen)."""
    from dexacode.contract import PriorStudy

    # Both values come from a validated PriorStudy: no need to validate them again.
    return PriorStudy.model_construct(date_of_service=when, cpt=cpt, covered=False)


def merge_history(own: Sequence[PriorStudy], stored: Sequence[PriorStudy]) -> list[PriorStudy]:
    """An encounter's own ``history`` and the store's studies as one list in date order.

    A stored study with the same date of service and CPT as one of the encounter's own is a
    duplicate and is dropped: the encounter's own entry (what the user sent) wins.
    """
    keys = {(s.date_of_service, s.cpt) for s in own}
    merged = list(own)
    for study in stored:
        key = (study.date_of_service, study.cpt)
        if key not in keys:
            keys.add(key)
            merged.append(study)
    merged.sort(key=lambda s: (s.date_of_service, s.cpt))
    return merged


# --- opening ---------------------------------------------------------------------------------


def open_engine(url: str, *, busy_timeout: float = 30.0) -> Engine:
    """A SQLAlchemy engine on a store URL, set up as the store sets up its own (WAL and a
    busy timeout for SQLite, a connect timeout for PostgreSQL), for modules that keep
    tables of their own in the same database (the web app's keys and audit)."""
    return _make_engine(_parse_url(url), busy_timeout)


def _parse_url(text: str) -> URL:
    text = text.strip()
    if not text:
        raise StoreError(f"the database URL is empty; {_URL_HELP}")
    if "://" not in text:  # a plain file path means an SQLite file
        return URL.create("sqlite", database=Path(text).expanduser().as_posix())
    try:
        url = sa.make_url(text)
    except (exc.ArgumentError, ValueError):
        # The text is not echoed: it may hold a password.
        raise StoreError(f"the database URL cannot be read; {_URL_HELP}") from None
    name = url.drivername.split("+")[0]
    if name in ("postgres", "postgresql") and url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")  # the driver the postgres extra installs
    elif name == "postgres":
        url = url.set(drivername="postgresql+" + url.drivername.split("+")[1])
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database {url.get_backend_name()!r}: the history store runs on "
            "SQLite or PostgreSQL"
        )
    return url


def _make_engine(url: URL, busy_timeout: float) -> Engine:
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        connect_args["timeout"] = busy_timeout  # the busy timeout: wait for a writer
    elif "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    try:
        engine = sa.create_engine(url, hide_parameters=True, connect_args=connect_args)
    except (exc.NoSuchModuleError, ImportError):
        raise StoreError(
            "PostgreSQL support needs the psycopg driver: pip install 'dexacode[postgres]'"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite (it would not BEGIN before DDL); see
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # atomic and safe after a crash in WAL
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the write lock up front, so it waits (busy timeout) instead of failing
    # half-way when another process wrote since it began reading.
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _current_version(conn: Connection) -> int:
    inspector = sa.inspect(conn)
    if not inspector.has_table(schema_version.name):
        if conn.dialect.name == "sqlite" and inspector.get_table_names():
            raise StoreError(
                "the SQLite file holds other tables but no dexacode schema_version: it is not "
                "a dexacode history store"
            )
        return 0
    found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar_one()
    return int(found or 0)


# How long opening tries again when SQLite says "locked" without waiting: the race it
# covers (two runs creating one store) clears in milliseconds, and a store that is always
# locked at once (SQLite on a network share without working locks) should fail soon.
_LOCKED_RETRY_SECONDS = 10.0


def _migrate(engine: Engine, shown_url: str, busy_timeout: float) -> int:
    """Bring the schema to ``SCHEMA_VERSION``; return it. Raise StoreError when it cannot.

    Two runs opening one new SQLite store at the same moment can be told "database is
    locked" at once: SQLite skips its busy wait where waiting could deadlock (once seen
    in CI, under load). Migrating is safe to repeat (it reads the version again under
    the lock), so a store locked that way is tried again for a few seconds."""
    window = min(busy_timeout, _LOCKED_RETRY_SECONDS)
    started = time.monotonic()
    pause = 0.01
    while True:
        try:
            return _migrate_once(engine, shown_url)
        except _Locked:
            waited = time.monotonic() - started
            if waited + pause > window:
                raise StoreError(
                    f"cannot open the history store {shown_url}: database is locked (still "
                    f"locked after {waited:.1f} s; is another program holding it?)"
                ) from None
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


class _Locked(Exception):
    """SQLite answered "database is locked" without waiting."""


def _migrate_once(engine: Engine, shown_url: str) -> int:
    latest = _schema.SCHEMA_VERSION
    try:
        with engine.connect() as conn, conn.begin():
            version = _current_version(conn)  # the common case: nothing to do, no lock taken
        if version < latest:
            with engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_schema.LOCK_MIGRATE)))
                    version = _current_version(conn)  # again, now under the lock
                    for number in range(version, latest):
                        _schema.MIGRATIONS[number](conn)
                        conn.execute(
                            sa.insert(schema_version).values(
                                version=number + 1,
                                applied_at=datetime.datetime.now(datetime.UTC),
                            )
                        )
                    version = max(version, latest)
    except StoreError:
        raise
    except exc.SQLAlchemyError as error:
        reason = _db_reason(error, blank=False)
        if engine.dialect.name == "sqlite" and reason == "database is locked":
            raise _Locked from None
        if reason == "unable to open database file":
            reason += " (does its folder exist, and may you write there?)"
        raise StoreError(f"cannot open the history store {shown_url}: {reason}") from None
    if version > latest:
        raise StoreError(
            f"the history store {shown_url} has schema version {version}, newer than this "
            f"dexacode knows ({latest}); upgrade dexacode to use it"
        )
    return version


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def _db_reason(error: exc.SQLAlchemyError, *, blank: bool = True) -> str:
    """The database's own first line; quoted values blanked unless ``blank`` is False (while
    reading or writing rows, a quoted value may be patient data)."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return (_QUOTED.sub('"..."', first) if blank else first).rstrip(".")
