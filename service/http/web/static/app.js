// commentmod moderators' page. Vanilla JS, no build step.
// Every piece of comment data goes into the page as text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const CSRF = document.body.dataset.csrf || "";
  const THRESHOLDS = JSON.parse(document.body.dataset.thresholds || "{}");
  const UNDO_MS = 5000;
  const POLL_MS = 15000;
  const PAGE = 50;
  const REASONS = {
    toxicity: "Toxic language", severe_toxicity: "Severely toxic language", obscene: "Obscene language",
    threat: "Threat", insult: "Insult", identity_attack: "Attack on an identity",
    sexual_explicit: "Sexually explicit", spam: "Looks like spam",
    scoring_failed: "Automatic scoring failed: a person must decide", none: "No reason recorded",
    banned_pattern: "Banned by a site rule", suspect_word: "Suspect word", too_many_links: "Too many links",
    premoderated_thread: "Pre-moderated thread", banned_author: "Banned author",
    language_unsupported: "Language no loaded model reads: a person must decide",
  };
  const SHORT = { scoring_failed: "Scoring failed", identity_attack: "Identity attack", language_unsupported: "Language not scored" };  // chip labels
  const SIGNALS = {
    link: "links", link_shortener: "link shortener", name_url: "a URL as the name",
    name_sales: "sales words in the name", repeated_chars: "repeated characters", spam_phrase: "spam phrases",
    disposable_email: "disposable email address", honeypot: "hidden form field filled in",
    too_fast: "form sent too fast", rate_email: "many comments from this email",
    rate_ip: "many comments from this IP", duplicate_body: "same text posted elsewhere",
    spam_domain: "links to domains seen in spam",
  };
  // Per list: the two row actions (a / r keys) and their labels.
  const ACTIONS = {
    held: [["approve", "Approve", "Approved"], ["reject", "Reject", "Rejected"]],
    published: [["unpublish", "Unpublish", "Unpublished"]],
    rejected: [["reinstate", "Reinstate", "Reinstated"]],
  };
  const KEY_ACTION = { a: ["approve", "reinstate"], r: ["reject", "unpublish"] };

  const state = {
    view: "held", filters: { reason: "", site: "", thread: "", q: "", author: "" },
    items: [], cursor: null, resume: null, focus: 0, selected: new Set(), cards: new Map(),
    batches: [], counts: null, loading: 0, fresh: 0,
  };
  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers: data only ever becomes text -------------------------------------------
  function el(tag, cls, ...children) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  function button(label, onClick, cls) {
    const b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }
  const fmt = (n) => (typeof n === "number" && isFinite(n) ? n.toFixed(2) : "–");
  const words = (code) => REASONS[code] || String(code).replace(/_/g, " ");
  const short = (code) => SHORT[code] || words(code);
  function ago(iso) {
    const date = new Date(iso);
    if (!iso || isNaN(date)) return "";
    const mins = Math.round((Date.now() - date.getTime()) / 60000);
    return mins < 1 ? "just now" : mins < 60 ? `${mins} min ago`
      : mins < 2880 ? `${Math.round(mins / 60)} h ago` : `${Math.round(mins / 1440)} days ago`;
  }
  function announce(text) { $("announce").textContent = text; }

  // ---- API ---------------------------------------------------------------------------------
  async function api(path, { method = "GET", body, keepalive = false } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
    const res = await fetch(path, {
      method, headers, keepalive, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) { location.assign("/moderate"); throw new Error("signed out"); }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { const e = new Error(data.message || `HTTP ${res.status}`); e.data = data; throw e; }
    return data;
  }
  const commentUrl = (id, extra = "") => `/v1/moderation/comments/${encodeURIComponent(id)}/history${extra}`;
  const contextUrl = (id) => `/v1/moderation/comments/${encodeURIComponent(id)}/context`;

  // ---- one comment -------------------------------------------------------------------------
  function reasonText(r) {
    let text = words(r.code);
    if (r.rule) text += `: “${r.rule}”`;
    if (typeof r.score === "number") {
      text += `: score ${fmt(r.score)}`;
      if (typeof r.threshold === "number") text += ` at or over the threshold ${fmt(r.threshold)}`;
    }
    const signals = Array.isArray(r.signals) ? r.signals.map(String) : [];
    if (r.code === "spam" && signals.length) text += ` (${signals.map((s) => SIGNALS[s] || s).join(", ")})`;
    if (r.code === "scoring_failed" && signals.length) text += ` (${signals[0]})`;
    return text;
  }

  // Span offsets are code points into the body (as Python counts them), so index by code point.
  function spansOf(chars, reasons) {
    const spans = [];
    for (const r of reasons || []) {
      for (const s of (r && Array.isArray(r.spans) ? r.spans : [])) {
        if (!Array.isArray(s) || !Number.isInteger(s[0]) || !Number.isInteger(s[1])) continue;
        const a = Math.max(0, s[0]), b = Math.min(chars.length, s[1]);
        if (a < b) spans.push([a, b]);
      }
    }
    return spans.sort((x, y) => x[0] - y[0]);
  }

  function bodyNode(text, reasons) {
    const chars = Array.from(String(text));
    const node = el("p", "body");
    let pos = 0;
    for (const [a, b] of spansOf(chars, reasons)) {
      if (b <= pos) continue;
      const start = Math.max(a, pos);
      if (start > pos) node.append(chars.slice(pos, start).join(""));
      node.append(el("mark", null, chars.slice(start, b).join("")));
      pos = b;
    }
    if (pos < chars.length) node.append(chars.slice(pos).join(""));
    return node;
  }

  // The reason chips (text only) and, beside them, the words the reasons point at.
  function reasonChips(item) {
    const reasons = item.reasons || [];
    const list = el("ul", "reasons", ...reasons.map((r) => {
      const li = el("li", `chip reason-${String(r.code).replace(/[^a-z_]/g, "")}`,
        r.rule ? `${short(r.code)}: ${r.rule}` : short(r.code));
      li.title = reasonText(r);
      return li;
    }));
    const chars = Array.from(String(item.body));
    const seen = new Set();
    const hits = el("span", "hits");
    for (const [a, b] of spansOf(chars, reasons)) {
      const word = chars.slice(a, b).join("");
      if (seen.has(word) || seen.size >= 4) continue;
      seen.add(word);
      hits.append(el("mark", null, word));
    }
    return [list, seen.size ? hits : null];
  }

  function scoreBars(scores) {
    const box = el("div", "scores");
    for (const [name, raw] of Object.entries(scores || {})) {
      const value = Number(raw), threshold = THRESHOLDS[name];
      const over = typeof threshold === "number" && value >= threshold;
      const track = el("div", "track");
      const fill = el("div", over ? "fill over" : "fill");
      fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
      track.append(fill);
      if (typeof threshold === "number") {
        const mark = el("div", "mark");
        mark.style.left = `${threshold * 100}%`;
        track.append(mark);
      }
      track.setAttribute("role", "meter");
      track.setAttribute("aria-valuenow", String(value));
      track.setAttribute("aria-valuemin", "0");
      track.setAttribute("aria-valuemax", "1");
      track.setAttribute("aria-label", name);
      const label = typeof threshold === "number" ? `${fmt(value)} / ${fmt(threshold)}` : fmt(value);
      box.append(el("div", "score", el("span", "score-name", name.replace(/_/g, " ")), track,
        el("span", "score-value", label)));
    }
    return box;
  }

  function auditList(entries) {
    const list = el("ol", "audit");
    for (const a of entries) {
      const at = new Date(Number(a.at) * 1000).toLocaleString();
      const line = `${at} · ${a.actor} · ${a.action} · ${a.from} → ${a.to}`;
      list.append(el("li", null, line, a.note ? el("q", null, a.note) : null));
    }
    return list;
  }

  // ---- context: thread, parent, author (with actions) --------------------------------------------
  function brief(c, label) {
    const verdict = c.verdict ? `, automatic verdict ${c.verdict}` : "";
    return el("div", "brief", el("span", "brief-head", `${label}${c.name} · ${c.status}${verdict} · ${ago(c.created_at)}`),
      el("p", "brief-body", c.body));
  }

  function authorBox(ctx) {
    const a = ctx.author;
    const standing = el("span", "standing", `${a.standing}, ${a.approved} published`);
    const set = (value, label) => button(label, async () => {
      try {
        const url = `/v1/moderation/authors/${encodeURIComponent(a.site)}/${encodeURIComponent(a.id)}`;
        const res = await api(url, { method: "PUT", body: { standing: value } });
        standing.textContent = `${res.standing}, ${res.approved} published`;
        toast(`Author ${a.name}: ${res.standing}`);
      } catch (e) { toast(`Not changed: ${e.message}`); }
    }, `author-${value}`);
    return el("div", "author", el("span", "author-head", "Author ", el("b", null, a.name), " · "), standing,
      el("span", "author-actions", set("trusted", "Trust"), set("banned", "Ban"), set("normal", "Reset"),
        button("All comments by this author", () => setFilter("author", a.id), "link all-by-author")));
  }

  async function showContext(item, box) {
    let ctx;
    try { ctx = await api(contextUrl(item.id)); } catch (e) { box.replaceChildren(el("p", null, e.message)); return; }
    const parts = [el("p", "ctx-thread", "Article: ", el("span", "thread-url", ctx.thread || "(no thread)"))];
    if (ctx.parent) parts.push(brief(ctx.parent, "In reply to "));
    else if (ctx.parent_id) parts.push(el("p", null, "In reply to a comment that is no longer stored."));
    parts.push(authorBox(ctx));
    const recent = ctx.author_recent.length ? ctx.author_recent.map((c) => brief(c, ""))
      : [el("p", "muted", "No other recent comments by this author.")];
    parts.push(el("div", "recent", el("h3", null, "Their recent comments"), ...recent));
    box.replaceChildren(...parts);
  }

  function toggleExtra(node, kind, fill) {
    const box = node.extra;
    if (box.dataset.kind === kind && !box.hidden) { box.hidden = true; return; }
    box.dataset.kind = kind;
    box.hidden = false;
    box.replaceChildren(el("p", "muted", "Loading…"));
    fill(box);
  }

  function card(item) {
    const node = el("article", `card status-${state.view}`);
    node.tabIndex = -1;
    node.setAttribute("aria-label", `Comment by ${item.name}`);
    const email = el("span", "email");
    const pick = el("input");
    pick.type = "checkbox";
    pick.setAttribute("aria-label", "select");
    pick.addEventListener("change", () => { toggle(item.id, pick.checked); });
    const thread = button(item.thread || "(no thread)", () => setFilter("thread", item.thread || ""), "link thread");
    const emailButton = button("Show email", async () => {
      email.textContent = (await api(commentUrl(item.id, "?include=email"))).email || "";
      emailButton.remove();
    }, "link");
    const extra = el("div", "extra");
    extra.hidden = true;
    node.extra = extra;
    const tools = el("span", "tools-row",
      button("Context", () => toggleExtra(node, "context", (box) => showContext(item, box)), "link ctx"),
      button("Scores", () => toggleExtra(node, "scores", (box) => box.replaceChildren(
        scoreBars(item.scores), el("ul", "reason-text", ...(item.reasons || []).map((r) => el("li", null, reasonText(r)))))), "link show-scores"),
      button("History", () => toggleExtra(node, "history", async (box) => {
        box.replaceChildren(auditList((await api(commentUrl(item.id))).audit || []));
      }), "link"),
      emailButton, email);
    const [chips, hits] = reasonChips(item);
    const when = el("time", null, ago(item.created_at));
    when.dateTime = item.created_at || "";
    const meta = el("div", "meta", chips, hits, el("span", "name", item.name), when, thread,
      el("span", "site", item.site), tools);
    const main = el("div", "main", bodyNode(item.body, item.reasons), meta, extra);
    const note = el("input", "note");
    note.placeholder = "Note";
    note.maxLength = 2000;
    note.setAttribute("aria-label", "Note (optional)");
    node.noteInput = note;
    const buttons = ACTIONS[state.view].map(([action, label]) =>
      button(label, () => schedule([item.id], action, note.value), action));
    if (state.view !== "held") {
      const decided = el("span", "decided", `${item.status} by ${item.decided_by || "?"} ${ago(item.decided_at)}`);
      meta.append(decided);
    }
    node.append(state.view === "held" ? pick : el("span", "nopick"), main, el("div", "actions", ...buttons, note));
    node.pick = state.view === "held" ? pick : null;
    node.addEventListener("click", () => { state.focus = visible().indexOf(item); paintFocus(); });
    return node;
  }

  // ---- list and toolbar ----------------------------------------------------------------------
  const pendingIds = () => new Set(state.batches.flatMap((b) => b.ids));
  function visible() { const p = pendingIds(); return state.items.filter((i) => !p.has(i.id)); }

  function render() {
    const items = visible();
    state.focus = Math.max(0, Math.min(state.focus, items.length - 1));
    const nodes = items.map((item) => {
      if (!state.cards.has(item.id)) state.cards.set(item.id, card(item));
      const node = state.cards.get(item.id);
      if (node.pick) node.pick.checked = state.selected.has(item.id);
      return node;
    });
    const empty = state.loading ? "Loading…" : state.view === "held" ? "Nothing held. Well done." : "Nothing here.";
    const list = $("list");
    if (!nodes.length) list.replaceChildren(el("p", "empty", empty));
    else syncChildren(list, nodes);
    $("more").replaceChildren(state.cursor ? button("Load more", () => load(true), "more") : "");
    paintFocus();
    paintBulk();
  }

  // Replace the list's rows without re-inserting the ones that stay: the reader's place and focus hold.
  function syncChildren(list, nodes) {
    const keep = new Set(nodes);
    for (const child of [...list.children]) if (!keep.has(child)) child.remove();
    let prev = null;
    for (const node of nodes) {
      const want = prev ? prev.nextSibling : list.firstChild;
      if (want !== node) list.insertBefore(node, want);
      prev = node;
    }
  }

  function paintFocus() {
    visible().forEach((item, i) => state.cards.get(item.id)?.classList.toggle("focused", i === state.focus));
  }

  function paintBulk() {
    const n = [...state.selected].filter((id) => !pendingIds().has(id)).length;
    document.querySelectorAll("[data-bulk]").forEach((b) => {
      b.disabled = n === 0;
      b.textContent = `${b.dataset.bulk === "approve" ? "Approve" : "Reject"} selected (${n})`;
    });
  }

  function renderCounts() {
    const box = $("counts");
    if (state.view !== "held" || !state.counts) { box.replaceChildren(); return; }
    const c = state.counts;
    const chips = Object.entries(c.reasons).map(([code, n]) => {
      const b = button(`${short(code)}: ${n}`, () => setFilter("reason", state.filters.reason === code ? "" : code), "chip");
      b.setAttribute("aria-pressed", String(state.filters.reason === code));
      return b;
    });
    box.replaceChildren(el("span", "total", `${c.held_total} held`), ...chips);
    fillFilters();
  }

  // The filter selects show the held queue's reasons and sites, and always the current choice.
  function fillFilters() {
    const c = state.counts || { reasons: {}, sites: {} };
    fillSelect("filter-reason", "any reason", Object.keys(c.reasons), words, state.filters.reason);
    fillSelect("filter-site", "any site", Object.keys(c.sites), String, state.filters.site);
  }

  function fillSelect(id, anyLabel, values, label, current) {
    const select = $(id);
    if (!select) return;
    const options = [el("option", null, anyLabel)];
    options[0].value = "";
    for (const v of new Set([...values, ...(current ? [current] : [])])) {
      const o = el("option", null, label(v));
      o.value = v;
      options.push(o);
    }
    select.replaceChildren(...options);
    select.value = current;
  }

  function filterChip(name, label) {
    if (!state.filters[name]) return [];
    return [el("span", "chip", `${label}: `, el("b", null, state.filters[name])),
      button(`clear ${label}`, () => setFilter(name, ""), "link")];
  }

  function toolbar() {
    const bar = $("toolbar");
    const search = el("input", "search");
    search.id = "search";
    search.type = "search";
    search.placeholder = state.view === "held" ? "Search held comments" : `Search ${state.view} comments`;
    search.setAttribute("aria-label", search.placeholder);
    search.value = state.filters.q;
    search.addEventListener("keydown", (e) => { if (e.key === "Enter") setFilter("q", search.value.trim()); });
    const parts = [search, button("Search", () => setFilter("q", search.value.trim()))];
    for (const name of ["reason", "site"]) {
      if (state.view !== "held") continue;  // the choices come from the held queue's counts
      const select = el("select");
      select.id = `filter-${name}`;
      select.setAttribute("aria-label", `filter by ${name}`);
      select.addEventListener("change", () => setFilter(name, select.value));
      parts.push(select);
    }
    parts.push(...filterChip("thread", "thread"), ...filterChip("author", "author"));
    if (state.view === "held") {
      const all = el("input");
      all.type = "checkbox";
      all.id = "select-all";
      all.addEventListener("change", () => { visible().forEach((i) => toggle(i.id, all.checked, true)); render(); });
      const note = el("input", "note");
      note.id = "bulk-note";
      note.placeholder = "Note for selected";
      note.setAttribute("aria-label", "Note for the selected comments (optional)");
      const bulk = (action) => {
        const b = button("", () => bulkAct(action, note.value), action);
        b.dataset.bulk = action;
        return b;
      };
      parts.push(el("label", "select-all", all, " all"), note, bulk("approve"), bulk("reject"));
    }
    bar.replaceChildren(...parts);
    if (state.view === "held") fillFilters();  // the new selects are in the page now
  }

  function toggle(id, on, quiet) {
    if (on) state.selected.add(id); else state.selected.delete(id);
    if (!quiet) paintBulk();
  }

  function setFilter(name, value) {
    state.filters[name] = value;
    load(false);
  }

  function listQuery(cursor) {
    const query = new URLSearchParams({ status: state.view, limit: String(PAGE) });
    for (const [k, v] of Object.entries(state.filters)) if (v && (k !== "reason" || state.view === "held")) query.set(k, v);
    if (cursor) query.set("cursor", cursor);
    return query;
  }

  async function load(more) {
    const query = listQuery(more ? state.cursor : null);
    if (!more) {
      state.items = []; state.cursor = null; state.resume = null; state.focus = 0; state.selected.clear();
      state.cards.clear(); toolbar();
    }
    state.loading++;
    render();
    try {
      const data = await api(`/v1/moderation/comments?${query}`);
      const known = new Set(state.items.map((i) => i.id));
      state.items.push(...data.items.filter((i) => !known.has(i.id)));
      state.cursor = data.next_cursor;
      state.resume = data.resume_cursor || state.resume;
    } catch (e) { toast(`Could not load: ${e.message}`); } finally { state.loading--; }
    render();
    if (!more) refreshCounts();
  }

  // New holds: ask for what follows the end of the queue; they join the end, so the reader stays put.
  async function poll() {
    if (state.view !== "held" || state.loading || document.hidden) return;
    if (state.cursor) {  // the end of the queue is not loaded yet: count what arrived, insert nothing
      const before = state.counts ? state.counts.held_total : null;
      await refreshCounts();
      const grown = state.counts && before !== null ? state.counts.held_total - before : 0;
      if (grown > 0) announce(`${grown} more held comment${grown > 1 ? "s" : ""} at the end of the queue`);
      return;
    }
    let data;
    try { data = await api(`/v1/moderation/comments?${listQuery(state.resume)}`); } catch { return; }
    if (state.view !== "held" || state.cursor) return;
    const known = new Set(state.items.map((i) => i.id));
    const fresh = data.items.filter((i) => !known.has(i.id));
    state.resume = data.resume_cursor || state.resume;
    if (data.next_cursor) state.cursor = data.next_cursor;
    if (!fresh.length) return;
    state.items.push(...fresh);
    render();
    announce(`${fresh.length} new held comment${fresh.length > 1 ? "s" : ""} at the end of the list`);
    refreshCounts();
  }

  async function refreshCounts() {
    if (state.view !== "held") { renderCounts(); return; }
    try { state.counts = await api("/v1/moderation/queue/counts"); } catch (e) { state.counts = null; }
    renderCounts();
  }

  // ---- actions with undo: the POST is sent 5 s later unless undone -----------------------------
  function toast(text, undoable) {
    const node = el("div", "toast", el("span", "toast-text", text));
    if (undoable) node.append(button("Undo (u)", () => undo(undoable), "undo"));
    $("toasts").append(node);
    if (!undoable) setTimeout(() => node.remove(), 4000);
    return node;
  }

  function pastTense(action) {
    for (const list of Object.values(ACTIONS)) for (const [a, , past] of list) if (a === action) return past;
    return action;
  }

  function schedule(ids, action, note) {
    ids = ids.filter((id) => !pendingIds().has(id));
    if (!ids.length) return;
    const batch = { ids, action, note: note.trim() || undefined };
    const what = `${pastTense(action)} ${ids.length} comment${ids.length > 1 ? "s" : ""}`;
    batch.toast = toast(what, batch);
    batch.timer = setTimeout(() => commit(batch), UNDO_MS);
    state.batches.push(batch);
    ids.forEach((id) => state.selected.delete(id));
    render();
  }

  function drop(batch) {
    const i = state.batches.indexOf(batch);
    if (i >= 0) state.batches.splice(i, 1);
    return i >= 0;
  }

  function undo(batch) {
    const target = batch || [...state.batches].reverse().find((b) => !b.sent);
    if (!target || target.sent || !drop(target)) return;
    clearTimeout(target.timer);
    target.toast.remove();
    toast(`Undone: ${target.ids.length} comment${target.ids.length > 1 ? "s" : ""} back in the list`);
    render();
  }

  const send = (batch, keepalive) => api("/v1/moderation/decisions",
    { method: "POST", keepalive, body: { action: batch.action, ids: batch.ids, note: batch.note } });

  async function commit(batch) {
    batch.sent = true;
    batch.toast.querySelector(".undo")?.remove();
    try {
      const data = await send(batch, false);
      const failed = data.results.filter((r) => !r.ok);
      batch.toast.firstChild.textContent += failed.length
        ? ` (${failed.length} changed by someone else first: now ${failed.map((r) => r.status || r.error).join(", ")})` : " ✓";
    } catch (e) {
      batch.toast.firstChild.textContent = `Failed: ${e.message}. The comments are back in the list.`;
      drop(batch);
      render();
      return;
    }
    const done = new Set(batch.ids);
    state.items = state.items.filter((i) => !done.has(i.id));
    drop(batch);
    setTimeout(() => batch.toast.remove(), 2500);
    render();
    refreshCounts();
    if (visible().length < 5 && state.cursor) load(true);
  }

  function flush() {  // leaving the page: send what is still waiting for its undo window
    for (const batch of state.batches.filter((b) => !b.sent)) {
      clearTimeout(batch.timer);
      batch.sent = true;
      batch.toast.querySelector(".undo")?.remove();
      send(batch, true).then(() => { drop(batch); batch.toast.remove(); }, () => drop(batch));
    }
  }

  function bulkAct(action, note) {
    const ids = visible().map((i) => i.id).filter((id) => state.selected.has(id));
    schedule(ids, action, note || "");
    const all = $("select-all");
    if (all) all.checked = false;
  }

  function actOnFocused(key) {
    const item = visible()[state.focus];
    const action = KEY_ACTION[key].find((a) => ACTIONS[state.view].some(([name]) => name === a));
    if (!item || !action) return;
    schedule([item.id], action, state.cards.get(item.id)?.noteInput?.value || "");
  }

  function move(step) {
    const items = visible();
    if (!items.length) return;
    state.focus = Math.max(0, Math.min(items.length - 1, state.focus + step));
    paintFocus();
    const node = state.cards.get(items[state.focus].id);
    node?.focus({ preventScroll: true });
    node?.scrollIntoView({ block: "nearest" });
  }

  function focusedButton(selector) {
    const item = visible()[state.focus];
    state.cards.get(item?.id)?.querySelector(selector)?.click();
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName) || t.isContentEditable)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    const held = state.view === "held";
    const keys = {
      j: () => move(1), k: () => move(-1), "/": () => $("search")?.focus(),
      a: () => actOnFocused("a"), r: () => actOnFocused("r"), u: () => undo(),
      c: () => focusedButton("button.ctx"), s: () => focusedButton("button.show-scores"),
      "?": () => { const d = $("keys"); d.open = !d.open; },
      x: () => { const i = visible()[state.focus]; if (held && i) { toggle(i.id, !state.selected.has(i.id)); render(); } },
    };
    if (!keys[e.key]) return;
    e.preventDefault();
    keys[e.key]();
  });

  function switchView(view) {
    flush();
    state.view = view;
    state.filters = { reason: "", site: "", thread: "", q: "", author: "" };
    state.cards.clear();
    announce("");
    document.querySelectorAll("#tabs button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === view)));
    load(false);
  }

  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => switchView(b.dataset.view)));
  $("logout").addEventListener("submit", async (e) => {
    e.preventDefault();
    flush();
    await api("/moderate/logout", { method: "POST" }).catch(() => {});
    location.assign("/moderate");
  });
  window.addEventListener("pagehide", flush);
  window.addEventListener("beforeunload", flush);
  $("who").textContent = document.body.dataset.moderator || "";
  window.commentmodPage = { api, el, button, toast, announce, THRESHOLDS };
  const desk = document.createElement("script");  // the rules form and the activity view
  desk.src = "/moderate/static/desk.js";
  document.body.append(desk);
  setInterval(poll, POLL_MS);
  // Infinite scroll: the next page loads as the end of the list comes into view (Load more still works).
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && state.cursor && !state.loading) load(true);
    }, { rootMargin: "400px 0px" }).observe($("more"));
  }
  load(false);
})();
