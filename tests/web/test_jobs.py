"""Batch jobs behind /v1/scrub: big uploads, and what the server log says when one breaks."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dexacode.generate import Malformed, generate_encounters

_MIB = 1024 * 1024


def generated_jsonl(count: int, seed: int = 1) -> bytes:
    """What `dexacode generate --count COUNT --seed SEED --out F.jsonl` writes."""
    lines = [
        row.text if isinstance(row, Malformed) else json.dumps(row)
        for row in generate_encounters(count, seed)
    ]
    return ("\n".join(lines) + "\n").encode()


def wait_for(client: TestClient, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_an_upload_over_a_mebibyte_is_scrubbed(client: TestClient) -> None:
    """Files of 1 MiB and more are scrubbed by a worker pool, as `dexacode scrub` does; the
    job's process used to be daemonic, which may not start one ("internal error")."""
    data = generated_jsonl(1200)
    assert len(data) > _MIB
    response = client.post("/v1/scrub", files={"file": ("claims.jsonl", data)})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"])
    assert job["state"] == "done", job["error"]
    summary = job["summary"]
    assert summary["rows_read"] == 1200 == summary["coded"] + summary["not_coded"]
    assert job["progress"] == 1.0
    results = client.get(job["results_url"])
    assert len(results.text.splitlines()) == summary["coded"]


def test_a_jobs_internal_error_is_logged_without_patient_data(
    web_app: FastAPI,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("P-77 born 1956-05-14")

    # A forked child sees the broken function (a spawned one would import it afresh).
    monkeypatch.setattr("dexacode.batch.load_rulebook", broken)
    monkeypatch.setattr(web_app.state.ctx.jobs, "_ctx", mp.get_context("fork"))
    data = b'{"claim_id": "C-1", "patient": {"id": "P-77", "birth_date": "1956-05-14"}}\n'
    with caplog.at_level(logging.INFO, logger="dexacode.web"):
        response = client.post("/v1/scrub", files={"file": ("claims.jsonl", data)})
        job = wait_for(client, response.json()["id"])
    assert job["state"] == "failed"
    assert job["error"] == "internal error (RuntimeError); please report it"
    logged = caplog.text
    assert "RuntimeError" in logged and response.json()["id"] in logged
    # Where it broke, in dexacode's own code ...
    assert "dexacode/batch.py" in logged and "in scrub" in logged
    # ... and nothing of the input.
    assert "P-77" not in logged and "1956" not in logged and "C-1" not in logged
