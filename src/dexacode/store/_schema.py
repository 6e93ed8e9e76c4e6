"""Tables of the claim-history store and the migrations that create and change them.

The schema is versioned by the package: ``MIGRATIONS[i]`` takes a database from version ``i``
to ``i + 1``; the ``schema_version`` table records every version applied. All pending
migrations run in one transaction under a lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL
``pg_advisory_xact_lock``), so two processes opening a new store at once do not collide, and a
crash mid-migration leaves the database as it was.

A migration builds its own table definitions (``_v1_tables``, ``_v2_tables``) rather than
reading the current ones: when version 2 changes a table, version 1 must still create the
version-1 shape.

Versions:
1. ``schema_version``, ``source``, ``prior_study``.
2. ``prior_study.payer_family``: the payer family that paid (or denied) the study, "medicare"
   or the payer's name; NULL (unknown) for rows written before version 2 and for imported
   claims files, which do not say.
3. ``prior_study.claim_id``: the claim the study was billed on (NULL when unknown: rows
   written before version 3, imported files without the column), so a corrected claim
   replaces its earlier version instead of being checked against it. Patient ids stored
   with surrounding whitespace (JSON Lines ids were not trimmed before) are trimmed as
   every door now reads them (``str.strip()``: Unicode spaces too); rows that then share
   a key are merged into the most recently added one (``_trim_patient_ids``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "LOCK_MIGRATE",
    "LOCK_WRITE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "prior_study",
    "schema_version",
    "source",
]

# PostgreSQL advisory lock keys (any 64-bit integers unique to dexacode): "dxa" + purpose.
LOCK_MIGRATE = 0x647861_0001
LOCK_WRITE = 0x647861_0002

# Lengths follow the encounter contract: ids and names up to 200 characters, CPT/HCPCS 5.
ID_LENGTH = 200
# BIGINT ids on PostgreSQL; INTEGER on SQLite so the column is the table's rowid.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _v1_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Version 1: schema_version, source (one row per import or scrub run), prior_study."""
    version = sa.Table(
        "schema_version",
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    src = sa.Table(
        "source",
        metadata,
        sa.Column("id", _BigId, primary_key=True),
        # "import:<file name>" or "scrub:<run id>"
        sa.Column("name", sa.String(ID_LENGTH), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_added", sa.Integer, nullable=False, server_default="0"),
    )
    study = sa.Table(
        "prior_study",
        metadata,
        sa.Column("id", _BigId, primary_key=True),
        sa.Column("patient_id", sa.String(ID_LENGTH), nullable=False),
        sa.Column("date_of_service", sa.Date, nullable=False),
        sa.Column("cpt", sa.String(5), nullable=False),
        # '' when unknown: NULLs are all distinct in a UNIQUE constraint, '' is not.
        sa.Column("provider", sa.String(ID_LENGTH), nullable=False, server_default=""),
        sa.Column("covered", sa.Boolean, nullable=False),
        sa.Column("source_id", _BigId, sa.ForeignKey("source.id"), nullable=False),
        # The duplicate key. Its index leads with patient_id, so it is also the index that
        # serves look-ups by patient (a separate patient_id index would only slow inserts).
        sa.UniqueConstraint(
            "patient_id", "date_of_service", "cpt", "provider", name="uq_prior_study_key"
        ),
    )
    return version, src, study


def _v2_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Version 2: version 1, and prior_study.payer_family (NULL when unknown)."""
    version, src, study = _v1_tables(metadata)
    # Not part of the duplicate key: a study is one per patient, date, CPT and provider,
    # whichever payer family it was billed to.
    study.append_column(sa.Column("payer_family", sa.String(ID_LENGTH), nullable=True))
    return version, src, study


def _v3_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Version 3: version 2, and prior_study.claim_id (NULL when unknown)."""
    version, src, study = _v2_tables(metadata)
    # Not part of the duplicate key either: one study billed on two claims is one study.
    study.append_column(sa.Column("claim_id", sa.String(ID_LENGTH), nullable=True))
    return version, src, study


def _v4_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """Version 4: version 3, and prior_study.billed (NULL when unknown)."""
    version, src, study = _v3_tables(metadata)
    # What the claim billed of the study: global, professional, technical or institutional
    # (the rule book's [parts_billed]). A later claim of the same date that bills an
    # overlapping part is a duplicate; one that bills the other part is a split.
    study.append_column(sa.Column("billed", sa.String(20), nullable=True))
    return version, src, study


def _migrate_to_1(conn: Connection) -> None:
    metadata = sa.MetaData()
    _v1_tables(metadata)
    metadata.create_all(conn)


def _migrate_to_2(conn: Connection) -> None:
    # A nullable column without a default: existing rows read NULL (family unknown). Both
    # databases add it in place (PostgreSQL without rewriting the table), inside the
    # migration's transaction.
    _, _, study = _v2_tables(sa.MetaData())
    table = conn.dialect.identifier_preparer.format_table(study)
    column = sa.schema.CreateColumn(study.c.payer_family).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")


def _migrate_to_3(conn: Connection) -> None:
    _, _, study = _v3_tables(sa.MetaData())
    table = conn.dialect.identifier_preparer.format_table(study)
    column = sa.schema.CreateColumn(study.c.claim_id).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")
    _trim_patient_ids(conn, study)


def _migrate_to_4(conn: Connection) -> None:
    _, _, study = _v4_tables(sa.MetaData())
    table = conn.dialect.identifier_preparer.format_table(study)
    column = sa.schema.CreateColumn(study.c.billed).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")


# Patient ids per IN list, within SQLite's bound-parameter limit.
_IDS_PER_QUERY = 900


def _trim_patient_ids(conn: Connection, study: sa.Table) -> None:
    """Trim stored patient ids exactly as ``str.strip()`` (every door) does, Unicode
    whitespace included, merging a row that then has the same key (patient, date, CPT,
    provider) as another into one.

    The ids are judged in Python, not by SQL's trim (ASCII spaces only, and not the same
    on both databases): one pass over the distinct ids, which the duplicate key's index
    (led by patient_id) gives without reading the table. Rows that collide are merged as
    adding them in turn would have: the first added (lowest id) stays with its values
    (coverage, payer family, source), since a later add of the same study never changes
    them unless it states coverage, which a version-2 row cannot say it did; a claim id it
    lacks is taken from the earliest of the others that has one. A row whose id is only
    whitespace cannot be looked up by any door (an empty id is refused): it is dropped."""
    c = study.c
    spaced: list[str] = []
    distinct = sa.select(c.patient_id).distinct()
    for (patient,) in conn.execute(distinct, execution_options={"yield_per": 10_000}):
        if patient != patient.strip():
            spaced.append(patient)
    if not spaced:
        return
    # Every row whose id is, or trims to, one of the new ids: the rows that can collide.
    wanted = sorted({*spaced, *(p.strip() for p in spaced if p.strip())})
    # (trimmed id, date, CPT, provider) -> the rows that will have that key
    groups: dict[tuple[str, object, str, str], list[Any]] = {}
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        found = conn.execute(
            sa.select(c.id, c.patient_id, c.date_of_service, c.cpt, c.provider, c.claim_id).where(
                c.patient_id.in_(wanted[start : start + _IDS_PER_QUERY])
            )
        )
        for row in found:
            key = (row.patient_id.strip(), row.date_of_service, row.cpt, row.provider)
            groups.setdefault(key, []).append(row)
    dropped: list[int] = []
    changes: list[dict[str, Any]] = []
    for (trimmed, *_), twins in groups.items():
        if not trimmed:
            dropped += [row.id for row in twins]
            continue
        twins.sort(key=lambda row: row.id)
        kept = twins[0]
        dropped += [row.id for row in twins[1:]]
        claim = next((row.claim_id for row in twins if row.claim_id is not None), None)
        if kept.patient_id != trimmed or kept.claim_id != claim:
            changes.append({"row_id": kept.id, "trimmed": trimmed, "claim": claim})
    # Rows dropped first: the key a kept row moves to is then free.
    for start in range(0, len(dropped), _IDS_PER_QUERY):
        conn.execute(sa.delete(study).where(c.id.in_(dropped[start : start + _IDS_PER_QUERY])))
    if changes:
        conn.execute(
            sa.update(study)
            .where(c.id == sa.bindparam("row_id"))
            .values(patient_id=sa.bindparam("trimmed"), claim_id=sa.bindparam("claim")),
            changes,
        )


Migration = Callable[[Connection], None]

# Append only; never edit a migration that has been released.
MIGRATIONS: tuple[Migration, ...] = (_migrate_to_1, _migrate_to_2, _migrate_to_3, _migrate_to_4)
SCHEMA_VERSION = len(MIGRATIONS)

# The current shape, used by queries: the last version's tables.
_metadata = sa.MetaData()
schema_version, source, prior_study = _v4_tables(_metadata)
