// The coder's worksheet: the form becomes an encounter, /v1/code answers as the coder
// types, and the answer is drawn as claim lines, diagnoses, T-score charts and findings.
// The server checks everything; this script only gathers and shows.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("page-config").textContent);
  const api = window.dexacodeApi; // api.js: the session, sign-in again, Retry-After
  const form = document.getElementById("encounter");
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const DEBOUNCE_MS = 250;
  let lastResult = null;
  let timer = null;
  let inFlight = null;
  let sequence = 0;

  // --- building elements ---------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const minus = (text) => String(text).replace(/-/g, "\u2212");
  const signed = (n) => (n > 0 ? "+" : "") + minus(n.toFixed(1));

  // --- table rows ------------------------------------------------------------------------

  function addRow(templateId, bodyId, values) {
    const row = $(templateId).content.firstElementChild.cloneNode(true);
    for (const [col, value] of Object.entries(values || {})) {
      const input = row.querySelector(`[data-col="${col}"]`);
      if (input.type === "checkbox") input.checked = Boolean(value);
      else input.value = value;
    }
    row.querySelector(".remove").addEventListener("click", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      (next ? next.querySelector("input, select") : $(bodyId).closest("fieldset").querySelector("button.add")).focus();
      schedule();
    });
    $(bodyId).append(row);
    return row;
  }

  function defaultRows() {
    for (const body of ["result-rows", "history-rows", "submitted-rows"]) $(body).replaceChildren();
    addRow("result-row", "result-rows", { site: "lumbar_spine", region: "L1-L4" });
    addRow("result-row", "result-rows", { site: "left_hip", region: "femoral_neck" });
    addRow("result-row", "result-rows", { site: "left_hip", region: "total_hip" });
    addRow("submitted-row", "submitted-rows", {});
  }

  // --- the form as an encounter ----------------------------------------------------------

  const value = (id) => $(id).value.trim();
  const list = (text) => text.split(/[,;]/).map((s) => s.trim()).filter(Boolean);

  // A number when it reads as one (Unicode minus and decimal comma allowed); else the text
  // itself, so the server's error names the field.
  function number(text) {
    const clean = text.trim().replace(/[\u2212\u2013]/g, "-").replace(",", ".");
    if (clean === "") return null;
    return /^[-+]?\d*\.?\d+$/.test(clean) ? Number(clean) : text.trim();
  }

  function rows(bodyId) {
    return Array.from($(bodyId).rows).map((row) => {
      const out = {};
      for (const input of row.querySelectorAll("[data-col]")) {
        out[input.dataset.col] = input.type === "checkbox" ? input.checked : input.value.trim();
      }
      return out;
    });
  }

  function readForm() {
    const checked = (name) =>
      Array.from(form.querySelectorAll(`input[name="${name}"]:checked`)).map((i) => i.value);
    const patient = {
      id: value("patient_id"),
      sex: value("sex"),
      birth_date: value("birth_date"),
      menopausal_status: value("menopausal_status") || null,
      risk_factors: checked("risk_factors"),
      medications: list(value("medications")).map((item) => {
        const [name, status] = item.split(":").map((s) => s.trim());
        return status ? { name, status } : { name };
      }),
      conditions: list(value("conditions")),
    };
    const substituteDays = value("substitute_days");
    const encounter = {
      claim_id: value("claim_id"),
      date_of_service: value("date_of_service"),
      payer: value("payer"),
      patient,
      order: { reason: value("order_reason") },
      exam: {
        sites: checked("sites"),
        vfa: $("vfa").checked,
        status: value("exam_status"),
        will_repeat: $("will_repeat").checked,
        peripheral_reason: value("peripheral_reason") || null,
      },
      billing: {
        claim_form: value("claim_form"),
        component: value("component") || null,
        equipment_owner: value("equipment_owner"),
        interprets: $("interprets").checked,
        substitute: value("substitute") || null,
        substitute_days: substituteDays === "" ? null : number(substituteDays),
        abn_signed: $("abn_signed").checked,
      },
      results: [],
      history: [],
      submitted: null,
    };
    rows("result-rows").forEach((r, i) => {
      const scores = { bmd: number(r.bmd), t_score: number(r.t_score), z_score: number(r.z_score) };
      if (scores.bmd === null && scores.t_score === null && scores.z_score === null) return;
      encounter.results.push({ site: r.site, region: r.region, ...scores, _row: i });
    });
    rows("history-rows").forEach((r, i) => {
      if (r.date_of_service) encounter.history.push({ ...r, _row: i });
    });
    if ($("check_submitted").checked) {
      const lines = rows("submitted-rows")
        .filter((r) => r.cpt)
        .map((r) => {
          const line = { cpt: r.cpt, modifiers: list(r.modifiers), units: number(r.units || "1") };
          // Pointers as entered (1-based into the diagnoses); none typed: not checked.
          const pointers = list(r.diagnosis_pointers || "");
          if (pointers.length) line.diagnosis_pointers = pointers.map(number);
          return line;
        });
      encounter.submitted = { lines, diagnoses: list(value("submitted_diagnoses")) };
    }
    return encounter;
  }

  // Rows left out (results without scores, prior studies without a date) shift indices:
  // the server's results[i] or history[i] is the i-th row sent, not the i-th on the page.
  function withoutRowNumbers(encounter) {
    const rowsSent = {};
    for (const part of ["results", "history"]) {
      rowsSent[part] = encounter[part].map((r) => r._row);
      encounter[part] = encounter[part].map(({ _row, ...rest }) => rest);
    }
    return rowsSent;
  }

  const isBlank = (enc) =>
    !enc.claim_id && !enc.patient.id && !enc.patient.birth_date && enc.results.length === 0;

  // --- talking to the API ----------------------------------------------------------------

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(send, DEBOUNCE_MS);
  }

  async function send() {
    const encounter = readForm();
    const rowsSent = withoutRowNumbers(encounter);
    clearInvalid();
    if (isBlank(encounter)) {
      showStatus("Fill in the encounter: the claim appears here as you type.", "");
      return;
    }
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    const mine = ++sequence;
    let response;
    try {
      response = await api.send("/v1/code", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(encounter),
        signal: inFlight.signal,
      });
    } catch (err) {
      if (err.name !== "AbortError" && err.message !== "signed out") showStatus("The server cannot be reached; is dexacode serve still running?", "bad");
      return;
    }
    if (mine !== sequence) return;
    const body = await api.bodyOf(response);
    if (response.ok && body) {
      render(body, encounter);
      return;
    }
    const wait = api.waitAsked(response);
    if (wait !== null) {
      // The form as it is by then is sent: the coder may have typed on.
      showStatus(api.waitWords(response, wait), "warn");
      setTimeout(schedule, wait * 1000);
      return;
    }
    const reason = body && body.reason ? body.reason : `the server answered ${response.status}`;
    const field = body && body.field ? body.field : "";
    const target = markInvalid(field, rowsSent);
    const empty = emptyBox(target, reason);
    showStatus(empty ? `Not coded yet. Enter ${empty}.` : `Not coded yet. ${field ? field + ": " : ""}${reason}`, "warn");
  }

  // Pydantic's words for a required box left empty; the page says "Enter <its label>".
  const EMPTY_WORDS = /should have at least 1 character|expected a date written YYYY-MM-DD|required field is missing/;

  function emptyBox(target, reason) {
    if (!target || target.type === "checkbox" || target.value.trim() !== "" || !EMPTY_WORDS.test(reason)) return null;
    const own = target.id && form.querySelector(`label[for="${CSS.escape(target.id)}"]`);
    const words = (own ? own.textContent : target.getAttribute("aria-label") || "").trim();
    if (!words) return null;
    // "Claim id" -> "claim id", but "CPT of ..." keeps its capitals.
    return /^[A-Z][a-z]/.test(words) ? words[0].toLowerCase() + words.slice(1) : words;
  }

  function showStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = "status" + (kind ? " " + kind : "");
    if (kind !== "ok") {
      $("result-body").hidden = true;
      $("copy-json").disabled = true;
      $("print").disabled = true;
      lastResult = null;
    }
  }

  function clearInvalid() {
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  // Model-level checks name the object they are about; the page shows it as these inputs.
  const FIELD_ALIASES = { exam: "exam.sites" };

  // Point at the input a server error names: "patient.sex", "results[1].t_score", ...
  // A group (the site or risk factor checkboxes) marks each box in it. Returns the input.
  function markInvalid(field, rowsSent) {
    if (!field) return null;
    field = FIELD_ALIASES[field] || field;
    let target = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
    const inRow = field.match(/^(results|history|submitted\.lines)\[(\d+)\](?:\.(\w+))?/);
    if (!target && inRow) {
      const body = { results: "result-rows", history: "history-rows", "submitted.lines": "submitted-rows" }[inRow[1]];
      let index = Number(inRow[2]);
      if (rowsSent[inRow[1]]) index = rowsSent[inRow[1]][index] ?? index;
      const row = $(body).rows[index];
      if (row) target = row.querySelector(`[data-col="${inRow[3] || ""}"]`) || row.querySelector("input, select");
    }
    if (!target) {
      const parent = field.replace(/(\[\d+\])?(\.\w+)?$/, "");
      target = form.querySelector(`[data-field="${CSS.escape(parent)}"]`);
    }
    if (!target) return null;
    const boxes = target.matches("input, select") ? [target] : Array.from(target.querySelectorAll("input, select"));
    for (const box of boxes) box.setAttribute("aria-invalid", "true");
    return boxes.length === 1 ? boxes[0] : null;
  }

  // --- drawing the result ----------------------------------------------------------------

  function render(result, encounter) {
    lastResult = result;
    const counts = { error: 0, warning: 0, info: 0 };
    for (const f of result.findings) counts[f.severity] += 1;
    const lines = result.lines.length;
    let summary = `Coded: ${lines} line${lines === 1 ? "" : "s"}, ${result.diagnoses.length} diagnos${result.diagnoses.length === 1 ? "is" : "es"}`;
    if (counts.error || counts.warning) {
      summary += ` \u2014 ${counts.error} error${counts.error === 1 ? "" : "s"}, ${counts.warning} warning${counts.warning === 1 ? "" : "s"}`;
    } else {
      summary += " \u2014 no problems found";
    }
    showStatus(summary, counts.error ? "bad" : counts.warning ? "warn" : "ok");
    $("result-body").hidden = false;
    $("copy-json").disabled = false;
    $("print").disabled = false;
    const payer = $("payer").selectedOptions[0];
    $("meta").textContent = [
      `Claim ${result.claim_id}`,
      payer ? payer.textContent : result.payer,
      `date of service ${encounter.date_of_service}`,
      `rule book ${result.rules_version}`,
      `ICD-10-CM ${result.icd10cm_release}`,
    ].join(" \u00b7 ");
    renderLines(result);
    renderDiagnoses(result);
    renderReading(result);
    renderCharts(result, encounter);
    renderFindings(result);
  }

  function renderLines(result) {
    const body = $("lines");
    body.replaceChildren();
    if (result.lines.length === 0) {
      body.append(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "Nothing can be billed for this encounter." })));
    }
    result.lines.forEach((line, i) => {
      const reasons = line.modifier_reasons || {};
      const mods = el("td", { class: "mods" });
      const reasonId = `mod-reasons-${i}`;
      for (const code of line.modifiers) {
        mods.append(
          el("button", {
            type: "button",
            class: "mod",
            title: reasons[code] || "",
            "aria-expanded": "false",
            "aria-controls": reasonId,
            "aria-label": `Modifier ${code}: show why`,
            text: code,
          }),
        );
      }
      for (const code of line.unplaced_modifiers || []) {
        mods.append(el("span", { class: "mod unplaced", title: "applies but did not fit on the line (MODIFIER-OVERFLOW)", text: code }));
      }
      if (!line.modifiers.length && !(line.unplaced_modifiers || []).length) mods.append(el("span", { class: "muted", text: "none" }));
      const row = el(
        "tr",
        {},
        el("td", {}, el("strong", { class: "cpt", text: line.cpt })),
        el("td", { text: line.description }),
        mods,
        el("td", { class: "num", text: line.units }),
        el("td", { class: "num", text: line.diagnosis_pointers.join(", ") || "\u2014" }),
      );
      body.append(row);
      if (line.modifiers.length) {
        const why = el("ul", { class: "why" });
        for (const code of line.modifiers) {
          why.append(el("li", {}, el("strong", { text: code }), ` ${reasons[code] || "no reason recorded"}`));
        }
        const detail = el("tr", { id: reasonId, class: "reason-row", hidden: true }, el("td", { colspan: 5 }, why));
        body.append(detail);
        for (const button of mods.querySelectorAll("button.mod")) {
          button.addEventListener("click", () => {
            const open = detail.hidden;
            detail.hidden = !open;
            for (const b of mods.querySelectorAll("button.mod")) b.setAttribute("aria-expanded", String(open));
          });
        }
      }
    });
  }

  function renderDiagnoses(result) {
    const list = $("diagnoses");
    list.replaceChildren();
    const details = new Map((result.diagnosis_details || []).map((d) => [d.code, d]));
    for (const code of result.diagnoses) {
      const d = details.get(code) || { description: "", reason: "" };
      list.append(
        el(
          "li",
          {},
          el("code", { class: "dx", text: code }),
          el("span", { class: "dx-desc", text: d.description }),
          d.reason ? el("span", { class: "dx-why", text: d.reason }) : null,
        ),
      );
    }
    if (!result.diagnoses.length) list.append(el("li", { class: "muted", text: "No diagnosis." }));
  }

  function label(site) {
    return config.siteLabels[site] || site.replace(/_/g, " ");
  }

  function renderReading(result) {
    const dl = $("reading");
    dl.replaceChildren();
    const add = (term, text) => {
      if (text === null || text === undefined || text === "") return;
      dl.append(el("dt", { text: term }), el("dd", { text }));
    };
    const reading = result.interpretation;
    add("Reading", reading.label || reading.category || "no diagnostic result");
    if (reading.basis) {
      const b = reading.basis;
      const score = reading.scale === "t_score" ? b.t_score : b.z_score;
      const name = reading.scale === "t_score" ? "T" : "Z";
      add("Decided by", `${label(b.site)}, ${b.region.replace(/_/g, " ")}${score === null ? "" : `, ${name} = ${signed(score)}`}`);
    }
    const c = result.coverage;
    if (c.medicare_category) add("Medicare category", c.medicare_category.replace(/_/g, " "));
    if (c.guideline_indicated !== null) add("Screening guideline", c.guideline_indicated ? "indicated" : "not indicated");
    add("Next covered study", c.next_eligible_date || "no earlier covered study");
    add("ABN", c.abn_advised ? "advised (a line carries GA or GZ)" : "not needed");
  }

  // The engine alone decides which results are read: only sites in exam.sites
  // (RESULT-SITE-NOT-MEASURED), one lumbar region and no shorter one standing in for it
  // (LUMBAR-SCORE-MISSING), the lowest of those deciding. Its answer lists every result
  // it weighed (interpretation.results_read) and the one that decided (basis), so a
  // chart's mark comes from that answer, never from the page's own choice of region: the
  // charts then cannot contradict the reading.
  function standing(r, result, encounter) {
    const reading = result.interpretation;
    const same = (b) => b.site === r.site && b.region === r.region;
    if (!encounter.exam.sites.includes(r.site)) return { kind: "not-read", note: "not measured in this exam: not read" };
    if (reading.basis && same(reading.basis)) return { kind: "decides", note: "decides" };
    if ((reading.results_read || []).some(same)) return { kind: "", note: "read, does not decide" };
    if (r.site === config.regions.lumbarSite) {
      if (result.findings.some((f) => f.id === "LUMBAR-SCORE-MISSING")) {
        return { kind: "not-read", note: "spine not read: the lumbar region that counts has no T-score" };
      }
      return { kind: "not-read", note: "not read: one lumbar region counts" };
    }
    return { kind: "not-read", note: "not read" };
  }

  // Which results get a chart at all: a T-score at a region the rule book's [regions]
  // table may read (any lumbar region: which one counts is the engine's choice).
  function chartable(r) {
    const g = config.regions;
    if (r.site === g.lumbarSite) return true;
    if (g.hipSites.includes(r.site)) return g.hipRegions.includes(r.region);
    if (g.forearmSites.includes(r.site)) return g.forearmRegions.includes(r.region);
    return false;
  }

  function renderCharts(result, encounter) {
    const holder = $("charts");
    holder.replaceChildren();
    const reading = result.interpretation;
    const wanted = encounter.results.filter((r) => typeof r.t_score === "number" && chartable(r));
    const show = reading.scale === "t_score" && wanted.length > 0;
    $("charts-part").hidden = !show;
    if (!show) return;
    for (const r of wanted) holder.append(chart(r, standing(r, result, encounter)));
  }

  // A vertical scale from +2 to -5 with the WHO bands, as on the DXA report.
  function chart(r, standing) {
    const c = config.chart;
    const width = 172, height = 208, top = 30, bottom = height - 12, left = 28, bar = 68;
    const span = c.top - c.bottom;
    const y = (score) => top + ((c.top - Math.min(c.top, Math.max(c.bottom, score))) / span) * (bottom - top);
    const title = `${label(r.site)}, ${r.region.replace(/_/g, " ")}`;
    const decides = standing.kind === "decides";
    const node = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `${title}: T-score ${signed(r.t_score)}, ${standing.note}`,
      class: "chart" + (standing.kind ? " " + standing.kind : ""),
    });
    node.append(svg("text", { x: 4, y: 12, class: "chart-title" }, title));
    if (decides) node.append(svg("text", { x: 4, y: 24, class: "chart-flag" }, "\u25b2 decides the reading"));
    const bands = [
      [c.top, c.normalFrom, c.colors[0], "normal"],
      [c.normalFrom, c.osteoporosisAt, c.colors[1], "low bone mass"],
      [c.osteoporosisAt, c.bottom, c.colors[2], "osteoporosis"],
    ];
    for (const [high, low, color, words] of bands) {
      node.append(svg("rect", { x: left, y: y(high), width: bar, height: y(low) - y(high), fill: color }));
      const mid = (y(high) + y(low)) / 2 + 3;
      node.append(svg("text", { x: left + bar + 5, y: mid, class: "band" }, words));
    }
    for (let tick = c.top; tick >= c.bottom; tick -= 1) {
      node.append(svg("text", { x: left - 5, y: y(tick) + 3, class: "tick", "text-anchor": "end" }, tick > 0 ? `+${tick}` : minus(tick)));
    }
    for (const border of [c.normalFrom, c.osteoporosisAt]) {
      node.append(svg("line", { x1: left, x2: left + bar, y1: y(border), y2: y(border), class: "border" }));
    }
    const m = y(r.t_score);
    node.append(svg("line", { x1: left - 3, x2: left + bar + 3, y1: m, y2: m, class: "marker" }));
    node.append(svg("circle", { cx: left + bar / 2, cy: m, r: 4.5, class: "dot" }));
    const labelY = m < top + 14 ? m + 16 : m - 8;
    node.append(svg("text", { x: left + bar / 2, y: labelY, class: "value", "text-anchor": "middle" }, `T = ${signed(r.t_score)}`));
    const note = standing.kind === "not-read" ? el("figcaption", { class: "chart-note", text: standing.note }) : null;
    return el("figure", { class: "chart-box" + (standing.kind ? " " + standing.kind : "") }, node, note);
  }

  function renderFindings(result) {
    const holder = $("findings");
    holder.replaceChildren();
    const groups = [
      ["error", "Errors: fix before sending"],
      ["warning", "Warnings: check"],
      ["info", "Notes"],
    ];
    if (!result.findings.length) holder.append(el("p", { class: "muted", text: "No findings." }));
    for (const [severity, heading] of groups) {
      const items = result.findings.filter((f) => f.severity === severity);
      if (!items.length) continue;
      const section = el("section", { class: `findings sev-${severity}`, "aria-label": heading });
      section.append(el("h4", {}, heading, el("span", { class: "count", text: ` ${items.length}` })));
      for (const f of items) {
        const sources = el("p", { class: "sources" }, "Sources: ");
        f.sources.forEach((key, i) => {
          const src = config.sources[key];
          if (i) sources.append("; ");
          sources.append(src ? el("a", { href: src.url, target: "_blank", rel: "noopener noreferrer", text: src.title }) : key);
        });
        section.append(
          el(
            "article",
            { class: "finding" },
            el("div", { class: "finding-head" },
              el("span", { class: `badge ${severity}`, text: severity }),
              el("code", { class: "fid", text: f.id }),
              f.line ? el("span", { class: "on-line", text: `line ${f.line}` }) : null),
            el("p", { class: "message", text: f.message }),
            f.action && !f.message.includes(f.action) ? el("p", { class: "action" }, el("strong", { text: "What to do: " }), f.action) : null,
            f.sources.length ? sources : null,
          ),
        );
      }
      holder.append(section);
    }
  }

  // --- buttons ---------------------------------------------------------------------------

  async function copyJson() {
    if (!lastResult) return;
    const text = JSON.stringify(lastResult, null, 2);
    const button = $("copy-json");
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const area = el("textarea", { class: "offscreen", "aria-hidden": "true" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy as JSON"), 1500);
  }

  function updateRiskCount() {
    const n = form.querySelectorAll('input[name="risk_factors"]:checked').length;
    $("risk-count").textContent = n ? `(${n} ticked)` : "";
  }

  function clearForm() {
    form.reset();
    defaultRows();
    $("submitted-part").hidden = true;
    updateRiskCount();
    schedule();
    $("claim_id").focus();
  }

  form.addEventListener("input", () => {
    updateRiskCount();
    schedule();
  });
  form.addEventListener("change", schedule);
  $("check_submitted").addEventListener("change", (e) => {
    $("submitted-part").hidden = !e.target.checked;
  });
  $("add-result").addEventListener("click", () => addRow("result-row", "result-rows", {}).querySelector("select").focus());
  $("add-history").addEventListener("click", () => addRow("history-row", "history-rows", {}).querySelector("input").focus());
  $("add-submitted").addEventListener("click", () => addRow("submitted-row", "submitted-rows", {}).querySelector("input").focus());
  $("copy-json").addEventListener("click", copyJson);
  $("print").addEventListener("click", () => window.print());
  $("clear-form").addEventListener("click", clearForm);
  defaultRows();
  schedule();
})();
