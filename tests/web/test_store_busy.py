"""A history store locked by another process (a long `dexacode history import`): the
server keeps answering everything else, and a coding call that cannot be recorded is a
503 to try again, never a coded claim thrown away as an internal error."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dexacode.web import create_app, shutdown
from tests.web.test_api import osteopenia_case

_BUSY_TIMEOUT = 5.0  # seconds the server waits for the store's write lock


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture
def impatient_app(store: Path, tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(f"sqlite:///{store}", jobs_dir=tmp_path / "jobs", busy_timeout=_BUSY_TIMEOUT)
    yield app
    shutdown(app)


def _write_lock(store: Path) -> sqlite3.Connection:
    """Another process's write transaction, left open."""
    holder = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_locked_store_freezes_nothing_else_and_coding_is_503(
    impatient_app: FastAPI, store: Path
) -> None:
    app = impatient_app
    key = app.state.ctx.keys.create("tester")
    audit = app.state.ctx.audit
    waiting, returned = threading.Event(), threading.Event()
    record = audit.record

    def watched(**kwargs: Any) -> None:
        waiting.set()
        try:
            record(**kwargs)
        finally:
            returned.set()

    audit.record = watched
    answers: dict[str, httpx.Response] = {}
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:

        def code() -> None:
            answers["code"] = client.post("/v1/code", json=osteopenia_case())

        holder = _write_lock(store)
        try:
            coder = threading.Thread(target=code)
            coder.start()
            assert waiting.wait(30), "the coding call never reached the audit trail"
            # The coding call now waits for the lock: the server still serves the rest.
            assert client.get("/static/style.css").status_code == 200
            assert client.get("/v1/rules").status_code == 200
            assert client.get("/login").status_code == 200
            assert not returned.is_set(), "other requests waited for the locked store"
            coder.join(60)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        busy = answers["code"]
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"] == "busy"
        assert busy.json()["reason"] == "the claim-history store is busy; try again"
        assert int(busy.headers["retry-after"]) >= 1
        assert audit.recent() == []
        # Once the lock is gone, the same call codes and is recorded.
        assert client.post("/v1/code", json=osteopenia_case()).status_code == 200
        assert len(audit.recent()) == 1


def test_a_scrub_upload_while_the_store_is_locked_is_503(
    impatient_app: FastAPI, store: Path
) -> None:
    key = impatient_app.state.ctx.keys.create("tester")
    with TestClient(impatient_app, headers={"Authorization": f"Bearer {key}"}) as client:
        holder = _write_lock(store)
        try:
            refused = client.post(
                "/v1/scrub", files={"file": ("claims.jsonl", b'{"claim_id": "C-1"}\n')}
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert refused.status_code == 503 and refused.json()["error"] == "busy"
    assert "retry-after" in refused.headers
