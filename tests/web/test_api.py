"""The HTTP API through its front door: what a practice's other systems see."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dexacode.coding import code as code_in_process
from dexacode.store import StudyRow
from dexacode.web import create_app, shutdown
from tests.conftest import REPO_ROOT, make_encounter

EXAMPLES = REPO_ROOT / "examples"


def osteopenia_case() -> dict[str, Any]:
    """A postmenopausal woman, spine and left hip, lowest T -1.9 at the femoral neck."""
    return make_encounter(
        claim_id="C-1001",
        patient__id="P-77",
        patient__birth_date="1956-05-14",
        results=[
            {"site": "lumbar_spine", "region": "L1-L4", "bmd": 0.981, "t_score": -0.8},
            {"site": "left_hip", "region": "femoral_neck", "bmd": 0.701, "t_score": -1.9},
            {"site": "left_hip", "region": "total_hip", "bmd": 0.86, "t_score": -1.2},
        ],
    )


# --- coding -------------------------------------------------------------------------------


def test_code_answers_what_the_library_answers(client: TestClient) -> None:
    enc = json.loads((EXAMPLES / "ex1-osteopenia-right-hip.json").read_text())
    response = client.post("/v1/code", json=enc)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == code_in_process(enc).model_dump(mode="json")


def test_code_a_real_case(client: TestClient) -> None:
    result = client.post("/v1/code", json=osteopenia_case()).json()
    assert [(line["cpt"], line["modifiers"]) for line in result["lines"]] == [("77080", [])]
    assert "M85.852" in result["diagnoses"]
    assert result["interpretation"]["category"] == "low_bone_mass"
    assert result["interpretation"]["basis"]["region"] == "femoral_neck"
    read = [(r["region"], r["t_score"]) for r in result["interpretation"]["results_read"]]
    assert read == [("L1-L4", -0.8), ("femoral_neck", -1.9), ("total_hip", -1.2)]
    described = {d["code"]: d["description"] for d in result["diagnosis_details"]}
    assert described["M85.852"]


def test_prior_studies_in_the_store_count(web_app: FastAPI, client: TestClient) -> None:
    enc = osteopenia_case()
    before = client.post("/v1/code", json=enc).json()
    assert "FREQUENCY" not in [f["id"] for f in before["findings"]]
    web_app.state.ctx.history.add(
        [StudyRow(patient_id="P-77", date_of_service=_date("2025-06-01"), cpt="77080")],
        source="test",
    )
    after = client.post("/v1/code", json=enc).json()
    assert "FREQUENCY" in [f["id"] for f in after["findings"]]


def _date(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"patient__sex": "X"}, "patient.sex", "'F' or 'M'"),
        ({"payer": "acme"}, "payer", "unknown payer profile"),
        ({"exam__sites": ["left_knee"]}, "exam.sites[0]", "unknown site"),
        (
            {"results": [{"site": "left_hip", "region": "total_hip", "t_score": -11.0}]},
            "results[0].t_score",
            "greater than or equal to -10",
        ),
        ({"date_of_service": "2015-09-30"}, "date_of_service", "before 2015-10-01"),
        ({"shoe_size": 9}, "shoe_size", "unknown field"),
    ],
)
def test_contract_violation_is_422_naming_the_field(
    client: TestClient, change: dict[str, Any], field: str, words: str
) -> None:
    response = client.post("/v1/code", json=make_encounter(**change))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "contract"
    assert body["field"] == field
    assert words in body["reason"]
    assert "Traceback" not in response.text


def test_the_border_score_minus_ten_is_accepted(client: TestClient) -> None:
    enc = make_encounter(results=[{"site": "left_hip", "region": "total_hip", "t_score": -10.0}])
    assert client.post("/v1/code", json=enc).status_code == 200


def test_a_bad_birth_date_is_not_echoed(client: TestClient) -> None:
    response = client.post("/v1/code", json=make_encounter(patient__birth_date="1956-02-30"))
    assert response.status_code == 422
    assert response.json()["field"] == "patient.birth_date"
    assert "1956-02-30" not in response.text


@pytest.mark.parametrize("body", [b"{", b"", b"[]", b'"C-1"'])
def test_unreadable_body_is_422(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/code", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert set(response.json()) == {"status", "error", "field", "reason"}


def test_an_unexpected_failure_is_a_json_500_without_patient_data(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("P-77 born 1956-05-14")

    monkeypatch.setattr("dexacode.web.api.code_encounter", broken)
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/code", json=osteopenia_case())
    assert response.status_code == 500
    assert response.json()["reason"] == "internal error (RuntimeError); please report it"
    assert "P-77" not in response.text and "P-77" not in caplog.text
    assert "1956-05-14" not in caplog.text
    assert "RuntimeError" in caplog.text


# --- access -------------------------------------------------------------------------------


def test_every_v1_route_needs_a_key(anonymous: TestClient) -> None:
    for method, path in [
        ("POST", "/v1/code"),
        ("POST", "/v1/scrub"),
        ("GET", "/v1/jobs/abc"),
        ("GET", "/v1/rules"),
        ("GET", "/v1/rules/FREQUENCY"),
        ("GET", "/v1/health"),
    ]:
        response = anonymous.request(method, path)
        assert response.status_code == 401, path
        assert response.json()["field"] == "authorization"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer dxk_000000000000_wrong", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_a_wrong_key_is_refused(anonymous: TestClient, api_key: str, header: str) -> None:
    response = anonymous.get("/v1/health", headers={"Authorization": header})
    assert response.status_code == 401


def test_a_key_with_one_character_changed_is_refused(anonymous: TestClient, api_key: str) -> None:
    tampered = api_key[:-1] + ("A" if api_key[-1] != "A" else "B")
    assert (
        anonymous.get("/v1/health", headers={"Authorization": f"Bearer {tampered}"}).status_code
        == 401
    )
    assert (
        anonymous.get("/v1/health", headers={"Authorization": f"Bearer {api_key}"}).status_code
        == 200
    )


def test_a_revoked_key_stops_working(web_app: FastAPI, client: TestClient) -> None:
    assert client.get("/v1/health").status_code == 200
    web_app.state.ctx.keys.revoke("tester")
    assert client.get("/v1/health").status_code == 401


def test_rate_limit_per_key(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path}/s.sqlite3", rate_limit=3, jobs_dir=tmp_path / "j")
    try:
        first = app.state.ctx.keys.create("first")
        second = app.state.ctx.keys.create("second")
        with TestClient(app) as c:
            one = {"Authorization": f"Bearer {first}"}
            assert [c.get("/v1/health", headers=one).status_code for _ in range(3)] == [200] * 3
            refused = c.get("/v1/health", headers=one)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert (
                c.get("/v1/health", headers={"Authorization": f"Bearer {second}"}).status_code
                == 200
            )
    finally:
        shutdown(app)


def test_request_size_limit_on_both_sides(client: TestClient) -> None:
    limit = 256 * 1024
    just_under = b"{" + b" " * (limit - 2) + b"}"
    over = b"{" + b" " * (limit - 1) + b"}"
    assert client.post("/v1/code", content=just_under).status_code == 422  # read, then refused
    response = client.post("/v1/code", content=over)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_a_chunked_body_over_the_limit_is_cut_off(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(5):
            yield b" " * (100 * 1024)

    assert client.post("/v1/code", content=chunks()).status_code == 413


def test_a_chunked_upload_over_the_limit_is_413_with_what_to_do(tmp_path: Path) -> None:
    """The form parser used to catch the cut-off and answer 400 'error parsing the body'."""
    from dexacode.web.limits import SizeLimits

    app = create_app(f"sqlite:///{tmp_path / 'h.sqlite3'}", [], size_limits=SizeLimits(upload=1024))
    try:
        key = app.state.ctx.keys.create("tester")
        boundary = "xyzzy"

        def chunks() -> Any:
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '.encode()
            yield b'filename="big.jsonl"\r\n\r\n'
            for _ in range(8):
                yield b" " * 512
            yield f"\r\n--{boundary}--\r\n".encode()

        with TestClient(app) as client:
            response = client.post(
                "/v1/scrub",
                content=chunks(),
                headers={
                    "Authorization": f"Bearer {key}",
                    "content-type": f"multipart/form-data; boundary={boundary}",
                },
            )
        assert response.status_code == 413, response.text
        assert "dexacode scrub" in response.json()["reason"]
    finally:
        shutdown(app)


# --- the audit trail ----------------------------------------------------------------------


def test_audit_records_who_coded_what_without_patient_data(
    web_app: FastAPI, client: TestClient
) -> None:
    body = json.dumps(osteopenia_case()).encode()
    client.post("/v1/code", content=body, headers={"content-type": "application/json"})
    client.post("/v1/code", json=make_encounter(patient__sex="X"))  # refused: not coded
    entries = web_app.state.ctx.audit.recent()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.key_name, entry.action, entry.claim_id) == ("tester", "code", "C-1001")
    assert entry.rules_version == web_app.state.ctx.book.version
    assert entry.input_sha256 == hashlib.sha256(body).hexdigest()
    assert "77080" in entry.outcome
    assert not any("P-77" in str(v) or "1956" in str(v) for v in vars(entry).values())


# --- the rule book and health -------------------------------------------------------------


def test_rules_list_with_sources(client: TestClient) -> None:
    body = client.get("/v1/rules").json()
    rules = {r["id"]: r for r in body["rules"]}
    assert "FREQUENCY" in rules
    assert all(s["url"].startswith("http") for s in rules["FREQUENCY"]["sources"])
    assert "medicare" in body["payers"]


def test_one_rule_explained(client: TestClient) -> None:
    rule = client.get("/v1/rules/frequency").json()
    assert rule["id"] == "FREQUENCY"
    assert rule["why"] and rule["action"] and rule["effective"]
    # The templates' slots are named, so an integrator knows they are filled in later.
    assert "{next}" in rule["action"] and "next" in rule["placeholders"]
    assert "months" in rule["placeholders"]
    missing = client.get("/v1/rules/NO-SUCH-RULE")
    assert missing.status_code == 404
    assert missing.json()["field"] == "rule_id"


def test_health(client: TestClient) -> None:
    body = client.get("/v1/health").json()
    assert body["status"] == "ok" and body["database"] == "sqlite"
    assert body["icd10cm_releases"]


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_openapi_documents_the_error_body_every_422_has(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(schema)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            answer = operation["responses"].get("422")
            if answer:
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), path


def test_openapi_describes_the_encounter(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()
    body = schema["paths"]["/v1/code"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Encounter"}
    assert {"Encounter", "Patient", "CodingResult", "ErrorBody"} <= set(
        schema["components"]["schemas"]
    )
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


# --- batches ------------------------------------------------------------------------------


def _wait(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_scrub_a_batch_and_download_the_results(
    web_app: FastAPI, client: TestClient, api_key: str
) -> None:
    data = (EXAMPLES / "batch.jsonl").read_bytes()
    response = client.post("/v1/scrub", files={"file": ("batch.jsonl", data)})
    assert response.status_code == 202
    queued = response.json()
    assert queued["state"] in ("queued", "running") and queued["results_url"] is None
    job = _wait(client, queued["id"])
    assert job["state"] == "done", job["error"]
    summary = job["summary"]
    assert summary["rows_read"] == 300 == summary["coded"] + summary["not_coded"]
    assert summary["reconciles"] and job["progress"] == 1.0
    results = client.get(job["results_url"])
    assert results.status_code == 200
    assert len(results.text.splitlines()) == summary["coded"]
    # Someone else's key does not see the job.
    other = web_app.state.ctx.keys.create("someone-else")
    stranger = client.get(f"/v1/jobs/{queued['id']}", headers={"Authorization": f"Bearer {other}"})
    assert stranger.status_code == 404
    # Audit: the upload and the finished job, by hash, with no claim id of a patient.
    actions = [(e.action, e.input_sha256) for e in web_app.state.ctx.audit.recent()]
    assert actions == [("scrub", hashlib.sha256(data).hexdigest())] * 2


def test_scrub_csv_results_as_csv(client: TestClient) -> None:
    data = (EXAMPLES / "batch.csv").read_bytes()
    response = client.post(
        "/v1/scrub", files={"file": ("claims.csv", data)}, data={"out_format": "csv"}
    )
    job = _wait(client, response.json()["id"])
    assert job["state"] == "done"
    assert client.get(job["results_url"]).text.startswith("row,claim_id,")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("claims.txt", b'{"claim_id": "C-1"}\n', "cannot tell the file's format"),
        ("claims.jsonl", b"", "the file is empty"),
    ],
)
def test_scrub_refuses_what_it_cannot_read(
    client: TestClient, name: str, content: bytes, reason: str
) -> None:
    response = client.post("/v1/scrub", files={"file": (name, content)})
    assert response.status_code == 422
    assert response.json()["field"] == "file"
    assert reason in response.json()["reason"]


def test_a_file_scrub_cannot_read_fails_the_job_with_a_reason(client: TestClient) -> None:
    response = client.post(
        "/v1/scrub", files={"file": ("claims.csv", b"claim_id,shoe_size\nC-1,9\n")}
    )
    job = _wait(client, response.json()["id"])
    assert job["state"] == "failed"
    assert "shoe_size" in job["error"]
    # The user's file name, not the server's copy of it.
    assert job["error"].startswith("claims.csv:") and "input.csv" not in job["error"]
    results = client.get(f"/v1/jobs/{job['id']}/results")
    assert results.status_code == 404 and "the job failed" in results.json()["reason"]


def test_an_837_file_is_scrubbed_like_any_batch(client: TestClient, tmp_path: Path) -> None:
    import subprocess
    import sys

    from dexacode.formats.x12 import example_provider_path

    x12 = REPO_ROOT / "tests" / "data" / "x12"
    out = tmp_path / "claims.837"
    subprocess.run(
        [
            *(sys.executable, "-m", "dexacode", "x12", str(x12 / "encounters.jsonl")),
            *("--no-store", "--provider", str(example_provider_path())),
            *("--fees", str(x12 / "fees.csv"), "--out", str(out)),
        ],
        check=False,
        capture_output=True,
    )
    data = out.read_bytes()
    response = client.post("/v1/scrub", files={"file": ("claims.837", data)})
    assert response.status_code == 202, response.text
    job = _wait(client, response.json()["id"])
    assert job["state"] == "done", job["error"]
    assert job["input_format"] == "x12" and job["summary"]["rows_read"] >= 1


def test_fhir_bundles_under_ndjson_are_told_from_their_content(client: TestClient) -> None:
    from dexacode.contract import parse_encounter
    from dexacode.formats.fhir import result_to_fhir

    enc = parse_encounter(json.dumps(osteopenia_case()))
    bundle = json.dumps(result_to_fhir(code_in_process(enc), enc))
    response = client.post("/v1/scrub", files={"file": ("bundles.ndjson", bundle + "\n")})
    assert response.status_code == 202, response.text
    job = _wait(client, response.json()["id"])
    assert job["input_format"] == "fhir", job


def test_rows_not_coded_download_as_csv_with_csv_results(client: TestClient) -> None:
    data = (EXAMPLES / "batch.csv").read_bytes() + b"C-BAD,2026-01-02\n"
    response = client.post(
        "/v1/scrub", files={"file": ("claims.csv", data)}, data={"out_format": "csv"}
    )
    job = _wait(client, response.json()["id"])
    errors = client.get(job["errors_url"])
    assert errors.status_code == 200
    assert errors.text.startswith("row,claim_id,field,reason")
    assert ".csv" in errors.headers["content-disposition"]
