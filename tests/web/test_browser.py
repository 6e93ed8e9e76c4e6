"""End to end in a real browser: Debian's Chromium, headless, against a live server.

A coder signs in, fills the worksheet for a real case and reads the claim, the findings and
the T-score charts; uploads a batch and watches it finish. Screenshots go to
.cache/artifacts/ (set DEXACODE_SCREENSHOT_DOCS=1 to refresh docs/worksheet.png too).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser_context fixture skips (or fails under CI) with the reason
    expect = None  # type: ignore[assignment]

from tests.web.conftest import ARTIFACTS, REPO_ROOT, LiveServer


@pytest.fixture
def page(browser_context: Any, live_server: LiveServer) -> Iterator[Any]:
    page = browser_context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(live_server.url + "/")
    if page.url.endswith("/login"):
        page.get_by_label("API key").fill(live_server.key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(live_server.url + "/")
    yield page
    page.close()
    assert problems == [], f"script errors on the page: {problems}"


def _fill_osteopenia_case(page: Any) -> None:
    page.get_by_label("Claim id").fill("C-1001")
    page.get_by_label("Date of service").fill("2026-03-02")
    page.get_by_label("Payer").select_option("medicare")
    page.get_by_label("Patient id").fill("P-77")
    page.get_by_label("Birth date").fill("1956-05-14")
    page.get_by_label("Menopausal status").select_option("postmenopausal")
    page.get_by_label("lumbar spine").check()
    page.get_by_label("left hip").check()
    rows = page.locator("#result-rows tr")
    for i, (bmd, t, z) in enumerate(
        [("0.981", "-0.8", "0.6"), ("0.701", "−1.9", "-0.4"), ("0.86", "-1.2", "")]
    ):
        rows.nth(i).get_by_label("BMD in g/cm²").fill(bmd)
        rows.nth(i).get_by_label("T-score").fill(t)
        rows.nth(i).get_by_label("Z-score").fill(z)


def _coded(page: Any) -> None:
    expect(page.locator("#status")).to_have_text(re.compile(r"^Coded"), timeout=10_000)


def test_the_worksheet_codes_a_real_case(page: Any) -> None:
    _fill_osteopenia_case(page)
    _coded(page)
    lines = page.locator("#lines tr")
    assert lines.first.locator("td").first.inner_text() == "77080"
    diagnoses = page.locator("#diagnoses li").all_inner_texts()
    assert any(d.startswith("M85.852") and "left" in d for d in diagnoses), diagnoses
    assert diagnoses[0].startswith("Z13.820")
    assert "low bone mass" in page.locator("#reading").inner_text()
    # One chart per diagnostic region; the femoral neck is the lowest and is marked.
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    lowest = page.locator("svg.chart.lowest")
    assert lowest.count() == 1
    assert re.search(r"femoral neck: T-score −1\.9, the lowest", lowest.get_attribute("aria-label"))
    assert "lowest: decides" in lowest.text_content()
    findings = page.locator("#findings")
    assert "MEDICARE-CATEGORY" in findings.inner_text()
    assert findings.locator("a").first.get_attribute("href").startswith("http")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "worksheet.png"))
    page.screenshot(path=str(ARTIFACTS / "worksheet-full.png"), full_page=True)
    if os.environ.get("DEXACODE_SCREENSHOT_DOCS") == "1":
        page.screenshot(path=str(REPO_ROOT / "docs" / "worksheet.png"))


def test_modifiers_show_why_and_errors_point_at_the_field(page: Any) -> None:
    _fill_osteopenia_case(page)
    page.get_by_label("Scanner").select_option("other")
    expect(page.locator("#lines button.mod")).to_have_count(1, timeout=10_000)
    chip = page.locator("#lines button.mod").first
    assert chip.inner_text() == "26"
    reason_row = page.locator("#lines tr.reason-row")
    assert reason_row.is_hidden()
    chip.focus()
    page.keyboard.press("Enter")  # keyboard opens the reasons, as a click does
    assert reason_row.is_visible()
    assert chip.get_attribute("aria-expanded") == "true"
    assert reason_row.inner_text().startswith("26 ")
    # A score that is not a number: not coded, and the input is marked.
    t_score = page.locator("#result-rows tr").nth(1).get_by_label("T-score")
    t_score.fill("abc")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Not coded yet"), timeout=10_000)
    assert "results[1].t_score" in page.locator("#status").inner_text()
    assert t_score.get_attribute("aria-invalid") == "true"
    assert page.locator("#result-body").is_hidden()


def test_copy_as_json_and_print_view(page: Any, browser_context: Any) -> None:
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    _fill_osteopenia_case(page)
    _coded(page)
    page.get_by_role("button", name="Copy as JSON").click()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["claim_id"] == "C-1001" and copied["lines"][0]["cpt"] == "77080"
    page.emulate_media(media="print")
    assert page.locator("#encounter").is_hidden()
    assert page.locator("#lines").is_visible()
    assert page.locator("svg.chart.lowest").is_visible()
    page.screenshot(path=str(ARTIFACTS / "worksheet-print.png"), full_page=True)
    page.emulate_media(media="screen")


def test_upload_a_batch_and_watch_it_finish(page: Any, live_server: LiveServer) -> None:
    page.get_by_role("link", name="Batch").click()
    page.get_by_label("Batch file").set_input_files(str(REPO_ROOT / "examples" / "batch.jsonl"))
    page.get_by_role("button", name="Upload and scrub").click()
    expect(page.locator("#job-state")).to_have_text("Done", timeout=60_000)
    summary = page.locator("#job-summary table").inner_text()
    assert re.search(r"Rows read\s+300", summary), summary
    assert page.locator("progress").evaluate("p => p.value") == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="Download results").click()
    lines = download.value.path().read_text().splitlines()
    assert len(lines) > 0 and json.loads(lines[0])["claim_id"]
    page.screenshot(path=str(ARTIFACTS / "batch.png"), full_page=True)
