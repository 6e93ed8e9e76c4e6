// The batch page: upload a file to /v1/scrub, follow the job until it is done, show the
// summary and the downloads.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500;

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

  async function call(url, options) {
    const response = await fetch(url, {
      credentials: "same-origin",
      ...options,
      headers: { "X-CSRF-Token": csrf, ...((options || {}).headers || {}) },
    });
    if (response.status === 401) {
      window.location.assign("/login");
      throw new Error("signed out");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) throw new Error(body && body.reason ? body.reason : `the server answered ${response.status}`);
    return body;
  }

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
    if (s.rechecked_repeat_visits) rows.push(["Re-checked for repeat visits", s.rechecked_repeat_visits]);
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

  async function follow(id) {
    const job = await call(`/v1/jobs/${id}`);
    $("job-progress").value = job.progress;
    const pct = Math.round(job.progress * 100);
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
    setTimeout(() => follow(id).catch((err) => status(err.message)), POLL_MS);
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
    $("job-summary").replaceChildren();
    status(`Uploading ${file.name}\u2026`);
    try {
      const job = await call("/v1/scrub", { method: "POST", body: data });
      $("job").hidden = false;
      $("job-id").textContent = job.id.slice(0, 8);
      status("Uploaded; scrubbing.");
      await follow(job.id);
    } catch (err) {
      status(`Not uploaded: ${err.message}`);
      $("batch-submit").disabled = false;
    }
  });
})();
