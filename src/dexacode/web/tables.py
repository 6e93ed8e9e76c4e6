"""The web server's own tables, kept in the history store's database.

API keys and the audit trail live beside the prior studies so that one ``--db`` URL (an
SQLite file or a PostgreSQL server) holds everything a practice's server keeps. They are
created here, not by the history store's migrations: the store does not need them, and a
store opened by ``dexacode scrub`` alone never grows web tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dexacode.store import HistoryStore, open_engine

__all__ = ["api_key", "audit_event", "open_database"]

_metadata = sa.MetaData()
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

api_key = sa.Table(
    "web_api_key",
    _metadata,
    sa.Column("id", _Id, primary_key=True),
    # The public part of a key ("dxk_<key_id>_<secret>"): finds the row without the secret.
    sa.Column("key_id", sa.String(16), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("salt", sa.String(32), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),  # hex SHA-256 of salt + secret
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_web_api_key_name", api_key.c.name)

audit_event = sa.Table(
    "web_audit",
    _metadata,
    sa.Column("id", _Id, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("key_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # "code", "scrub"
    # Claim ids only: never a patient id, name or birth date.
    sa.Column("claim_id", sa.String(200), nullable=True),
    sa.Column("rules_version", sa.String(32), nullable=True),
    sa.Column("input_sha256", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(200), nullable=False),
)
sa.Index("ix_web_audit_at", audit_event.c.at)


def open_database(url: str | None, *, busy_timeout: float = 30.0) -> tuple[Engine, str]:
    """An engine on the history store's database with the web tables in place, and the
    URL as it may be shown (password hidden). ``busy_timeout`` is how long a write waits
    for another process's write lock (SQLite). Raises ``StoreError`` (one sentence) when
    the database cannot be opened."""
    # The store first: it checks the URL, creates or migrates its own schema, and refuses
    # a file that is not a dexacode store.
    with HistoryStore(url) as store:
        shown = store.url
        resolved = url if url is not None else _default_url()
    engine = open_engine(resolved, busy_timeout=busy_timeout)
    _metadata.create_all(engine)
    return engine, shown


def _default_url() -> str:
    from dexacode.store import default_db_url

    return default_db_url()
