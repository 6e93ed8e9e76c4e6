"""Store fixtures: every store test runs against SQLite and PostgreSQL.

PostgreSQL comes from $DEXACODE_TEST_PG_URL (``source .ci/postgres.sh`` sets it up). Each
test gets its own PostgreSQL schema, dropped afterwards. Without the variable the PostgreSQL
tests are skipped, and the reason is printed at the end of the run; with CI=true they fail
instead, so a CI without its server cannot pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_ENV = "DEXACODE_TEST_PG_URL"
_SKIP_REASON = (
    f"PostgreSQL store tests skipped: ${PG_ENV} is not set "
    "(run `source .ci/postgres.sh` as root to start a local server)"
)
_skipped: list[str] = []


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"${PG_ENV} is not set, and CI must test PostgreSQL (.ci/postgres.sh)")
        _skipped.append(_SKIP_REASON)
        pytest.skip(_SKIP_REASON)
    return url


def pg_schema_url(base: str, schema: str) -> str:
    url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    schema = f"dexacode_t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(pg_base_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(pg_base_url, schema)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The URL of a new, empty store: an SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{os.fspath(tmp_path)}/history.sqlite3"
    url: str = request.getfixturevalue("pg_url")
    return url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(_skipped[0], yellow=True)
