"""Signing in to the page, its session, and what the page may load."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from dexacode.web.sessions import COOKIE
from tests.web.test_api import osteopenia_case


def _sign_in(c: TestClient, key: str) -> str:
    response = c.post("/login", data={"api_key": key}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = c.get("/").text
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found
    return found.group(1)


def test_pages_need_a_session(anonymous: TestClient) -> None:
    for path in ("/", "/batch"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_a_wrong_key_does_not_sign_in(anonymous: TestClient) -> None:
    response = anonymous.post("/login", data={"api_key": "dxk_nope_nope"}, follow_redirects=False)
    assert response.status_code == 401
    assert "not valid" in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")


def test_a_pasted_key_with_more_than_the_key_is_told_so_on_the_page(
    anonymous: TestClient, api_key: str
) -> None:
    pasted = api_key + "   (shown once: keep it safe) " + "x" * 300
    response = anonymous.post("/login", data={"api_key": pasted}, follow_redirects=False)
    assert response.status_code == 401 and "text/html" in response.headers["content-type"]
    assert "paste the key alone" in response.text
    # The key with its line's end signs in.
    response = anonymous.post("/login", data={"api_key": api_key + "\n"}, follow_redirects=False)
    assert response.status_code == 303


def test_the_session_codes_with_its_csrf_token(anonymous: TestClient, api_key: str) -> None:
    csrf = _sign_in(anonymous, api_key)
    assert anonymous.post("/v1/code", json=osteopenia_case()).status_code == 403
    coded = anonymous.post("/v1/code", json=osteopenia_case(), headers={"X-CSRF-Token": csrf})
    assert coded.status_code == 200
    assert anonymous.get("/v1/health").status_code == 200  # reading needs the cookie only
    anonymous.post("/logout")
    again = anonymous.post("/v1/code", json=osteopenia_case(), headers={"X-CSRF-Token": csrf})
    assert again.status_code == 401


def test_revoking_the_key_ends_its_sessions(
    web_app: FastAPI, anonymous: TestClient, api_key: str
) -> None:
    _sign_in(anonymous, api_key)
    web_app.state.ctx.keys.revoke("tester")
    assert anonymous.get("/v1/health").status_code == 401
    assert anonymous.get("/", follow_redirects=False).headers["location"] == "/login"


def test_the_page_loads_nothing_from_elsewhere(anonymous: TestClient, api_key: str) -> None:
    _sign_in(anonymous, api_key)
    for path in ("/", "/batch", "/login"):
        response = anonymous.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert refs and all(ref.startswith(("/", "#")) for ref in refs), refs
    for asset in ("/static/worksheet.js", "/static/batch.js", "/static/style.css"):
        assert anonymous.get(asset).status_code == 200


def test_the_form_offers_the_rule_books_vocabulary(anonymous: TestClient, api_key: str) -> None:
    _sign_in(anonymous, api_key)
    page = anonymous.get("/").text
    assert 'value="medicare_advantage"' in page
    assert 'value="bilateral_oophorectomy"' in page
    assert 'value="left_forearm"' in page
    # Every input has a label: by for=, by a wrapping label, or by aria-label.
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    for tag in re.findall(r"<(?:input|select)\b[^>]*>", page):
        ident = re.search(r'id="([^"]+)"', tag)
        assert (
            "aria-label" in tag
            or (ident and ident.group(1) in labelled)
            or 'type="checkbox"' in tag
        ), tag


def test_the_forms_lists_are_the_rule_books(
    web_app: FastAPI, anonymous: TestClient, api_key: str
) -> None:
    """Prior studies offer the codes that count for frequency (bmm in procedures.toml);
    regions are the rule book's diagnostic ones and the contract's other names."""
    _sign_in(anonymous, api_key)
    page = anonymous.get("/").text
    history_row = re.search(r'<template id="history-row">(.*?)</template>', page, re.S)
    assert history_row
    offered = re.findall(r'<option value="([^"]+)"', history_row.group(1))
    book = web_app.state.ctx.book
    assert set(offered) == {p.cpt for p in book.procedures if p.bmm}
    assert "77078" in offered and "G0130" in offered and "77086" not in offered
    datalist = re.search(r'<datalist id="region-names">(.*?)</datalist>', page, re.S)
    assert datalist
    regions = re.findall(r'<option value="([^"]+)"', datalist.group(1))
    rule = max(book.regions, key=lambda r: r.effective)
    assert {rule.lumbar_preferred, *rule.hip_regions, *rule.forearm_regions} <= set(regions)
    assert "radius_ultradistal" in regions and "calcaneus" in regions
    assert "ultradistal_radius" not in regions and len(regions) == len(set(regions))


# --- requests another site's page sends ---------------------------------------------------


def _who(c: TestClient) -> str | None:
    found = re.search(r"Signed in as <strong>([^<]+)</strong>", c.get("/").text)
    return found.group(1) if found else None


def test_another_site_cannot_sign_the_coder_in_as_someone_else(
    web_app: FastAPI, anonymous: TestClient, api_key: str
) -> None:
    """Login CSRF: a hostile page posts its own key to /login from the coder's browser."""
    _sign_in(anonymous, api_key)
    mallory = web_app.state.ctx.keys.create("mallory")
    for sent_from in (
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/prize.html"},
        {"Origin": "null"},  # a sandboxed frame, or a page that hides where it is
        {"Origin": "http://testserver.evil.example"},
    ):
        response = anonymous.post(
            "/login", data={"api_key": mallory}, headers=sent_from, follow_redirects=False
        )
        assert response.status_code == 403, sent_from
        assert "another site" in response.json()["reason"]
        assert COOKIE not in response.headers.get("set-cookie", "")
        assert _who(anonymous) == "tester"
    # From the server's own page (or a client that names no page) signing in works.
    own = anonymous.post(
        "/login",
        data={"api_key": mallory},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert own.status_code == 303
    assert _who(anonymous) == "mallory"


def test_another_sites_page_cannot_use_the_session(anonymous: TestClient, api_key: str) -> None:
    csrf = _sign_in(anonymous, api_key)
    evil = {"Origin": "https://evil.example", "X-CSRF-Token": csrf}
    refused = anonymous.post("/v1/code", json=osteopenia_case(), headers=evil)
    assert refused.status_code == 403 and refused.json()["field"] == "origin"
    assert anonymous.post("/logout", headers=evil, follow_redirects=False).status_code == 403
    assert _who(anonymous) == "tester"
    own = {"Origin": "http://testserver", "X-CSRF-Token": csrf}
    assert anonymous.post("/v1/code", json=osteopenia_case(), headers=own).status_code == 200


def test_an_api_key_call_is_not_judged_by_its_origin(client: TestClient) -> None:
    coded = client.post(
        "/v1/code", json=osteopenia_case(), headers={"Origin": "https://other.example"}
    )
    assert coded.status_code == 200


def test_the_pages_send_their_own_origin(anonymous: TestClient, api_key: str) -> None:
    """`no-referrer` makes a browser send `Origin: null` with the page's own form posts."""
    _sign_in(anonymous, api_key)
    for path in ("/", "/batch", "/login", "/docs"):
        assert anonymous.get(path).headers["referrer-policy"] == "same-origin", path


# --- the batch page's formats, and pages without JavaScript -------------------------------


def test_the_batch_page_takes_every_format_the_api_takes(
    anonymous: TestClient, api_key: str
) -> None:
    from dexacode.formats.batch_io import FORMATS, INPUT_ONLY_FORMATS, format_of

    _sign_in(anonymous, api_key)
    page = anonymous.get("/batch").text
    picker = re.search(r'<input id="batch-file"[^>]*accept="([^"]+)"', page)
    assert picker
    accepted = picker.group(1).split(",")
    assert {".jsonl", ".ndjson", ".csv", ".parquet", ".837", ".x12", ".fhir.json"} <= set(accepted)
    # Every ending offered names a format the scrub reads, and every format is offered.
    told = {format_of(Path("claims" + ending), look=False) for ending in accepted}
    assert told == set(FORMATS + INPUT_ONLY_FORMATS)
    formats = re.search(r'<p id="batch-formats">(.*?)</p>', page, re.S)
    assert formats
    words = re.sub(r"\s+", " ", formats.group(1))
    for name in ("JSON Lines", "CSV", "Parquet", "X12 837P", "FHIR"):
        assert name in words, words
    assert ".837" in words and ".fhir.json" in words


def test_the_pages_say_they_need_javascript(anonymous: TestClient, api_key: str) -> None:
    _sign_in(anonymous, api_key)
    for path in ("/", "/batch"):
        page = anonymous.get(path).text
        message = re.search(r"<noscript>(.*?)</noscript>", page, re.S)
        assert message, path
        text = re.sub(r"\s+", " ", message.group(1))
        assert "needs JavaScript" in text and 'href="/docs"' in text
        assert "dexacode code" in text and "dexacode scrub" in text


# --- the audit trail of a page session ----------------------------------------------------


def test_the_worksheet_records_each_distinct_encounter_once(
    web_app: FastAPI, anonymous: TestClient, api_key: str
) -> None:
    """The page codes as the coder types: sending the same encounter again (a change
    event, a retry, a box ticked and unticked) adds no audit row; a changed one does."""
    csrf = _sign_in(anonymous, api_key)
    audit = web_app.state.ctx.audit
    page = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    case = osteopenia_case()
    for body in (
        json.dumps(case),
        json.dumps(case),
        json.dumps(case, indent=2),  # the same encounter, written otherwise
        json.dumps({**case, "claim_id": " C-1001 "}),  # ids are read without spaces
    ):
        assert anonymous.post("/v1/code", content=body, headers=page).status_code == 200
    assert [e.claim_id for e in audit.recent()] == ["C-1001"]
    changed = {**case, "exam": {**case["exam"], "vfa": True}}
    assert anonymous.post("/v1/code", json=changed, headers=page).status_code == 200
    back = anonymous.post("/v1/code", json=case, headers=page)  # ticked and unticked
    assert back.status_code == 200
    assert len(audit.recent()) == 2
    # Another session of the same key records its own coding.
    anonymous.post("/logout")
    csrf = _sign_in(anonymous, api_key)
    again = anonymous.post("/v1/code", json=case, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200
    assert len(audit.recent()) == 3


def test_every_api_call_is_recorded(web_app: FastAPI, client: TestClient) -> None:
    """A program's calls are each on record, the same encounter or not."""
    for _ in range(2):
        assert client.post("/v1/code", json=osteopenia_case()).status_code == 200
    assert len(web_app.state.ctx.audit.recent()) == 2
