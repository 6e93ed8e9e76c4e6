"""The API codes with the CMS data loaded in the data folder, as `code` and `scrub` do,
and picks up an import made while the server runs; unreadable data is a 503 that says
what to do, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dexacode.data import import_files
from dexacode.rulebook import RuleBook
from dexacode.web import create_app, shutdown
from tests.data_import.conftest import MUE_FILE
from tests.test_cli_loaded_data import TWO_UNITS


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DEXACODE_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def client(data_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(f"sqlite:///{tmp_path}/store.sqlite3", jobs_dir=tmp_path / "jobs")
    key = app.state.ctx.keys.create("tester")
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c
    shutdown(app)


def _ids(client: TestClient) -> list[str]:
    answer = client.post("/v1/code", json=TWO_UNITS)
    assert answer.status_code == 200, answer.text
    return [f["id"] for f in answer.json()["findings"]]


def test_an_import_made_while_the_server_runs_is_used_on_the_next_call(
    client: TestClient, data_dir: Path, book: RuleBook
) -> None:
    assert "MUE-EXCEEDED" in _ids(client)  # the shipped limit: one unit a day
    import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)  # 77081: two
    assert "MUE-EXCEEDED" not in _ids(client)


def test_unreadable_loaded_data_is_a_503_naming_the_command(
    client: TestClient, data_dir: Path
) -> None:
    stored = data_dir / "cms" / "mue" / "2026-04-01.json"
    stored.parent.mkdir(parents=True)
    stored.write_text(json.dumps({"format": 2, "kind": "mue", "rows": []}), encoding="utf-8")
    answer = client.post("/v1/code", json=TWO_UNITS)
    assert answer.status_code == 503
    body = answer.json()
    assert body["error"] == "data_unreadable"
    assert "dexacode data remove mue" in body["reason"]


def test_a_worksheet_recoding_changed_by_an_import_is_on_the_audit_record(
    data_dir: Path, tmp_path: Path, book: RuleBook
) -> None:
    import re

    app = create_app(f"sqlite:///{tmp_path}/store.sqlite3", jobs_dir=tmp_path / "jobs")
    key = app.state.ctx.keys.create("coder")
    try:
        with TestClient(app) as c:
            c.post("/login", data={"api_key": key}, follow_redirects=False)
            token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/").text)
            assert token is not None
            headers = {"X-CSRF-Token": token.group(1)}
            for _ in range(2):  # the worksheet sends the same encounter again: one row
                assert c.post("/v1/code", json=TWO_UNITS, headers=headers).status_code == 200
            import_files("mue", [MUE_FILE], data_dir=data_dir, book=book)
            assert c.post("/v1/code", json=TWO_UNITS, headers=headers).status_code == 200
        outcomes = [e.outcome for e in app.state.ctx.audit.recent() if e.action == "code"]
    finally:
        shutdown(app)
    # Two rows: the first coding (MUE-EXCEEDED, an error) and the recoding (none).
    assert sorted(o.split("; ")[1].split(",")[0] for o in outcomes) == ["0 error(s)", "1 error(s)"]
