"""What /v1/code and /v1/scrub make of bodies sent the wrong way: the wrong media type, a
byte-order mark, UTF-16, a form field where a file belongs."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.web.test_api import osteopenia_case


def _body() -> bytes:
    return json.dumps(osteopenia_case()).encode()


@pytest.mark.parametrize(
    "media_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_is_415(client: TestClient, media_type: str) -> None:
    response = client.post("/v1/code", content=_body(), headers={"content-type": media_type})
    assert response.status_code == 415, response.text
    body = response.json()
    assert body["error"] == "unsupported_media_type" and body["field"] == "content-type"
    assert "application/json" in body["reason"]


@pytest.mark.parametrize(
    "media_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_is_coded_with_or_without_its_charset(client: TestClient, media_type: str) -> None:
    response = client.post("/v1/code", content=_body(), headers={"content-type": media_type})
    assert response.status_code == 200, response.text
    assert response.json()["claim_id"] == "C-1001"


def test_a_utf8_byte_order_mark_is_read(client: TestClient) -> None:
    response = client.post(
        "/v1/code", content=b"\xef\xbb\xbf" + _body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["claim_id"] == "C-1001"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_told_to_be_saved_as_utf8(client: TestClient, encoding: str) -> None:
    body = _body().decode().encode(encoding)
    response = client.post("/v1/code", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["reason"] == "the text is UTF-16; save it as UTF-8"


def test_text_that_is_not_utf8_is_told_so(client: TestClient) -> None:
    enc = osteopenia_case()
    enc["patient"]["conditions"] = ["Morbus Bechterew, Zustand nach Fraktur (Hüfte)"]
    body = json.dumps(enc, ensure_ascii=False).encode("latin-1")
    response = client.post("/v1/code", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "not UTF-8" in response.json()["reason"]


def test_a_form_field_where_the_file_belongs(client: TestClient) -> None:
    """`curl -F file=hello`: a field, not a file."""
    response = client.post("/v1/scrub", files={"file": (None, "hello")})
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "file"
    assert body["reason"].startswith("the file field must be a file upload")
    assert "UploadFile" not in body["reason"]


def test_the_schema_documents_both_422s_and_the_415(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()
    about = schema["info"]["description"]
    assert "`contract`" in about and "`invalid`" in about
    code = schema["paths"]["/v1/code"]["post"]["responses"]
    assert {"415", "422", "503"} <= set(code)
    assert "`invalid`" in schema["paths"]["/v1/scrub"]["post"]["responses"]["422"]["description"]
