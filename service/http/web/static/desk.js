// commentmod moderators' page: the site rules form and the activity view (loaded by app.js).
// Every piece of data goes into the page as text, never as HTML.
"use strict";

(() => {
  const { api, el, button, THRESHOLDS } = window.commentmodPage;
  const $ = (id) => document.getElementById(id);

  // ---- site rules: a form over the JSON document (the JSON stays editable under "advanced") --------
  const LISTS = [
    ["reject", "Banned words: reject", "One word per line; matched as whole words after evasion folding."],
    ["hold", "Banned words: hold", "One word per line; held even for trusted authors."],
    ["regex", "Banned patterns (RE2)", "One per line; start a line with “reject: ” to reject outright."],
    ["suspect", "Suspect words: hold", "One word per line; trusted authors pass."],
    ["premoderate", "Pre-moderated threads", "One thread (article URL) per line: every comment is held."],
  ];
  let loaded = {};  // the document as loaded: fields the form does not show are kept
  let lastEdited = "form";
  let bannedFrom = [];  // banned[i] -> the field it came from, to place the server's errors

  function field(id, label, input, help) {
    input.id = `rf-${id}`;
    const error = el("p", "field-error");
    error.id = `rf-${id}-error`;
    const hint = help ? el("p", "hint", help) : null;
    if (hint) { hint.id = `rf-${id}-hint`; input.setAttribute("aria-describedby", `${hint.id} ${error.id}`); }
    else input.setAttribute("aria-describedby", error.id);
    const lab = el("label", null, label);
    lab.htmlFor = input.id;
    input.addEventListener("input", () => { lastEdited = "form"; syncJson(); });
    return el("div", "field", lab, input, hint, error);
  }

  function buildFields() {
    const box = $("rules-fields");
    const parts = LISTS.map(([id, label, help]) => {
      const area = el("textarea");
      area.rows = 2;
      area.spellcheck = false;
      return field(id, label, area, help);
    });
    const links = el("input");
    links.type = "text";
    links.inputMode = "numeric";
    parts.push(field("max-links", "Most links in a comment", links, "Empty: no limit."));
    const th = el("fieldset", "thresholds", el("legend", null, "Score thresholds (empty: the service default)"));
    th.id = "rf-thresholds";
    for (const [name, value] of Object.entries(THRESHOLDS)) {
      const input = el("input");
      input.type = "text";
      input.inputMode = "decimal";
      input.placeholder = String(value);
      th.append(field(`th-${name}`, name.replace(/_/g, " "), input));
    }
    parts.push(th);
    box.replaceChildren(...parts);
  }

  const lines = (id) => $(`rf-${id}`).value.split("\n").map((s) => s.trim()).filter(Boolean);

  function fromForm() {
    const doc = { ...loaded };
    const banned = [];
    bannedFrom = [];
    for (const p of lines("reject")) { banned.push({ pattern: p, kind: "word", action: "reject" }); bannedFrom.push("reject"); }
    for (const p of lines("hold")) { banned.push({ pattern: p, kind: "word", action: "hold" }); bannedFrom.push("hold"); }
    for (const line of lines("regex")) {
      const reject = line.startsWith("reject: ");
      banned.push({ pattern: reject ? line.slice(8).trim() : line, kind: "regex", action: reject ? "reject" : "hold" });
      bannedFrom.push("regex");
    }
    doc.banned = banned;
    doc.suspect = lines("suspect");
    doc.premoderate_threads = lines("premoderate");
    const links = $("rf-max-links").value.trim();
    doc.max_links = links === "" ? null : /^-?\d+$/.test(links) ? Number(links) : links;
    const thresholds = {};
    for (const name of Object.keys(THRESHOLDS)) {
      const raw = $(`rf-th-${name}`).value.trim();
      if (raw !== "") thresholds[name] = isFinite(Number(raw)) ? Number(raw) : raw;
    }
    for (const [name, value] of Object.entries(loaded.thresholds || {})) if (!(name in THRESHOLDS)) thresholds[name] = value;
    doc.thresholds = thresholds;
    return doc;
  }

  function toForm(doc) {
    loaded = doc || {};
    const banned = loaded.banned || [];
    const words = (action) => banned.filter((b) => b.kind === "word" && b.action === action).map((b) => b.pattern);
    $("rf-reject").value = words("reject").join("\n");
    $("rf-hold").value = words("hold").join("\n");
    $("rf-regex").value = banned.filter((b) => b.kind === "regex")
      .map((b) => (b.action === "reject" ? `reject: ${b.pattern}` : b.pattern)).join("\n");
    $("rf-suspect").value = (loaded.suspect || []).join("\n");
    $("rf-premoderate").value = (loaded.premoderate_threads || []).join("\n");
    $("rf-max-links").value = loaded.max_links === null || loaded.max_links === undefined ? "" : String(loaded.max_links);
    for (const name of Object.keys(THRESHOLDS)) {
      const value = (loaded.thresholds || {})[name];
      $(`rf-th-${name}`).value = value === undefined ? "" : String(value);
    }
    $("rules-doc").value = JSON.stringify(loaded, null, 2);
    lastEdited = "form";
  }

  function syncJson() { $("rules-doc").value = JSON.stringify(fromForm(), null, 2); }

  function clearErrors() {
    document.querySelectorAll("#rules-form .field-error").forEach((p) => { p.textContent = ""; });
    document.querySelectorAll("#rules-form [aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }

  // The server's field names (``max_links``, ``banned[2].pattern``, ``thresholds.toxicity``) -> form fields.
  function fieldFor(name) {
    const banned = /^banned\[(\d+)\]/.exec(name);
    if (banned) return lastEdited === "form" ? bannedFrom[Number(banned[1])] || "reject" : null;
    if (name === "max_links") return "max-links";
    if (name === "suspect") return "suspect";
    if (name === "premoderate_threads") return "premoderate";
    const th = /^thresholds\.(.+)$/.exec(name);
    if (th && $(`rf-th-${th[1]}`)) return `th-${th[1]}`;
    return null;
  }

  function showErrors(fields) {
    const other = [];
    for (const [name, message] of Object.entries(fields || {})) {
      const id = fieldFor(name);
      const input = id && $(`rf-${id}`);
      if (!input) { other.push(`${name}: ${message}`); continue; }
      input.setAttribute("aria-invalid", "true");
      const box = $(`rf-${id}-error`);
      box.textContent = box.textContent ? `${box.textContent}; ${message}` : message;
    }
    return other;
  }

  const rulesUrl = () => `/v1/moderation/rules/${encodeURIComponent($("rules-site").value.trim())}`;
  const rulesStatus = (text) => { $("rules-status").textContent = text; };

  $("rules-doc").addEventListener("input", () => { lastEdited = "json"; });
  $("rules-load").addEventListener("click", async () => {
    clearErrors();
    try {
      const data = await api(rulesUrl());
      toForm(data.rules);
      rulesStatus(`loaded (${data.audit.length} recent changes)`);
    } catch (err) { rulesStatus(`not loaded: ${err.message}`); }
  });
  $("rules-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    let doc;
    if (lastEdited === "json") {
      try { doc = JSON.parse($("rules-doc").value || "{}"); } catch { rulesStatus("not JSON"); return; }
    } else doc = fromForm();
    try {
      const data = await api(rulesUrl(), { method: "PUT", body: doc });
      toForm(data.rules);
      rulesStatus("saved");
    } catch (err) {
      const other = showErrors(err.data && err.data.fields);
      rulesStatus(`not saved: ${err.message}${other.length ? ` (${other.join("; ")})` : ""}`);
      document.querySelector("#rules-form [aria-invalid]")?.focus();
    }
  });
  buildFields();

  // ---- activity: held now, the oldest, today's decisions per moderator, the latest actions ------------
  const age = (s) => (typeof s !== "number" ? "–" : s < 3600 ? `${Math.round(s / 60)} min`
    : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`);

  function auditLine(a) {
    const at = new Date(Number(a.at) * 1000).toLocaleTimeString();
    const what = a.id ? `comment ${a.id.slice(-6)}` : a.author ? `author ${a.author.slice(0, 8)}` : a.site || "";
    const change = a.from || a.to ? ` ${a.from || "–"} → ${a.to}` : "";
    return el("li", null, `${at} · ${String(a.actor).replace(/^moderator:/, "")} · ${a.action} ${what}${change}`);
  }

  async function refreshActivity() {
    const panel = $("activity-panel");
    let data, audit;
    try {
      [data, audit] = await Promise.all([api("/v1/moderation/activity"), api("/v1/moderation/audit?limit=15")]);
    } catch (e) { panel.replaceChildren(el("p", null, `Not loaded: ${e.message}`)); return; }
    const per = Object.entries(data.per_moderator).map(([name, n]) => el("li", null, `${name}: ${n}`));
    panel.replaceChildren(
      el("dl", "stats",
        el("dt", null, "Held now"), el("dd", "held-now", String(data.held_now)),
        el("dt", null, "Oldest held"), el("dd", "oldest", age(data.oldest_held_age_s)),
        el("dt", null, "Decided today"), el("dd", "decided-today", String(data.decided_today))),
      el("h3", null, "Today per moderator"),
      per.length ? el("ul", "per-moderator", ...per) : el("p", "muted", "No decisions yet today."),
      el("h3", null, "Latest actions"),
      el("ol", "audit-log", ...audit.items.map(auditLine)),
      button("Refresh", refreshActivity));
  }
  $("activity").addEventListener("toggle", () => { if ($("activity").open) refreshActivity(); });
})();
