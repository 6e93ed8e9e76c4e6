"""The API reference page: every operation and model of the server's own schema, with
nothing loaded from elsewhere (the built-in Swagger page fetched a CDN)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from dexacode.web.api_docs import link_models, type_of


def test_the_page_lists_every_operation_and_model_of_the_schema(anonymous: TestClient) -> None:
    schema = anonymous.get("/openapi.json").json()
    page = anonymous.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    for path, methods in schema["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in text
    for name in schema["components"]["schemas"]:
        assert f'id="model-{name}"' in text
    # Types name their models as links to them (in answers and in the models' own
    # tables, besides the list of models); the API key scheme is explained.
    assert 'href="#model-CodingResult"' in text and "Bearer" in text
    assert text.count('href="#model-Patient"') >= 2
    assert "date_of_service" in text and "string (date)" in text


def test_the_page_loads_nothing_from_elsewhere(anonymous: TestClient) -> None:
    page = anonymous.get("/docs")
    addresses = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert addresses and all(a.startswith(("/", "#")) for a in addresses), addresses
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "swagger" not in page.text.lower()


def test_types_read_as_words() -> None:
    assert type_of({"$ref": "#/components/schemas/Result"}) == "Result"
    assert type_of({"type": "array", "items": {"$ref": "#/x/Basis"}}) == "list of Basis"
    assert type_of({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}) == (
        "string (date) or null"
    )
    assert type_of({"enum": ["error", "warning"], "type": "string"}) == "one of error, warning"
    assert type_of({"type": "object", "additionalProperties": {"type": "string"}}) == (
        "map of text to string"
    )
    assert type_of({}) == "any"


def test_model_links_escape_everything_else() -> None:
    html = str(link_models("<b>list of Result or Results", {"Result"}))
    assert html == '&lt;b&gt;list of <a href="#model-Result">Result</a> or Results'
