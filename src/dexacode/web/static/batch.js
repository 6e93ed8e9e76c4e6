// The batch page: upload a file to /v1/scrub, follow the job until it is done, show the
// summary and the downloads. The job's id goes in the address (#job=ID), so a reload or a
// bookmark finds the job again.
"use strict";

(function () {
  const api = window.dexacodeApi; // api.js: the session, sign-in again, Retry-After
  const $ = (id) => document.getElementById(id);
  // Polls start quick (a small file is done in a second) and slow down to one every 2 s.
  const POLL_FIRST_MS = 500;
  const POLL_MAX_MS = 2000;
  const POLL_GROWTH = 1.5;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function status(text) {
    $("batch-status").textContent = text;
  }

  // A call's JSON answer; when the server asks the page to wait (Retry-After), it waits,
  // says so, and tries again.
  let waited = false; // the status line says the page is waiting
  const call = (url, options) =>
    api.json(url, options, (words) => {
      waited = true;
      status(words);
    });

  function showSummary(job) {
    const s = job.summary;
    const rows = [
      ["Rows read", s.rows_read],
      ["Coded", s.coded],
      ["Not coded", s.not_coded],
      ["Clean", s.clean],
      ["With errors", s.with_errors],
      ["Warnings only", s.warnings_only],
    ];
    if (s.blank_lines) rows.push(["Blank lines skipped", s.blank_lines]);
    if (s.rechecked_repeat_visits) rows.push(["Re-checked against other visits in the file", s.rechecked_repeat_visits]);
    const table = el("table", { class: "summary", "aria-label": "Job summary" });
    for (const [name, count] of rows) table.append(el("tr", {}, el("th", { scope: "row", text: name }), el("td", { class: "num", text: Number(count).toLocaleString() })));
    const parts = [table];
    if (s.record_problem) parts.push(el("p", { class: "status warn", role: "alert", text: `The results were written, but nothing was recorded in the history store (${s.record_problem}).` }));
    if (s.top_problems.length) {
      const list = el("ol", { class: "problems" });
      for (const line of s.top_problems) list.append(el("li", { text: line }));
      parts.push(el("h3", { text: "Top problems" }), list);
    }
    const links = el("p", { class: "downloads" });
    if (job.results_url) links.append(el("a", { href: job.results_url, class: "button", download: "", text: "Download results" }));
    if (job.errors_url) links.append(" ", el("a", { href: job.errors_url, class: "button", download: "", text: "Download rows not coded" }));
    parts.push(links);
    $("job-summary").replaceChildren(...parts);
  }

  // Empty the last job's panel (and the address, unless it names the next job), so a new
  // job never shows the previous one's figures.
  function clearJob(keepAddress) {
    if (!keepAddress && window.location.hash) history.replaceState(null, "", window.location.pathname + window.location.search);
    $("job").hidden = true;
    $("job-id").textContent = "";
    $("job-state").textContent = "Queued";
    $("job-progress").value = 0;
    $("job-progress").textContent = "";
    $("job-summary").replaceChildren();
  }

  function showJob(id) {
    $("job").hidden = false;
    $("job-id").textContent = id.slice(0, 8);
    $("job-id").title = id;
  }

  function jobInAddress() {
    const found = /^#job=([\w-]+)$/.exec(window.location.hash);
    return found ? found[1] : null;
  }

  let following = null; // the job this page polls; an older poll stops when it changes

  // Progress in whole percent; 100% only once the job is done (a running job's last
  // rows still have their repeat visits checked and the results joined).
  function percent(job) {
    const pct = Math.floor(job.progress * 100);
    return job.state === "done" ? 100 : Math.min(pct, 99);
  }

  async function follow(id, delay) {
    if (id !== following) return;
    const job = await call(`/v1/jobs/${id}`);
    if (id !== following) return;
    const pct = percent(job);
    $("job-progress").value = pct / 100;
    $("job-progress").textContent = `${pct}%`;
    const words = { queued: "Queued", running: `Scrubbing: ${pct}%`, done: "Done", failed: "Failed" };
    $("job-state").textContent = words[job.state];
    if (job.state === "done") {
      showSummary(job);
      status(`Job done: ${job.summary.rows_read} rows read, ${job.summary.coded} coded, ${job.summary.not_coded} not coded.`);
      $("batch-submit").disabled = false;
      return;
    }
    if (job.state === "failed") {
      status(`The job failed: ${job.error}`);
      $("batch-submit").disabled = false;
      return;
    }
    if (waited) status("Scrubbing.");
    waited = false;
    const next = Math.min(delay * POLL_GROWTH, POLL_MAX_MS);
    setTimeout(() => follow(id, next).catch((err) => status(err.message)), delay);
  }

  function start(id) {
    following = id;
    showJob(id);
    return follow(id, POLL_FIRST_MS);
  }

  $("batch-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("batch-file").files[0];
    if (!file) {
      status("Choose a file first.");
      $("batch-file").focus();
      return;
    }
    const data = new FormData();
    data.append("file", file);
    data.append("out_format", $("out-format").value);
    $("batch-submit").disabled = true;
    following = null;
    clearJob();
    status(`Uploading ${file.name}\u2026`);
    let job;
    try {
      job = await call("/v1/scrub", { method: "POST", body: data });
    } catch (err) {
      status(`Not uploaded: ${err.message}`);
      $("batch-submit").disabled = false;
      return;
    }
    history.replaceState(null, "", `#job=${job.id}`);
    status("Uploaded; scrubbing.");
    try {
      await start(job.id);
    } catch (err) {
      status(err.message);
      $("batch-submit").disabled = false;
    }
  });

  // A job named in the address: follow it again (after a reload, or from a bookmark).
  function resume() {
    const id = jobInAddress();
    if (!id || id === following) return;
    clearJob(true);
    status("Following the job in the address.");
    start(id).catch((err) => {
      if (id !== following) return;
      following = null;
      clearJob();
      status(`That job cannot be found: ${err.message}`);
    });
  }

  window.addEventListener("hashchange", resume);
  resume();
})();
