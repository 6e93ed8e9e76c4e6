"""End to end in a real browser: Debian's Chromium, headless, against a live server.

A coder signs in, fills the worksheet for a real case and reads the claim, the findings and
the T-score charts; uploads a batch and watches it finish. Screenshots go to
.cache/artifacts/ (set DEXACODE_SCREENSHOT_DOCS=1 to refresh docs/worksheet.png too).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
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
    _fill_patient(page, claim_id="C-1001", patient_id="P-77")
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
    decides = page.locator("svg.chart.decides")
    assert decides.count() == 1
    assert re.search(r"femoral neck: T-score −1\.9, decides", decides.get_attribute("aria-label"))
    assert "decides the reading" in decides.text_content()
    assert page.locator("svg.chart.not-read").count() == 0
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
    assert page.locator("svg.chart.decides").is_visible()
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


def _fill_patient(page: Any, claim_id: str = "C-2002", patient_id: str = "P-78") -> None:
    """A postmenopausal Medicare patient born 1956, seen 2026-03-02."""
    page.get_by_label("Claim id").fill(claim_id)
    page.get_by_label("Date of service").fill("2026-03-02")
    page.get_by_label("Payer").select_option("medicare")
    page.get_by_label("Patient id").fill(patient_id)
    page.get_by_label("Birth date").fill("1956-05-14")
    page.get_by_label("Menopausal status").select_option("postmenopausal")


def _site(page: Any, words: str) -> Any:
    """A site checkbox (a chart's label names the site too)."""
    return page.get_by_role("checkbox", name=words, exact=True)


def _decided_by(page: Any) -> str:
    """The reading's "Decided by" line: the engine's interpretation.basis, as drawn."""
    text: str = page.locator("#reading dt", has_text="Decided by").locator("+ dd").inner_text()
    return text


def test_charts_follow_the_engines_reading(page: Any) -> None:
    _fill_patient(page)
    _site(page, "lumbar spine").check()  # the hip is not in exam.sites
    rows = page.locator("#result-rows tr")
    rows.nth(0).get_by_label("T-score").fill("-0.5")
    rows.nth(1).get_by_label("T-score").fill("-2.9")  # left hip, femoral neck
    _coded(page)
    assert "normal" in page.locator("#reading").inner_text()
    assert "RESULT-SITE-NOT-MEASURED" in page.locator("#findings").inner_text()
    assert _decided_by(page).startswith("lumbar spine, L1-L4")
    # The one chart marked deciding is the basis; the unmeasured hip is greyed, not read.
    decides = page.locator("svg.chart.decides")
    assert decides.count() == 1
    assert decides.get_attribute("aria-label").startswith("lumbar spine, L1-L4: T-score −0.5")
    hip = page.locator("figure.chart-box", has_text="left hip, femoral neck")
    assert "not-read" in hip.get_attribute("class") and "decides" not in hip.get_attribute("class")
    assert hip.locator("figcaption").inner_text() == "not measured in this exam: not read"
    assert "not measured in this exam" in hip.locator("svg").get_attribute("aria-label")

    # L1-L4 given without a T-score: L2-L4 does not stand in for it (LUMBAR-SCORE-MISSING).
    _site(page, "left hip").check()
    rows.nth(0).get_by_label("T-score").fill("")
    rows.nth(0).get_by_label("BMD in g/cm²").fill("0.95")
    rows.nth(1).get_by_label("T-score").fill("-1.5")
    page.get_by_role("button", name="+ Add a result").click()
    rows.nth(3).get_by_label("Site").select_option("lumbar_spine")
    rows.nth(3).get_by_label("Region").fill("L2-L4")
    rows.nth(3).get_by_label("T-score").fill("-3.0")
    expect(page.locator("#findings")).to_contain_text("LUMBAR-SCORE-MISSING", timeout=10_000)
    assert "low bone mass" in page.locator("#reading").inner_text()
    assert _decided_by(page).startswith("left hip, femoral neck")
    decides = page.locator("svg.chart.decides")
    assert decides.count() == 1
    assert decides.get_attribute("aria-label").startswith("left hip, femoral neck: T-score −1.5")
    spine = page.locator("figure.chart-box", has_text="lumbar spine, L2-L4")
    assert "not-read" in spine.get_attribute("class")
    assert "LUMBAR" not in spine.inner_text() and "not read" in spine.inner_text()

    # L1-L4 scored again, the hip still lowest: L1-L4 was read and does not decide, while
    # L2-L4 was not read at all (one lumbar region counts), whatever its score.
    rows.nth(0).get_by_label("T-score").fill("-1.0")
    expect(page.locator("#findings")).not_to_contain_text("LUMBAR-SCORE-MISSING", timeout=10_000)
    assert _decided_by(page).startswith("left hip, femoral neck")
    l1_l4 = page.locator("figure.chart-box", has_text="lumbar spine, L1-L4")
    assert "not-read" not in l1_l4.get_attribute("class")
    assert l1_l4.locator("svg").get_attribute("aria-label").endswith("read, does not decide")
    spine = page.locator("figure.chart-box", has_text="lumbar spine, L2-L4")
    assert "not-read" in spine.get_attribute("class")
    assert spine.locator("figcaption").inner_text() == "not read: one lumbar region counts"


def test_the_form_lists_come_from_the_rule_book(page: Any, live_server: LiveServer) -> None:
    book = live_server.app.state.ctx.book
    bmm = {p.cpt for p in book.procedures if p.bmm}
    page.get_by_role("button", name="+ Add a prior study").click()
    offered = page.locator("#history-rows tr").first.get_by_label("CPT of the prior study")
    values = set(offered.locator("option").evaluate_all("os => os.map(o => o.value)"))
    assert values == bmm and "77078" in values and "77086" not in values
    regions = page.locator("#region-names option").evaluate_all("os => os.map(o => o.value)")
    assert "radius_ultradistal" in regions and "calcaneus" in regions
    assert "ultradistal_radius" not in regions


def test_errors_mark_the_sites_rows_and_empty_boxes(page: Any) -> None:
    _fill_osteopenia_case(page)
    _coded(page)
    # No site ticked: the contract's check names "exam"; the site boxes are marked.
    _site(page, "lumbar spine").uncheck()
    _site(page, "left hip").uncheck()
    expect(page.locator("#status")).to_have_text(re.compile(r"^Not coded yet"), timeout=10_000)
    boxes = page.locator('input[name="sites"]')
    assert boxes.count() > 2
    assert all(boxes.nth(i).get_attribute("aria-invalid") == "true" for i in range(boxes.count()))
    _site(page, "lumbar spine").check()
    _site(page, "left hip").check()
    _coded(page)
    assert page.locator('input[name="sites"][aria-invalid]').count() == 0

    # An empty required box: the page's own words, not pydantic's.
    page.get_by_label("Claim id").fill("")
    expect(page.locator("#status")).to_have_text("Not coded yet. Enter claim id.", timeout=10_000)
    assert page.get_by_label("Claim id").get_attribute("aria-invalid") == "true"
    page.get_by_label("Claim id").fill("C-1001")
    _coded(page)

    # A prior study without a date is not sent: history[0] is the second row on the page.
    page.get_by_role("button", name="+ Add a prior study").click()
    page.get_by_role("button", name="+ Add a prior study").click()
    history = page.locator("#history-rows tr")
    history.nth(1).get_by_label("Date of the prior study").fill("2024-01-10")
    bad = history.nth(1).get_by_label("CPT of the prior study")
    bad.evaluate("s => { s.add(new Option('7708', '7708')); s.value = '7708'; }")
    bad.dispatch_event("change")
    expect(page.locator("#status")).to_contain_text("history[0].cpt", timeout=10_000)
    assert bad.get_attribute("aria-invalid") == "true"
    first = history.nth(0).get_by_label("CPT of the prior study")
    assert first.get_attribute("aria-invalid") is None


def test_a_batch_job_is_found_again_from_the_address(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/batch")
    page.get_by_label("Batch file").set_input_files(str(REPO_ROOT / "examples" / "batch.jsonl"))
    page.get_by_role("button", name="Upload and scrub").click()
    expect(page.locator("#job-state")).to_have_text("Done", timeout=60_000)
    found = re.search(r"#job=(\w+)$", page.url)
    assert found, page.url
    job_id = found.group(1)
    assert page.locator("#job-id").inner_text() == job_id[:8]
    # A reload (or a bookmark) follows the job again.
    page.reload()
    expect(page.locator("#job-state")).to_have_text("Done", timeout=30_000)
    assert page.locator("#job-id").inner_text() == job_id[:8]
    assert re.search(r"Rows read\s+300", page.locator("#job-summary table").inner_text())
    # A refused upload leaves no trace of the previous job.
    page.get_by_label("Batch file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not encounters\n"}
    )
    page.get_by_role("button", name="Upload and scrub").click()
    expect(page.locator("#batch-status")).to_contain_text("Not uploaded", timeout=10_000)
    assert page.locator("#job").is_hidden()
    assert page.locator("#job-id").inner_text() == ""
    assert page.locator("#job-summary").inner_html() == ""
    assert "#job=" not in page.url
    # An address naming no known job says so.
    page.goto(live_server.url + "/batch#job=0123456789abcdef0123456789abcdef")
    expect(page.locator("#batch-status")).to_contain_text("cannot be found", timeout=10_000)
    assert page.locator("#job").is_hidden()


def test_a_submitted_claims_diagnosis_pointers_are_checked(page: Any) -> None:
    _fill_osteopenia_case(page)
    _coded(page)
    page.get_by_label("Check a claim I already wrote").check()
    line = page.locator("#submitted-rows tr").first
    line.get_by_label("Submitted CPT").fill("77080")
    page.get_by_label("Diagnoses on the claim").fill("Z13.820, M85.852, Z78.0")
    # The line points only at the screening code: said, naming what it points to.
    line.get_by_label("Submitted diagnosis pointers").fill("1")
    findings = page.locator("#findings")
    expect(findings).to_contain_text("DIAGNOSIS-POINTER", timeout=10_000)
    assert "points to 1 (Z13.820)" in findings.inner_text()
    # Pointing at the first three, in order: nothing to say.
    line.get_by_label("Submitted diagnosis pointers").fill("1, 2, 3")
    expect(findings).not_to_contain_text("DIAGNOSIS-POINTER", timeout=10_000)
    # A pointer past the diagnoses: not coded, the field named.
    line.get_by_label("Submitted diagnosis pointers").fill("1, 4")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Not coded yet"), timeout=10_000)
    assert "submitted.lines[0].diagnosis_pointers" in page.locator("#status").inner_text()


def test_another_site_cannot_sign_the_coder_in_as_someone_else(
    page: Any, browser_context: Any, live_server: LiveServer
) -> None:
    """A page on another site posts its own key to /login in the coder's browser."""
    mallory = live_server.app.state.ctx.keys.create("mallory")
    hostile = browser_context.new_page()
    hostile.route(
        "http://prizes.example/**",
        lambda route: route.fulfill(
            content_type="text/html",
            body=(
                f'<form method="post" action="{live_server.url}/login">'
                f'<input name="api_key" value="{mallory}"></form>'
                "<script>document.forms[0].submit()</script>"
            ),
        ),
    )
    hostile.goto("http://prizes.example/")
    hostile.wait_for_url(f"{live_server.url}/login")
    assert "another site" in hostile.content()
    hostile.close()
    page.goto(live_server.url + "/batch")
    expect(page.locator(".who")).to_contain_text("e2e-coder")
    # The server's own sign-in form still works (its page sends its own origin).
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(live_server.url + "/login")
    page.get_by_label("API key").fill(live_server.key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + "/")
    expect(page.locator(".who")).to_contain_text("e2e-coder")


def test_the_batch_page_waits_when_told_to_and_carries_on(
    page: Any, live_server: LiveServer
) -> None:
    """429 answers (with Retry-After) while the page follows a job: it waits and goes on;
    a running job near its end never reads 100%; polls slow down while the job runs."""
    polls: list[float] = []
    refused = 2

    def jobs(route: Any) -> None:
        nonlocal refused
        polls.append(time.monotonic())
        if refused:
            refused -= 1
            route.fulfill(
                status=429,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body=json.dumps(
                    {
                        "status": 429,
                        "error": "rate_limited",
                        "field": "",
                        "reason": "too many calls",
                    }
                ),
            )
        elif len(polls) <= 6:  # nearly done, still running
            answer = route.fetch()
            job = answer.json()
            job.update(state="running", progress=0.998, summary=None, results_url=None)
            route.fulfill(response=answer, json=job)
        else:
            route.continue_()

    page.route(re.compile(r".*/v1/jobs/\w+$"), jobs)
    page.goto(live_server.url + "/batch")
    page.get_by_label("Batch file").set_input_files(str(REPO_ROOT / "examples" / "batch.jsonl"))
    page.get_by_role("button", name="Upload and scrub").click()
    expect(page.locator("#batch-status")).to_contain_text("Too many calls", timeout=10_000)
    expect(page.locator("#job-state")).to_have_text("Scrubbing: 99%", timeout=10_000)
    assert page.locator("progress").evaluate("p => p.value") < 1
    expect(page.locator("#job-state")).to_have_text("Done", timeout=60_000)
    assert re.search(r"Rows read\s+300", page.locator("#job-summary table").inner_text())
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert all(gap >= 0.9 for gap in gaps[:2]), gaps  # Retry-After: 1 honoured
    assert max(gaps[2:]) >= 1.0, gaps  # backed off from the first half second
    page.unroute(re.compile(r".*/v1/jobs/\w+$"))


def test_unreadable_cms_data_is_shown_not_retried_forever(page: Any) -> None:
    """A 503 without Retry-After (the loaded CMS data cannot be read) cannot be mended by
    waiting: the worksheet shows its reason, which names the command that fixes it."""
    calls: list[float] = []
    reason = "the loaded CMS data cannot be read; run `dexacode data remove mue 2026-04-01`"

    def unreadable(route: Any) -> None:
        calls.append(time.monotonic())
        route.fulfill(
            status=503,
            headers={"Content-Type": "application/json"},
            body=json.dumps(
                {"status": 503, "error": "data_unreadable", "field": "", "reason": reason}
            ),
        )

    page.route(re.compile(r".*/v1/code$"), unreadable)
    _fill_osteopenia_case(page)
    expect(page.locator("#status")).to_contain_text("dexacode data remove", timeout=10_000)
    settled = len(calls)
    page.wait_for_timeout(2_500)  # a retry loop would call again within a second or two
    assert len(calls) == settled
    page.unroute(re.compile(r".*/v1/code$"))
