"""Signing in to the page, its session, and what the page may load."""

from __future__ import annotations

import re

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
