"""API keys: created once, stored only as salted hashes, revoked by name; the commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dexacode.cli_web import keys_app
from dexacode.web.keys import ApiKeyError, KeyStore
from dexacode.web.tables import api_key, open_database


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store.sqlite3"


@pytest.fixture
def keys(db: str) -> KeyStore:
    engine, _ = open_database(db)
    return KeyStore(engine)


def test_a_key_checks_out_and_its_secret_is_not_stored(keys: KeyStore, db: str) -> None:
    key = keys.create("jsmith")
    found = keys.check(key)
    assert found is not None and found.name == "jsmith"
    secret = key.split("_", 2)[2]
    engine, _ = open_database(db)
    with engine.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(sa.select(api_key))]
    assert rows and not any(secret in value for row in rows for value in row)


def test_two_keys_never_share_salt_or_hash(keys: KeyStore, db: str) -> None:
    keys.create("a")
    keys.create("b")
    engine, _ = open_database(db)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_key.c.salt, api_key.c.secret_hash)).all()
    assert len({r.salt for r in rows}) == len({r.secret_hash for r in rows}) == 2


def test_one_live_key_per_name(keys: KeyStore) -> None:
    keys.create("jsmith")
    with pytest.raises(ApiKeyError, match="already exists"):
        keys.create("jsmith")
    assert keys.revoke("jsmith") == 1
    assert keys.check(keys.create("jsmith")) is not None


def test_revoked_key_no_longer_checks_out(keys: KeyStore) -> None:
    key = keys.create("jsmith")
    keys.revoke("jsmith")
    assert keys.check(key) is None
    assert keys.revoke("jsmith") == 0


@pytest.mark.parametrize("name", ["", "-dash-first", "has space", "x" * 65, "semi;colon"])
def test_unusable_names_are_refused(keys: KeyStore, name: str) -> None:
    with pytest.raises(ApiKeyError, match="not usable"):
        keys.create(name)


@pytest.mark.parametrize("name", ["a", "x" * 64, "j.smith@clinic", "billing-system_2"])
def test_usable_names(keys: KeyStore, name: str) -> None:
    assert keys.check(keys.create(name)) is not None


def test_keys_commands(db: str) -> None:
    runner = CliRunner()
    created = runner.invoke(keys_app, ["create", "jsmith", "--db", db])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("dxk_")
    assert "not shown again" in created.stderr
    listed = runner.invoke(keys_app, ["list", "--db", db])
    assert "jsmith" in listed.stdout and "live" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    again = runner.invoke(keys_app, ["create", "jsmith", "--db", db])
    assert again.exit_code == 2 and "already exists" in again.stderr
    revoked = runner.invoke(keys_app, ["revoke", "jsmith", "--db", db])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(keys_app, ["list", "--db", db]).stdout
    missing = runner.invoke(keys_app, ["revoke", "nobody", "--db", db])
    assert missing.exit_code == 2 and "no live key" in missing.stderr


def test_keys_command_with_a_bad_database(tmp_path: Path) -> None:
    (tmp_path / "other.sqlite3").write_bytes(b"not a database at all, just some text" * 100)
    result = CliRunner().invoke(keys_app, ["list", "--db", f"sqlite:///{tmp_path}/other.sqlite3"])
    # 2: the database the user named cannot be used (3 is for dexacode's own data).
    assert result.exit_code == 2
    assert result.stderr.startswith("dexacode: history store error:")


def test_a_key_made_again_under_a_name_does_not_inherit_its_last_work(db: str) -> None:
    import time

    from dexacode.web.audit import AuditLog

    engine, _ = open_database(db)
    keys, audit = KeyStore(engine), AuditLog(engine)
    keys.create("pat")
    audit.record(key_name="pat", action="code", input_sha256="0" * 64, outcome="coded")
    assert [k.last_used is not None for k in keys.summaries()] == [True]
    keys.revoke("pat")
    time.sleep(0.01)  # the new key is made after the old one's last work
    keys.create("pat")
    old, new = keys.summaries()
    assert old.revoked_at is not None and old.last_used is not None
    assert new.revoked_at is None and new.last_used is None
