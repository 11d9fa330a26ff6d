/*
 * hitl playground: the browser page.
 *
 * A local, Slack-like page for trying hitl-slack without a Slack workspace. The playground
 * server plays the Slack Web API for the real bot; this page shows what the bot posted
 * (channels, the DM, ephemerals, modals, the App Home) and sends what a person does (button
 * clicks, modal submits and closes, /hitl commands, opening Home) back to the server, which
 * relays them to the bot as Slack's signed payloads. The right column plays the agent (send a
 * test request, watch its status) and shows what happened behind the scenes (Redis keys and
 * audit events of the selected request).
 *
 * Data flow: GET /play/state?user=… is the whole truth for one person; the event stream
 * (/play/events) only says "something changed", and the page refetches (coalesced). Every
 * POST is followed by a refetch too, so the page keeps working when the stream is down.
 *
 * Security: every text in the state is untrusted (agents and people wrote it). The DOM is built
 * with createElement and textContent only, never innerHTML; only http(s) links become <a>.
 *
 * Sections: dom helpers · api · state · mrkdwn · blocks · modal (and confirm) · panels · boot.
 */
"use strict";

/* ───────────────────────────── dom helpers ───────────────────────────── */

/**
 * Build an element. props: "class", "text" (textContent), "on<event>" (listener) or any
 * attribute (null/undefined/false skipped, true → ""). children: nodes or strings (as text).
 */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = String(v);
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const isHttp = (url) => typeof url === "string" && /^https?:\/\//i.test(url);

/** A link that only ever points to http(s): anything else is returned as plain text. */
function safeLink(url, label, cls) {
  if (!isHttp(url)) return document.createTextNode(label || url || "");
  return h("a", { class: cls || "md-link", href: url, title: url, target: "_blank", rel: "noopener noreferrer", text: label || url });
}

/**
 * {channel, ts} of a permalink into this playground (/archives/C…/p1796346896800246 on this
 * origin, or on the local Slack's default fake.slack.com), or null.
 */
function permalinkTarget(href) {
  let u;
  try { u = new URL(href, location.href); } catch { return null; }
  if (u.origin !== location.origin && u.host !== "fake.slack.com") return null;
  const m = /^\/archives\/([A-Z0-9]+)(?:\/p(\d{7,}))?\/?$/.exec(u.pathname);
  if (!m) return null;
  const ts = m[2] ? `${m[2].slice(0, -6)}.${m[2].slice(-6)}` : null;
  return { channel: m[1], ts };
}

function openUrl(url) {
  if (isHttp(url)) window.open(url, "_blank", "noopener,noreferrer");
}

/* ───────────────────────────────── api ───────────────────────────────── */

const api = {
  async get(path) {
    const r = await fetch(path, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  },
  /** POST JSON; answers the JSON body (also for a 4xx that has one), else throws. */
  async post(path, body) {
    const r = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch { /* no JSON body */ }
    if (data === null || typeof data !== "object") throw new Error(`${path}: HTTP ${r.status}`);
    return data;
  },
  state: (user) => api.get(`/play/state?user=${encodeURIComponent(user)}`),
  explain: (id) => api.get(`/play/explain/${encodeURIComponent(id)}`),
  click: (body) => api.post("/play/click", body),
  submit: (body) => api.post("/play/submit", body),
  close: (body) => api.post("/play/close", body),
  command: (body) => api.post("/play/command", body),
  home: (body) => api.post("/play/home", body),
  request: (body) => api.post("/play/request", body),
  question: (body) => api.post("/play/question", body),
};

/* ──────────────────────────────── state ──────────────────────────────── */

const S = {
  user: null,            // the person viewing (a user id)
  data: null,            // the last /play/state answer for S.user
  seq: -1,
  view: null,            // {kind: "channel", id, dm} | {kind: "home"}
  people: new Map(), channels: new Map(), groups: new Map(),
  namesSig: "",          // changes when names used by mentions change (re-render messages)
  seen: new Map(),       // user → Map(channel → Map(ts → signature)): what that person saw
  dismissed: new Set(),  // "user channel ts" of ephemerals dismissed here
  repliesClosed: new Set(),
  payloadOpen: new Set(),
  msgCache: new Map(),   // message key → {sig, node}
  selected: null,        // request id shown in "What just happened"
  explain: null,         // {id, data} | {id, error}
  follow: null,          // {id, switched}: the request just sent, to show where it lands
  explainSeq: -1,        // state seq the explain panel was last fetched at
  scrollToEnd: false,    // scroll the message list to its end on the next render
  busy: new Map(),       // surface element → fetch generation after which it is re-enabled
  closing: new Map(),    // view id → generation mark (null while the close is in flight)
  localErrors: new Map(),// view id → errors of the last submit answer
  savedValues: new Map(),// view id → {block_id: {action_id: state}} while hidden under another
  submitting: null,      // view id being submitted
  modalNode: null, modalSig: "", modalId: null,
  confirmOpen: null,     // the open confirm dialog's cancel function
  flash: null,           // ts of a message to highlight once
};

let fetchGen = 0;        // incremented when a state fetch starts
let inflight = false, again = false;

/** Fetch the state for the current person; coalesced: at most one in flight, one more after. */
async function refresh() {
  if (inflight) { again = true; return; }
  inflight = true;
  try {
    do {
      again = false;
      const user = S.user;
      const gen = ++fetchGen;
      try {
        const data = await api.state(user);
        if (user === S.user) applyState(data, gen);
        else again = true;
      } catch (err) {
        console.warn(err);
        if (!S.data && S.user !== "U0ALICE" && user === S.user) { S.user = "U0ALICE"; again = true; continue; }
        if (!S.data) showBootError(err);
      }
    } while (again);
  } finally {
    inflight = false;
  }
}

function applyState(data, gen) {
  S.data = data;
  S.seq = data.seq;
  S.people = new Map((data.people || []).map((p) => [p.id, p]));
  S.channels = new Map((data.channels || []).map((c) => [c.id, c]));
  S.groups = new Map((data.groups || []).map((g) => [g.id, g]));
  S.namesSig = S.user + JSON.stringify([data.people, data.groups, data.channels]);

  if (!S.people.has(S.user) && data.people && data.people.length) {
    // Unknown person (e.g. a stale ?user=): take the first one and ask again.
    setPerson(data.people[0].id);
    return;
  }
  ensureView();
  followRequest();
  // Elements disabled after a click come back once a state fetched after its answer is here.
  for (const [el, mark] of S.busy) if (mark !== null && gen > mark) setBusy(el, false);
  for (const [id, mark] of S.closing) {
    const present = (data.views || []).some((v) => v.id === id);
    if (!present || (mark !== null && gen > mark)) S.closing.delete(id);
  }

  renderSidebar();
  renderMain();
  renderModal();
  renderAgent();
  if (S.selected && S.explainSeq !== data.seq) loadExplain();
}

function messagesOf(channelId) {
  const all = (S.data && S.data.messages && S.data.messages[channelId]) || [];
  return all.filter((m) => !(m.ephemeral && S.dismissed.has(`${S.user} ${channelId} ${m.ts}`)));
}

function dmChannel() {
  for (const c of S.channels.values()) if (c.kind === "dm") return c;
  return null;
}

function defaultChannel() {
  const list = [...S.channels.values()];
  return list.find((c) => c.default) || list.find((c) => c.kind !== "dm") || list[0] || null;
}

/** Keep the shown view valid for the current person (a DM is per person). */
function ensureView() {
  if (S.view && S.view.kind === "home") return;
  if (S.view && S.channels.has(S.view.id)) return;
  const next = S.view && S.view.dm ? dmChannel() : defaultChannel();
  S.view = next ? { kind: "channel", id: next.id, dm: next.kind === "dm" } : null;
  S.scrollToEnd = true;
}

function showChannel(id) {
  const c = S.channels.get(id);
  if (!c) return;
  const changed = !S.view || S.view.kind !== "channel" || S.view.id !== id;
  S.view = { kind: "channel", id, dm: c.kind === "dm" };
  if (changed) S.scrollToEnd = true;
  renderSidebar();
  renderMain();
}

function showHome() {
  S.view = { kind: "home" };
  renderSidebar();
  renderMain();
  const user = S.user;
  api.home({ user }).then((r) => {
    if (r && r.status !== undefined && r.status !== 200) toast(`Opening Home answered ${r.status}${r.body ? ": " + r.body : ""}`);
  }).catch((e) => toast(`Opening Home failed: ${e.message}`)).finally(refresh);
}

function setPerson(id) {
  if (id === S.user) return;
  S.user = id;
  S.msgCache.clear();
  S.localErrors.clear();
  S.savedValues.clear();
  S.modalSig = ""; S.modalId = null;
  const url = new URL(location.href);
  url.searchParams.set("user", id);
  history.replaceState(null, "", url);
  if (S.view && S.view.kind === "home") showHome();
  else refresh();
}

/* Unread: per person, per channel, what was seen (ts → updates and replies) while shown. */
function msgSig(m) {
  return `${m.updates || 0}:${(m.replies || []).length}`;
}

function seenMap(user) {
  if (!S.seen.has(user)) S.seen.set(user, new Map());
  return S.seen.get(user);
}

function markSeen(channelId) {
  const seen = new Map();
  for (const m of messagesOf(channelId)) seen.set(m.ts, msgSig(m));
  seenMap(S.user).set(channelId, seen);
}

function unreadCount(channelId) {
  if (S.view && S.view.kind === "channel" && S.view.id === channelId) return 0;
  const seen = seenMap(S.user).get(channelId);
  let n = 0;
  for (const m of messagesOf(channelId)) if (!seen || seen.get(m.ts) !== msgSig(m)) n++;
  return n;
}

/** After "Send test request": select it and show the channel its message lands in. */
function followRequest() {
  const f = S.follow;
  if (!f || !S.data) return;
  const entry = (S.data.agent || []).find((a) => a.request_id === f.id);
  if (!entry) return;
  if (entry.channel && S.channels.has(entry.channel) && !f.switched) {
    f.switched = true;
    S.view = { kind: "channel", id: entry.channel, dm: S.channels.get(entry.channel).kind === "dm" };
    S.scrollToEnd = true;
  }
  if (entry.ts && f.switched) { S.flash = entry.ts; S.follow = null; }
  else if (entry.status !== "waiting" && !entry.channel) S.follow = null;
}

const busyTimers = new Map();

/** Disable (or give back) the interactive controls of one surface: a message, modal or Home. */
function setBusy(el, on) {
  if (on) {
    S.busy.set(el, null);
    el.classList.add("busy");
    for (const c of el.querySelectorAll("button[data-action-id], select[data-action-id], .ovf-item")) {
      if (!c.disabled) { c.disabled = true; c.dataset.busy = "1"; }
    }
    // Never stuck: whatever happens to the answer, the controls come back after 10 s.
    clearTimeout(busyTimers.get(el));
    busyTimers.set(el, setTimeout(() => { if (S.busy.has(el)) setBusy(el, false); }, 10000));
  } else {
    clearTimeout(busyTimers.get(el));
    busyTimers.delete(el);
    S.busy.delete(el);
    el.classList.remove("busy");
    for (const c of el.querySelectorAll("[data-busy]")) { c.disabled = false; delete c.dataset.busy; }
  }
}

/* ─────────────────────────────── mrkdwn ──────────────────────────────── */
/*
 * Slack's mrkdwn to DOM. Order matters for safety: the raw string is tokenized for the real
 * <…> forms first (each replaced by one private-use placeholder character), then ``` blocks,
 * > quotes and inline *bold* _italic_ ~strike~ `code` are found, and only the leaf text is
 * entity-decoded (&lt; &gt; &amp;) and inserted as text. So "&lt;https://x|y&gt;" shows
 * literally and never becomes a link.
 */

const PH = 0xe000;
const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", no_entry: "⛔",
  no_entry_sign: "🚫", hourglass: "⌛", hourglass_flowing_sand: "⏳", wave: "👋", tada: "🎉",
  eyes: "👀", lock: "🔒", bell: "🔔", rotating_light: "🚨", memo: "📝", pencil2: "✏️",
  robot_face: "🤖", "+1": "👍", "-1": "👎", thumbsup: "👍", thumbsdown: "👎", clock3: "🕒",
  red_circle: "🔴", large_orange_circle: "🟠", large_yellow_circle: "🟡", large_green_circle: "🟢",
  large_blue_circle: "🔵", white_circle: "⚪", information_source: "ℹ️", link: "🔗", mag: "🔍",
  stopwatch: "⏱️", calendar: "📅", inbox_tray: "📥", outbox_tray: "📤", house: "🏠",
};

function decodeEntities(s) {
  return s.replace(/&(lt|gt|amp);/g, (_, e) => (e === "lt" ? "<" : e === "gt" ? ">" : "&"));
}

function emojify(s) {
  return s.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
}

const WORD = /[\p{L}\p{N}]/u;
const SPACE = /\s/;

/** Render mrkdwn text into a new <div class="mrkdwn">. */
function mrkdwn(src, cls) {
  const tokens = [];
  const s = String(src ?? "")
    .replace(/[\ue000-\uf8ff]/g, "\ufffd")
    .replace(/<([^<>\n]*)>/g, (m, inner) => {
      if (tokens.length >= 0x1800) return m;
      tokens.push(inner);
      return String.fromCharCode(PH + tokens.length - 1);
    });
  const root = h("div", { class: cls || "mrkdwn" });
  mdBlocks(root, s, tokens);
  return root;
}

function mdBlocks(parent, s, tokens) {
  const fence = /```([\s\S]*?)```/g;
  let last = 0, m;
  while ((m = fence.exec(s))) {
    let before = s.slice(last, m.index);
    if (before.endsWith("\n")) before = before.slice(0, -1);
    mdLines(parent, before, tokens);
    let code = m[1];
    if (code.startsWith("\n")) code = code.slice(1);
    if (code.endsWith("\n")) code = code.slice(0, -1);
    const pre = h("pre", { class: "md-pre" });
    mdLeaf(pre, code, tokens, true);
    parent.appendChild(pre);
    last = fence.lastIndex;
    if (s[last] === "\n") last++;
  }
  mdLines(parent, s.slice(last), tokens);
}

const QUOTE = /^(?:>|&gt;)(?!>|&gt;) ?/;
const QUOTE_ALL = /^(?:>>>|&gt;&gt;&gt;) ?/;

/** Lines: runs of "> " lines become block quotes; the rest is inline text with its newlines. */
function mdLines(parent, s, tokens) {
  if (!s) return;
  const lines = s.split("\n");
  let run = [], quoted = false;
  const flush = () => {
    if (!run.length) return;
    const text = run.join("\n");
    if (quoted) {
      const q = h("blockquote", { class: "md-quote" });
      mdInline(q, text, tokens);
      parent.appendChild(q);
    } else {
      const span = h("span", { class: "md-line" });
      mdInline(span, text, tokens);
      parent.appendChild(span);
    }
    run = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (QUOTE_ALL.test(line)) {
      // ">>>" quotes everything after it.
      flush(); quoted = true;
      run = [line.replace(QUOTE_ALL, ""), ...lines.slice(i + 1)];
      flush();
      return;
    }
    const isQuote = QUOTE.test(line);
    if (isQuote !== quoted) { flush(); quoted = isQuote; }
    run.push(isQuote ? line.replace(QUOTE, "") : line);
  }
  flush();
}

const MARKS = { "*": "b", _: "i", "~": "s" };

/** Inline formatting with Slack's word-boundary rule; markers never span lines. */
function mdInline(parent, s, tokens) {
  let buf = "";
  const flush = () => { if (buf) { mdLeaf(parent, buf, tokens, false); buf = ""; } };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "`") {
      const end = s.indexOf("`", i + 1);
      const nl = s.indexOf("\n", i + 1);
      if (end > i + 1 && (nl < 0 || end < nl)) {
        flush();
        const code = h("code", { class: "md-code" });
        mdLeaf(code, s.slice(i + 1, end), tokens, true);
        parent.appendChild(code);
        i = end + 1;
        continue;
      }
    } else if (MARKS[c]) {
      const end = closingMark(s, i, c);
      if (end > 0) {
        flush();
        const el = h(MARKS[c], { class: `md-${MARKS[c]}` });
        mdInline(el, s.slice(i + 1, end), tokens);
        parent.appendChild(el);
        i = end + 1;
        continue;
      }
    }
    buf += c;
    i++;
  }
  flush();
}

/** Index of the marker closing the one at i, or -1 (boundaries: not inside a word). */
function closingMark(s, i, c) {
  const prev = i > 0 ? s[i - 1] : "";
  const next = s[i + 1];
  if (prev && (WORD.test(prev) || prev === c)) return -1;
  if (!next || SPACE.test(next) || next === c) return -1;
  for (let j = i + 2; j < s.length; j++) {
    const ch = s[j];
    if (ch === "\n") return -1;
    if (ch !== c) continue;
    const before = s[j - 1], after = s[j + 1];
    if (SPACE.test(before)) continue;
    if (after && (WORD.test(after) || after === c)) continue;
    return j;
  }
  return -1;
}

/** Leaf text: placeholders become their <…> form, the rest is decoded and inserted as text. */
function mdLeaf(parent, s, tokens, code) {
  let buf = "";
  const flush = () => {
    if (!buf) return;
    const t = decodeEntities(buf);
    parent.appendChild(document.createTextNode(code ? t : emojify(t)));
    buf = "";
  };
  for (const ch of s) {
    const n = ch.charCodeAt(0) - PH;
    if (ch.length === 1 && n >= 0 && n < tokens.length) {
      flush();
      parent.appendChild(angle(tokens[n]));
    } else {
      buf += ch;
    }
  }
  flush();
}

/** One <…> form: links, mentions, channels, groups, broadcasts, dates; else literal text. */
function angle(inner) {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? "" : decodeEntities(inner.slice(bar + 1));
  const raw = () => document.createTextNode(decodeEntities(`<${inner}>`));
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const p = S.people.get(id);
    const isBot = S.data && S.data.workspace && id === S.data.workspace.bot_user_id;
    const name = p ? p.name : isBot ? S.data.workspace.bot_name : label.replace(/^@/, "") || id;
    return h("span", { class: `mention${id === S.user ? " me" : ""}`, title: id, text: `@${name}` });
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    const c = S.channels.get(id);
    const name = c ? c.name : label.replace(/^#/, "") || id;
    const el = h("span", { class: "mention chan", title: id, text: `#${name}` });
    if (c) {
      el.setAttribute("role", "link");
      el.tabIndex = 0;
      el.addEventListener("click", () => showChannel(id));
    }
    return el;
  }
  if (target.startsWith("!")) {
    const cmd = target.slice(1);
    if (cmd.startsWith("subteam^")) {
      const id = cmd.slice("subteam^".length);
      const g = S.groups.get(id);
      const name = g ? g.handle : label.replace(/^@/, "") || id;
      const me = g && (g.members || []).includes(S.user);
      return h("span", { class: `mention group${me ? " me" : ""}`, title: id, text: `@${name}` });
    }
    if (["here", "channel", "everyone"].includes(cmd)) {
      return h("span", { class: "mention broadcast", text: `@${cmd}` });
    }
    if (cmd.startsWith("date^")) {
      const [, ts, fmt, link] = cmd.split("^");
      const text = slackDate(Number(ts), fmt || "", label);
      if (isHttp(link)) return safeLink(link, text, "md-link date");
      const iso = Number.isFinite(Number(ts)) ? new Date(Number(ts) * 1000).toISOString() : "";
      return h("span", { class: "date", text, title: label || iso });
    }
    return document.createTextNode(label || `@${cmd}`);
  }
  const url = decodeEntities(target);
  if (isHttp(url)) return safeLink(url, label || url);
  if (/^mailto:/i.test(url)) {
    return h("span", { class: "mailto", title: url.slice(7), text: label || url.slice(7) });
  }
  return raw();
}

/** Slack's <!date^…> in the browser's locale; the fallback when the format is unknown. */
function slackDate(ts, fmt, fallback) {
  if (!Number.isFinite(ts)) return fallback;
  const d = new Date(ts * 1000);
  const day = (opts, pretty) => {
    if (pretty) {
      const diff = Math.round((startOfDay(d) - startOfDay(new Date())) / 86400000);
      if (diff === 0) return "Today";
      if (diff === -1) return "Yesterday";
      if (diff === 1) return "Tomorrow";
    }
    return d.toLocaleDateString(undefined, opts);
  };
  const SHORT = { month: "short", day: "numeric", year: "numeric" };
  const LONG = { month: "long", day: "numeric", year: "numeric" };
  const FULL = { weekday: "long", month: "long", day: "numeric", year: "numeric" };
  const parts = {
    date_num: () => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    date: () => day(LONG, false), date_pretty: () => day(LONG, true),
    date_short: () => day(SHORT, false), date_short_pretty: () => day(SHORT, true),
    date_long: () => day(FULL, false), date_long_pretty: () => day(FULL, true),
    time: () => d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" }),
    time_secs: () => d.toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" }),
    ago: () => ago(ts),
  };
  let unknown = false;
  const out = fmt.replace(/\{([a-z_]+)\}/g, (m, k) => (parts[k] ? parts[k]() : ((unknown = true), m)));
  return unknown || !out.trim() ? fallback : out;
}

const pad = (n) => String(n).padStart(2, "0");
const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();

function ago(ts) {
  const s = Math.round(Date.now() / 1000 - ts);
  const abs = Math.abs(s);
  const [n, unit] = abs < 60 ? [abs, "second"] : abs < 3600 ? [Math.round(abs / 60), "minute"]
    : abs < 86400 ? [Math.round(abs / 3600), "hour"] : [Math.round(abs / 86400), "day"];
  const w = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return s >= 0 ? `${w} ago` : `in ${w}`;
}

/** A Block Kit text object: mrkdwn parsed, plain_text as text. */
function textObj(t, cls) {
  if (!t) return h("span");
  if (typeof t === "string") return h("span", { class: cls || "plain", text: t });
  if (t.type === "mrkdwn") return mrkdwn(t.text, cls ? `mrkdwn ${cls}` : "mrkdwn");
  return h("span", { class: cls || "plain", text: t.emoji === false ? t.text || "" : emojify(t.text || "") });
}

const plainText = (t) => (t && typeof t === "object" ? t.text || "" : t || "");

/* ─────────────────────────────── blocks ──────────────────────────────── */
/*
 * Block Kit to DOM for messages, modals and the App Home. ctx = {container, surface} where
 * container is what /play/click is told (message, ephemeral, view or home). Interactive
 * elements carry data-action-id / data-block-id. Input blocks register a controller that
 * reads and restores Slack's view.state.values shape.
 */

const inputCtl = new WeakMap(); // input block wrapper → {blockId, actionId, read(), restore(state)}

function renderBlocks(blocks, ctx) {
  const frag = h("div", { class: "blocks" });
  (blocks || []).forEach((b, i) => {
    try {
      const el = renderBlock(b, i, ctx);
      if (el) frag.appendChild(el);
    } catch (err) {
      console.warn("block", b, err);
      frag.appendChild(h("div", { class: "b-unsupported", text: `[could not show a ${b && b.type} block]` }));
    }
  });
  return frag;
}

function renderBlock(b, i, ctx) {
  const blockId = b.block_id || null;
  switch (b.type) {
    case "header":
      return h("div", { class: "b-header" }, textObj(b.text, "plain"));
    case "divider":
      return h("hr", { class: "b-divider" });
    case "section": {
      const main = h("div", { class: "b-section-main" });
      if (b.text) main.appendChild(textObj(b.text, "b-text"));
      if (b.fields && b.fields.length) {
        main.appendChild(h("div", { class: "b-fields" }, b.fields.map((f) => textObj(f, "b-field"))));
      }
      const sec = h("div", { class: "b-section" }, main);
      if (b.accessory) {
        sec.appendChild(h("div", { class: "b-accessory" }, renderElement(b.accessory, ctx, blockId, true, 0, i)));
      }
      return sec;
    }
    case "context":
      return h("div", { class: "b-context" }, (b.elements || []).map((e) =>
        e.type === "image" ? image(e, "ctx-img") : textObj(e, "ctx-text")));
    case "actions":
      return h("div", { class: "b-actions" }, (b.elements || []).map((e, j) =>
        renderElement(e, ctx, blockId, false, j, i)));
    case "image":
      return h("figure", { class: "b-image" },
        b.title ? h("figcaption", {}, textObj(b.title)) : null,
        image(b, "b-img"));
    case "rich_text":
      return h("div", { class: "b-rich" }, (b.elements || []).map(richBlock));
    case "input":
      return renderInput(b, i, ctx);
    default:
      return h("div", { class: "b-unsupported", text: `[${b.type} block not shown in the playground]` });
  }
}

function image(e, cls) {
  if (!isHttp(e.image_url)) return h("span", { class: "img-alt", text: e.alt_text || "[image]" });
  return h("img", { class: cls, src: e.image_url, alt: e.alt_text || "", title: e.alt_text || null, loading: "lazy", referrerpolicy: "no-referrer" });
}

/** An interactive element in an actions block or a section accessory. */
function renderElement(e, ctx, blockId, accessory, j, i) {
  // Slack makes up ids that a block or element left out; here only the real ones are sent.
  const actionId = e.action_id || `block${i}:${j}`;
  switch (e.type) {
    case "button": {
      const style = e.style === "primary" ? "primary" : e.style === "danger" ? "danger" : "default";
      const btn = h("button", {
        type: "button", class: `btn ${style}`, "data-action-id": actionId, "data-block-id": blockId,
        "data-value": e.value, title: isHttp(e.url) ? e.url : null,
      }, plainText(e.text));
      if (isHttp(e.url)) btn.appendChild(h("span", { class: "ext", "aria-hidden": "true", text: " ↗" }));
      btn.addEventListener("click", async () => {
        if (e.confirm && !(await confirmDialog(e.confirm))) return;
        if (isHttp(e.url)) openUrl(e.url);
        sendClick(ctx, btn, { action_id: actionId, block_id: blockId, value: e.value });
      });
      return btn;
    }
    case "static_select": {
      const { select, pick } = optionSelect(e, false);
      select.dataset.actionId = actionId;
      if (blockId) select.dataset.blockId = blockId;
      select.classList.add("el-select");
      select.addEventListener("change", async () => {
        const opt = pick()[0];
        if (!opt) return;
        if (e.confirm && !(await confirmDialog(e.confirm))) return;
        sendClick(ctx, select, { action_id: actionId, block_id: blockId, value: opt.value });
      });
      return select;
    }
    case "overflow":
      return overflow(e, ctx, blockId, actionId);
    case "image":
      return image(e, accessory ? "acc-img" : "ctx-img");
    default:
      return h("span", { class: "b-unsupported", text: `[${e.type}]` });
  }
}

/** A <select> of Slack options (with option_groups); pick() answers the chosen options. */
function optionSelect(e, multiple) {
  const flat = [];
  const select = h("select", { multiple: multiple || null });
  const add = (parent, o) => {
    flat.push(o);
    parent.appendChild(h("option", { value: String(flat.length - 1), text: plainText(o.text) }));
  };
  if (!multiple) {
    select.appendChild(h("option", { value: "", text: plainText(e.placeholder) || "Select an item" }));
  }
  if (e.option_groups) {
    for (const g of e.option_groups) {
      const og = h("optgroup", { label: plainText(g.label) });
      (g.options || []).forEach((o) => add(og, o));
      select.appendChild(og);
    }
  } else {
    (e.options || []).forEach((o) => add(select, o));
  }
  const setValues = (values) => {
    for (const opt of select.options) {
      const o = flat[Number(opt.value)];
      opt.selected = opt.value !== "" && !!o && values.includes(o.value);
    }
  };
  const initial = multiple ? (e.initial_options || []) : e.initial_option ? [e.initial_option] : [];
  setValues(initial.map((o) => o.value));
  const pick = () => [...select.selectedOptions].filter((o) => o.value !== "").map((o) => flat[Number(o.value)]);
  return { select, pick, setValues };
}

let openMenu = null;
function closeMenu() { if (openMenu) { openMenu.remove(); openMenu = null; } }

function overflow(e, ctx, blockId, actionId) {
  const wrap = h("span", { class: "ovf" });
  const trigger = h("button", { type: "button", class: "btn default ovf-btn", "data-action-id": actionId, "data-block-id": blockId, "aria-label": "More actions", title: "More actions" }, "⋯");
  trigger.addEventListener("click", (ev) => {
    ev.stopPropagation();
    const wasOpen = openMenu && openMenu.parentNode === wrap;
    closeMenu();
    if (wasOpen) return;
    const menu = h("div", { class: "ovf-menu", role: "menu" });
    for (const o of e.options || []) {
      const item = h("button", { type: "button", class: "ovf-item", role: "menuitem", "data-option-value": o.value }, plainText(o.text));
      item.addEventListener("click", async (ev2) => {
        ev2.stopPropagation();
        closeMenu();
        if (e.confirm && !(await confirmDialog(e.confirm))) return;
        if (isHttp(o.url)) openUrl(o.url);
        sendClick(ctx, trigger, { action_id: actionId, block_id: blockId, value: o.value });
      });
      menu.appendChild(item);
    }
    wrap.appendChild(menu);
    openMenu = menu;
  });
  wrap.appendChild(trigger);
  return wrap;
}

/** Send a block action: the surface's controls are disabled until the next state. */
async function sendClick(ctx, el, { action_id, block_id, value }) {
  const surface = el.closest("[data-surface]") || el;
  setBusy(surface, true);
  const body = { user: S.user, container: ctx.container, action_id };
  if (block_id) body.block_id = block_id;
  if (value !== undefined && value !== null) body.value = value;
  try {
    const r = await api.click(body);
    if (r.status !== 200) toast(`The bot answered ${r.status ?? "?"}${r.body ? ": " + r.body : ""}`);
  } catch (err) {
    toast(`Click not delivered: ${err.message}`);
  } finally {
    if (S.busy.has(surface)) S.busy.set(surface, fetchGen);
    refresh();
  }
}

/* rich_text (minimal) */
function richBlock(el) {
  switch (el.type) {
    case "rich_text_preformatted":
      return h("pre", { class: "md-pre" }, (el.elements || []).map(richInline));
    case "rich_text_quote":
      return h("blockquote", { class: "md-quote" }, (el.elements || []).map(richInline));
    case "rich_text_list": {
      const list = h(el.style === "ordered" ? "ol" : "ul", { class: "rt-list" });
      for (const item of el.elements || []) list.appendChild(h("li", {}, richBlock(item)));
      return list;
    }
    default:
      return h("div", { class: "rt-section" }, (el.elements || []).map(richInline));
  }
}

function richInline(e) {
  let node;
  switch (e.type) {
    case "text": node = document.createTextNode(e.text || ""); break;
    case "link": node = safeLink(e.url, e.text || e.url); break;
    case "user": node = angle(`@${e.user_id}`); break;
    case "channel": node = angle(`#${e.channel_id}`); break;
    case "usergroup": node = angle(`!subteam^${e.usergroup_id}`); break;
    case "broadcast": node = angle(`!${e.range}`); break;
    case "emoji": node = document.createTextNode(
      e.unicode ? safeCodePoints(e.unicode) : EMOJI[e.name] || `:${e.name}:`); break;
    case "date": node = h("span", { class: "date", text: slackDate(e.timestamp, e.format || "", e.fallback || "") }); break;
    default: node = document.createTextNode(e.text || "");
  }
  const st = e.style || {};
  if (st.code) node = h("code", { class: "md-code" }, node);
  if (st.strike) node = h("s", {}, node);
  if (st.italic) node = h("i", {}, node);
  if (st.bold) node = h("b", {}, node);
  return node;
}

function safeCodePoints(hex) {
  try { return String.fromCodePoint(...hex.split("-").map((x) => parseInt(x, 16))); } catch { return ""; }
}

/* input blocks (modals) */
function renderInput(b, i, ctx) {
  const blockId = b.block_id || `input:${i}`;
  const e = b.element || {};
  const actionId = e.action_id || `${blockId}:value`;
  const fieldId = `f-${(ctx.viewId || "v")}-${i}`;
  const wrap = h("div", { class: "b-input", "data-block-id": blockId });
  const label = h("label", { class: "in-label", for: fieldId }, plainText(b.label),
    b.optional ? h("span", { class: "opt", text: " (optional)" }) : null);
  wrap.appendChild(label);
  const ctl = inputElement(e, fieldId, ctx);
  wrap.appendChild(ctl.node);
  if (b.hint) wrap.appendChild(h("div", { class: "in-hint" }, plainText(b.hint)));
  inputCtl.set(wrap, { blockId, actionId, read: ctl.read, restore: ctl.restore });
  return wrap;
}

/** One input element: its DOM, read() → Slack's element state, restore(state). */
function inputElement(e, fieldId, ctx) {
  const ph = plainText(e.placeholder) || null;
  const simple = (node, type, key = "value") => ({
    node,
    read: () => ({ type, [key]: node.value === "" ? null : node.value }),
    restore: (st) => { if (st && st[key] != null) node.value = st[key]; },
  });
  switch (e.type) {
    case "plain_text_input": {
      const node = e.multiline
        ? h("textarea", { id: fieldId, rows: 4, placeholder: ph, maxlength: e.max_length || null })
        : h("input", { id: fieldId, type: "text", placeholder: ph, maxlength: e.max_length || null });
      if (e.initial_value != null) node.value = e.initial_value;
      return simple(node, "plain_text_input");
    }
    case "email_text_input":
    case "url_text_input": {
      const node = h("input", { id: fieldId, type: e.type === "email_text_input" ? "email" : "url", placeholder: ph });
      if (e.initial_value != null) node.value = e.initial_value;
      return simple(node, e.type);
    }
    case "number_input": {
      const node = h("input", {
        id: fieldId, type: "number", placeholder: ph, step: e.is_decimal_allowed ? "any" : "1",
        min: e.min_value ?? null, max: e.max_value ?? null, inputmode: e.is_decimal_allowed ? "decimal" : "numeric",
      });
      if (e.initial_value != null) node.value = e.initial_value;
      return simple(node, "number_input");
    }
    case "datepicker": {
      const node = h("input", { id: fieldId, type: "date" });
      if (e.initial_date) node.value = e.initial_date;
      return simple(node, "datepicker", "selected_date");
    }
    case "timepicker": {
      const node = h("input", { id: fieldId, type: "time" });
      if (e.initial_time) node.value = e.initial_time;
      return simple(node, "timepicker", "selected_time");
    }
    case "static_select":
    case "multi_static_select": {
      const multi = e.type === "multi_static_select";
      const { select, pick, setValues } = optionSelect(e, multi);
      select.id = fieldId;
      if (multi) select.size = Math.min(6, Math.max(3, select.options.length));
      return {
        node: select,
        read: () => (multi ? { type: e.type, selected_options: pick() } : { type: e.type, selected_option: pick()[0] || null }),
        restore: (st) => {
          if (!st) return;
          const opts = multi ? st.selected_options || [] : st.selected_option ? [st.selected_option] : [];
          setValues(opts.map((o) => o.value));
        },
      };
    }
    case "users_select":
    case "conversations_select":
    case "channels_select": {
      const key = { users_select: "selected_user", conversations_select: "selected_conversation", channels_select: "selected_channel" }[e.type];
      const items = e.type === "users_select"
        ? [...S.people.values()].map((p) => [p.id, p.name])
        : [...S.channels.values()].filter((c) => e.type === "conversations_select" || c.kind !== "dm").map((c) => [c.id, c.kind === "dm" ? c.name : `#${c.name}`]);
      const node = h("select", { id: fieldId }, h("option", { value: "", text: ph || "Select…" }),
        items.map(([v, t]) => h("option", { value: v, text: t })));
      const initial = e.initial_user || e.initial_conversation || e.initial_channel;
      if (initial) node.value = initial;
      return simple(node, e.type, key);
    }
    case "checkboxes":
    case "radio_buttons": {
      const multi = e.type === "checkboxes";
      const name = `${fieldId}-opt`;
      const boxes = [];
      const node = h("div", { class: "choices", id: fieldId, role: multi ? "group" : "radiogroup" });
      (e.options || []).forEach((o, k) => {
        const input = h("input", { type: multi ? "checkbox" : "radio", name, value: o.value, id: `${name}-${k}` });
        boxes.push([input, o]);
        node.appendChild(h("label", { class: "choice", for: `${name}-${k}` }, input,
          h("span", { class: "choice-text" }, textObj(o.text), o.description ? h("span", { class: "choice-desc" }, textObj(o.description)) : null)));
      });
      const set = (values) => { for (const [input, o] of boxes) input.checked = values.includes(o.value); };
      const initial = multi ? (e.initial_options || []) : e.initial_option ? [e.initial_option] : [];
      set(initial.map((o) => o.value));
      const picked = () => boxes.filter(([input]) => input.checked).map(([, o]) => o);
      return {
        node,
        read: () => (multi ? { type: e.type, selected_options: picked() } : { type: e.type, selected_option: picked()[0] || null }),
        restore: (st) => {
          if (!st) return;
          const opts = multi ? st.selected_options || [] : st.selected_option ? [st.selected_option] : [];
          set(opts.map((o) => o.value));
        },
      };
    }
    default:
      return { node: h("div", { class: "b-unsupported", text: `[${e.type || "unknown"} input not supported in the playground]` }), read: () => ({ type: e.type }), restore: () => {} };
  }
}

/** view.state.values of a rendered modal body. */
function readValues(root) {
  const values = {};
  for (const wrap of root.querySelectorAll(".b-input[data-block-id]")) {
    const ctl = inputCtl.get(wrap);
    if (!ctl) continue;
    (values[ctl.blockId] ||= {})[ctl.actionId] = ctl.read();
  }
  return values;
}

function restoreValues(root, values) {
  if (!values) return;
  for (const wrap of root.querySelectorAll(".b-input[data-block-id]")) {
    const ctl = inputCtl.get(wrap);
    const st = ctl && values[ctl.blockId] && values[ctl.blockId][ctl.actionId];
    if (st) ctl.restore(st);
  }
}

/* ─────────────────────────── modal & confirm ─────────────────────────── */

function visibleViews() {
  return ((S.data && S.data.views) || []).filter((v) => !S.closing.has(v.id));
}

function viewSig(v) {
  return JSON.stringify([v.id, v.hash, v.type, v.title, v.submit, v.close, v.blocks]) + S.namesSig;
}

/** Show the top view of the stack; re-render only when the view itself changed. */
function renderModal() {
  const root = $("overlay-root");
  const views = visibleViews();
  const top = views[views.length - 1] || null;
  // Forget saved input of views that left the stack.
  const ids = new Set(((S.data && S.data.views) || []).map((v) => v.id));
  for (const id of S.savedValues.keys()) if (!ids.has(id)) S.savedValues.delete(id);
  for (const id of S.localErrors.keys()) if (!ids.has(id)) S.localErrors.delete(id);

  if (!top) {
    if (S.modalNode) { S.modalNode.remove(); S.modalNode = null; }
    S.modalSig = ""; S.modalId = null;
    document.body.classList.remove("has-modal");
    return;
  }
  const sig = viewSig(top);
  if (S.modalNode && sig === S.modalSig) {
    showModalErrors(top);
    return;
  }
  let keep = null;
  if (S.modalNode) {
    const body = S.modalNode.querySelector(".modal-body");
    if (body) S.savedValues.set(S.modalId, readValues(body));
    if (S.modalId === top.id) keep = S.savedValues.get(top.id);
    S.modalNode.remove();
  }
  const fresh = S.modalId !== top.id;
  S.modalNode = buildModal(top, views.length > 1);
  S.modalSig = sig;
  S.modalId = top.id;
  root.appendChild(S.modalNode);
  document.body.classList.add("has-modal");
  const body = S.modalNode.querySelector(".modal-body");
  restoreValues(body, keep || S.savedValues.get(top.id));
  showModalErrors(top);
  if (fresh) {
    const first = body.querySelector("input:not([type=hidden]), textarea, select") || S.modalNode.querySelector("[data-testid=modal-submit]");
    if (first) setTimeout(() => first.focus(), 0);
  }
}

function buildModal(v, stacked) {
  const ctx = { container: { type: "view", view_id: v.id }, surface: "modal", viewId: v.id };
  const titleId = `mt-${v.id}`;
  const body = h("form", { class: "modal-body", "data-surface": "modal", novalidate: true });
  body.appendChild(renderBlocks(v.blocks, ctx));
  body.appendChild(h("div", { class: "modal-errors" }));
  body.addEventListener("submit", (ev) => { ev.preventDefault(); if (v.submit) submitModal(v, body); });
  // Enter in a one-line input submits, as in Slack.
  body.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.tagName === "INPUT" && !ev.isComposing && v.submit) {
      ev.preventDefault();
      submitModal(v, body);
    }
  });
  const closeBtn = h("button", { type: "button", class: "btn default", "data-testid": "modal-close" },
    plainText(v.close) || (stacked ? "Back" : "Cancel"));
  closeBtn.addEventListener("click", () => closeModal(v));
  const xBtn = h("button", { type: "button", class: "modal-x", "aria-label": "Close", title: "Close" }, "×");
  xBtn.addEventListener("click", () => closeModal(v));
  let submitBtn = null;
  if (v.submit) {
    submitBtn = h("button", { type: "button", class: "btn primary", "data-testid": "modal-submit" }, plainText(v.submit));
    submitBtn.addEventListener("click", () => submitModal(v, body));
  }
  const modal = h("div", { class: "modal", "data-testid": "modal", "data-view-id": v.id, role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
    h("header", { class: "modal-head" },
      h("span", { class: "app-icon modal-icon", "aria-hidden": "true", text: "h" }),
      h("h2", { class: "modal-title", id: titleId, text: plainText(v.title) }),
      xBtn),
    body,
    h("footer", { class: "modal-foot" }, closeBtn, submitBtn));
  return h("div", { class: "overlay modal-overlay" }, modal);
}

function currentErrors(v) {
  return S.localErrors.get(v.id) || v.errors || {};
}

/** Inline errors under their input blocks (others at the end of the form). */
function showModalErrors(v) {
  if (!S.modalNode) return;
  const errors = currentErrors(v);
  const body = S.modalNode.querySelector(".modal-body");
  for (const old of body.querySelectorAll(".in-error")) old.remove();
  for (const wrap of body.querySelectorAll(".b-input.has-error")) wrap.classList.remove("has-error");
  const rest = body.querySelector(".modal-errors");
  rest.replaceChildren();
  for (const [blockId, message] of Object.entries(errors)) {
    const err = h("div", { class: "in-error", "data-testid": `error-${blockId}`, role: "alert", text: String(message) });
    const wrap = [...body.querySelectorAll(".b-input[data-block-id]")].find((w) => w.dataset.blockId === blockId);
    if (wrap) {
      wrap.classList.add("has-error");
      const hint = wrap.querySelector(".in-hint");
      wrap.insertBefore(err, hint || null);
    } else {
      rest.appendChild(err);
    }
  }
  const submit = S.modalNode.querySelector("[data-testid=modal-submit]");
  if (submit) submit.disabled = S.submitting === v.id;
}

async function submitModal(v, body) {
  if (S.submitting === v.id) return;
  S.submitting = v.id;
  S.localErrors.delete(v.id);
  const submit = S.modalNode && S.modalNode.querySelector("[data-testid=modal-submit]");
  if (submit) { submit.disabled = true; submit.classList.add("loading"); }
  try {
    const r = await api.submit({ user: S.user, view_id: v.id, values: readValues(body) });
    if (r && r.ok === false) S.localErrors.set(v.id, r.errors || {});
    else if (r && r.ok !== true && r.error) toast(`Submit failed: ${r.error}`);
  } catch (err) {
    toast(`Submit not delivered: ${err.message}`);
  } finally {
    S.submitting = null;
    if (submit && submit.isConnected) { submit.disabled = false; submit.classList.remove("loading"); }
    const cur = visibleViews().find((x) => x.id === v.id);
    if (cur && S.modalId === v.id) showModalErrors(cur);
    refresh();
  }
}

async function closeModal(v) {
  S.closing.set(v.id, null);
  renderModal();
  try {
    const r = await api.close({ user: S.user, view_id: v.id });
    if (r && r.ok === false) toast(`Close failed${r.error ? ": " + r.error : ""}`);
  } catch (err) {
    toast(`Close not delivered: ${err.message}`);
  } finally {
    if (S.closing.has(v.id)) S.closing.set(v.id, fetchGen);
    refresh();
  }
}

/** Slack's confirm object as an in-page dialog; resolves true when confirmed. */
function confirmDialog(c) {
  if (S.confirmOpen) S.confirmOpen();
  return new Promise((resolve) => {
    const done = (ok) => {
      overlay.remove();
      S.confirmOpen = null;
      resolve(ok);
    };
    const danger = c.style === "danger";
    const ok = h("button", { type: "button", class: `btn ${danger ? "danger" : "primary"}`, "data-testid": "confirm-ok" }, plainText(c.confirm) || "Yes");
    const cancel = h("button", { type: "button", class: "btn default", "data-testid": "confirm-cancel" }, plainText(c.deny) || "Cancel");
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    const overlay = h("div", { class: "overlay confirm-overlay" },
      h("div", { class: "modal confirm", "data-testid": "confirm", role: "alertdialog", "aria-modal": "true" },
        h("header", { class: "modal-head" }, h("h2", { class: "modal-title", text: plainText(c.title) || "Are you sure?" })),
        h("div", { class: "modal-body" }, textObj(c.text)),
        h("footer", { class: "modal-foot" }, cancel, ok)));
    S.confirmOpen = () => done(false);
    $("overlay-root").appendChild(overlay);
    setTimeout(() => ok.focus(), 0);
  });
}

/* ──────────────────────────────── panels ─────────────────────────────── */

function personName(id) {
  if (!id) return "";
  if (typeof id === "string" && id.startsWith("slack:")) id = id.slice(6); // audit actors
  const p = S.people.get(id);
  if (p) return p.name;
  if (S.data && S.data.workspace && id === S.data.workspace.bot_user_id) return S.data.workspace.bot_name;
  return id;
}

function tsDate(ts) {
  const n = Number(ts);
  return Number.isFinite(n) ? new Date(n * 1000) : null;
}

function timeText(d, secs) {
  return d ? d.toLocaleTimeString(undefined, secs ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "numeric", minute: "2-digit" }) : "";
}

/* sidebar */
function renderSidebar() {
  const d = S.data;
  const ws = d.workspace || {};
  $("ws-name").textContent = ws.name || "hitl playground";
  $("home-app-name").textContent = ws.bot_name || "hitl";
  document.title = `${ws.name || "hitl playground"}`;

  const sel = $("person");
  const peopleSig = JSON.stringify(d.people);
  if (sel.dataset.sig !== peopleSig) {
    sel.replaceChildren(...(d.people || []).map((p) =>
      h("option", { value: p.id, text: p.name })));
    sel.dataset.sig = peopleSig;
  }
  sel.value = S.user;
  const me = S.people.get(S.user);
  const myGroups = (d.groups || []).filter((g) => (g.members || []).includes(S.user)).map((g) => `@${g.handle}`);
  const member = myGroups.length ? `member of ${myGroups.join(", ")}` : "in no group";
  let about = member;
  if (me && me.title) about = myGroups.length ? `${me.title} · ${member}` : /group/i.test(me.title) ? me.title : `${me.title} · ${member}`;
  $("person-title").textContent = me ? about : "";

  const chans = [], dms = [];
  for (const c of S.channels.values()) (c.kind === "dm" ? dms : chans).push(c);
  $("nav-channels").replaceChildren(...chans.map(navItem));
  $("nav-dms").replaceChildren(...dms.map(navItem));
  const home = $("tab-home");
  home.classList.toggle("active", !!S.view && S.view.kind === "home");

  $("nav-groups").replaceChildren(...(d.groups || []).map((g) =>
    h("li", { class: "grp" },
      h("span", { class: "grp-handle", text: `@${g.handle}` }),
      h("span", { class: "grp-members", text: (g.members || []).map(personName).join(", ") }))));
}

function navItem(c) {
  const active = S.view && S.view.kind === "channel" && S.view.id === c.id;
  if (active) markSeen(c.id);
  const unread = unreadCount(c.id);
  const btn = h("button", { type: "button", class: `nav-item${active ? " active" : ""}${unread ? " unread" : ""}`, "data-testid": `channel-${c.id}`, "aria-current": active ? "page" : null },
    c.kind === "dm"
      ? h("span", { class: "nav-icon app-icon small", "aria-hidden": "true", text: "h" })
      : h("span", { class: "nav-icon hash", "aria-hidden": "true", text: "#" }),
    h("span", { class: "nav-label", text: c.name }),
    c.kind === "dm" ? h("span", { class: "nav-sub", text: "app" }) : null,
    unread ? h("span", { class: "badge", "data-testid": `unread-${c.id}`, text: String(unread), title: `${unread} new` }) : null);
  btn.addEventListener("click", () => showChannel(c.id));
  return h("li", {}, btn);
}

/* main column */
function renderMain() {
  const list = $("messages");
  const title = $("chan-title"), sub = $("chan-sub");
  const bot = (S.data.workspace && S.data.workspace.bot_name) || "hitl";
  if (!S.view) { list.replaceChildren(); return; }
  // The app's own page (Home tab and DM) has Slack's tab strip.
  const appTabs = (active) => {
    const dm = dmChannel();
    const tab = (label, on, go) => h("button", { type: "button", class: `htab${on ? " active" : ""}`, "aria-pressed": String(on), onclick: go }, label);
    return h("div", { class: "htabs" },
      tab("Home", active === "home", () => { if (active !== "home") showHome(); }),
      dm ? tab("Messages", active === "dm", () => showChannel(dm.id)) : null);
  };
  if (S.view.kind === "home") {
    title.replaceChildren(h("span", { class: "app-icon", "aria-hidden": "true", text: "h" }), h("span", { text: bot }), h("span", { class: "app-badge", text: "APP" }));
    sub.replaceChildren(appTabs("home"));
    renderHome(list);
    return;
  }
  const c = S.channels.get(S.view.id);
  if (c.kind === "dm") {
    title.replaceChildren(h("span", { class: "app-icon", "aria-hidden": "true", text: "h" }), h("span", { text: c.name }), h("span", { class: "app-badge", text: "APP" }));
    sub.replaceChildren(appTabs("dm"));
  } else {
    title.replaceChildren(h("span", { class: "hash", text: "#" }), h("span", { text: c.name }));
    const n = messagesOf(c.id).filter((m) => !m.ephemeral).length;
    sub.textContent = `${n} message${n === 1 ? "" : "s"} · ${bot} posts requests here`;
  }
  list.classList.remove("home");
  renderMessages(list, c.id);
}

function renderMessages(list, channelId) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const keepTop = list.scrollTop;
  const wasChannel = list.dataset.channel;
  list.dataset.channel = channelId;
  const msgs = messagesOf(channelId);
  const nodes = [];
  const used = new Set();
  let prev = null, prevDay = "";
  if (!msgs.length) {
    const c = S.channels.get(channelId);
    nodes.push(h("div", { class: "empty" },
      h("div", { class: "empty-title", text: c.kind === "dm" ? "No messages yet" : `This is the very beginning of #${c.name}` }),
      h("div", { class: "empty-text", text: "Send a test request from the Agent panel, or type /hitl pending below." })));
  }
  for (const m of msgs) {
    const d = tsDate(m.ts);
    const day = d ? d.toDateString() : "";
    if (day && day !== prevDay) {
      const sepKey = `${channelId} day ${day}`;
      let sep = S.msgCache.get(sepKey);
      if (!sep) {
        sep = { sig: day, node: h("div", { class: "day-sep" }, h("span", { text: d.toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric" }) })) };
        S.msgCache.set(sepKey, sep);
      }
      used.add(sepKey);
      nodes.push(sep.node);
      prevDay = day;
      prev = null;
    }
    // Slack folds a run of plain messages by one author; cards (blocks) always show who and when.
    const plainMsg = (x) => !x.ephemeral && !(x.blocks && x.blocks.length);
    const grouped = !!prev && plainMsg(prev) && plainMsg(m) && (m.user || "") === (prev.user || "") &&
      Math.abs(Number(m.ts) - Number(prev.ts)) < 300;
    const key = `${channelId} ${m.ts} ${m.ephemeral ? "e" : "m"}`;
    const sig = `${grouped}|${S.repliesClosed.has(key)}|${S.namesSig}|${JSON.stringify(m)}`;
    let cached = S.msgCache.get(key);
    if (!cached || cached.sig !== sig) {
      if (cached) S.busy.delete(cached.node);
      cached = { sig, node: renderMessage(m, channelId, grouped, key) };
      S.msgCache.set(key, cached);
    }
    used.add(key);
    nodes.push(cached.node);
    prev = m;
  }
  for (const k of S.msgCache.keys()) if (!used.has(k) && k.startsWith(channelId + " ")) S.msgCache.delete(k);
  if (wasChannel !== channelId) list.replaceChildren(...nodes);
  else reconcile(list, nodes);

  if (S.scrollToEnd || wasChannel !== channelId || atBottom) list.scrollTop = list.scrollHeight;
  else list.scrollTop = keepTop;
  S.scrollToEnd = false;
  if (S.flash) {
    const target = nodes.find((n) => n.dataset && n.dataset.ts === S.flash);
    if (target) {
      S.flash = null;
      target.classList.remove("flash");
      void target.offsetWidth;
      target.classList.add("flash");
      target.scrollIntoView({ block: "nearest" });
    }
  }
}

/** Put nodes into parent in order, moving only what is out of place. */
function reconcile(parent, nodes) {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}

function author(m) {
  const ws = S.data.workspace || {};
  if (m.user && S.people.has(m.user)) return { name: S.people.get(m.user).name, bot: false, id: m.user };
  return { name: ws.bot_name || "hitl", bot: true, id: ws.bot_user_id };
}

function avatar(a, small) {
  if (a.bot) return h("span", { class: `app-icon avatar${small ? " small" : ""}`, "aria-hidden": "true", text: (a.name || "h")[0] });
  let hash = 0;
  for (const ch of a.id || a.name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return h("span", { class: `avatar person-av${small ? " small" : ""}`, style: `--hue:${hash % 360}`, "aria-hidden": "true", text: (a.name || "?")[0] });
}

function messageBody(m, container) {
  const ctx = { container, surface: "message" };
  const content = m.blocks && m.blocks.length ? renderBlocks(m.blocks, ctx) : mrkdwn(m.text || "", "mrkdwn msg-text");
  return content;
}

function renderMessage(m, channelId, grouped, key) {
  const a = author(m);
  const d = tsDate(m.ts);
  const eph = !!m.ephemeral;
  const container = { type: eph ? "ephemeral" : "message", channel: m.channel || channelId, ts: m.ts };
  const root = h("div", {
    class: `msg${eph ? " ephemeral" : ""}${grouped ? " grouped" : ""}`,
    "data-testid": eph ? "ephemeral" : "message", "data-channel": m.channel || channelId, "data-ts": m.ts,
    "data-surface": "message",
  });
  if (eph) {
    root.appendChild(h("div", { class: "eph-note" }, h("span", { class: "eye", "aria-hidden": "true", text: "👁" }), "Only visible to you"));
  }
  const gutter = h("div", { class: "msg-gutter" }, grouped ? h("span", { class: "hover-time", text: timeText(d), title: d ? d.toLocaleString() : "" }) : avatar(a));
  const body = h("div", { class: "msg-body" });
  if (!grouped) {
    body.appendChild(h("div", { class: "msg-meta" },
      h("span", { class: "msg-author", text: a.name }),
      a.bot ? h("span", { class: "app-badge", text: "APP" }) : null,
      h("span", { class: "msg-time", text: timeText(d), title: d ? d.toLocaleString() : "" }),
      m.updates ? h("span", { class: "edited", text: "(edited)", title: `updated ${m.updates} time${m.updates === 1 ? "" : "s"}` }) : null));
  } else if (m.updates) {
    body.appendChild(h("span", { class: "edited floating", text: "(edited)" }));
  }
  body.appendChild(messageBody(m, container));

  const replies = m.replies || [];
  if (replies.length) {
    const closed = S.repliesClosed.has(key);
    const box = h("div", { class: "replies", hidden: closed || null });
    for (const r of replies) {
      const ra = author(r);
      const rd = tsDate(r.ts);
      box.appendChild(h("div", { class: "reply", "data-testid": "reply", "data-ts": r.ts, "data-surface": "message" },
        avatar(ra, true),
        h("div", { class: "msg-body" },
          h("div", { class: "msg-meta" },
            h("span", { class: "msg-author", text: ra.name }),
            ra.bot ? h("span", { class: "app-badge", text: "APP" }) : null,
            h("span", { class: "msg-time", text: timeText(rd), title: rd ? rd.toLocaleString() : "" }),
            r.updates ? h("span", { class: "edited", text: "(edited)" }) : null),
          messageBody(r, { type: "message", channel: r.channel || channelId, ts: r.ts }))));
    }
    const toggle = h("button", { type: "button", class: `thread-toggle${closed ? "" : " open"}`, "aria-expanded": String(!closed) },
      h("span", { class: "caret", "aria-hidden": "true", text: "▸" }),
      `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`);
    toggle.addEventListener("click", () => {
      const isOpen = !box.hidden;
      box.hidden = isOpen;
      toggle.classList.toggle("open", !isOpen);
      toggle.setAttribute("aria-expanded", String(!isOpen));
      if (isOpen) S.repliesClosed.add(key); else S.repliesClosed.delete(key);
      const cached = S.msgCache.get(key);
      if (cached) cached.sig = `${grouped}|${S.repliesClosed.has(key)}|${cached.sig.split("|").slice(2).join("|")}`;
    });
    body.appendChild(h("div", { class: "thread" }, toggle, box));
  }
  if (eph) {
    const dismiss = h("a", { href: "#", class: "link-btn dismiss", role: "link", text: "Dismiss" });
    dismiss.addEventListener("click", (ev) => {
      ev.preventDefault();
      S.dismissed.add(`${S.user} ${channelId} ${m.ts}`);
      renderMain();
      renderSidebar();
    });
    body.appendChild(h("div", { class: "eph-foot" }, dismiss));
  }
  append(root, [h("div", { class: "msg-row" }, gutter, body)]);
  return root;
}

function renderHome(list) {
  list.dataset.channel = "";
  list.classList.add("home");
  const home = S.data.home;
  let node;
  if (!home) {
    node = h("div", { class: "home-wrap" }, h("div", { class: "empty" },
      h("div", { class: "empty-title", text: "Loading Home…" }),
      h("div", { class: "empty-text", text: "The app publishes this tab when you open it (app_home_opened)." })));
  } else {
    const sig = `${S.namesSig}|${JSON.stringify(home)}`;
    if (list.dataset.homeSig === sig && list.firstElementChild && list.firstElementChild.classList.contains("home-wrap")) return;
    list.dataset.homeSig = sig;
    node = h("div", { class: "home-wrap" },
      h("div", { class: "home-surface", "data-surface": "home", "data-testid": "home" },
        renderBlocks(home.blocks, { container: { type: "home" }, surface: "home" })));
  }
  if (!home) list.dataset.homeSig = "";
  list.replaceChildren(node);
  list.scrollTop = 0;
}

/* composer: /hitl commands only */
function setupComposer() {
  const form = $("composer"), input = $("slash"), hint = $("composer-hint"), suggest = $("slash-suggest");
  hint.dataset.testid = "slash-hint";
  const updateSuggest = () => {
    const v = input.value;
    const show = v.startsWith("/") && "/hitl pending".startsWith(v) && v !== "/hitl pending";
    suggest.hidden = !show;
  };
  input.addEventListener("input", () => { hint.textContent = ""; hint.className = "composer-hint"; updateSuggest(); });
  input.addEventListener("blur", () => setTimeout(() => { suggest.hidden = true; }, 150));
  input.addEventListener("focus", updateSuggest);
  suggest.addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-fill]");
    if (!b) return;
    input.value = b.dataset.fill;
    suggest.hidden = true;
    input.focus();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const raw = input.value.trim();
    suggest.hidden = true;
    if (!raw) return;
    const m = /^(\/\S+)\s*([\s\S]*)$/.exec(raw);
    if (!m || m[1] !== "/hitl") {
      hint.textContent = "only /hitl commands are sent in the playground";
      hint.className = "composer-hint warn";
      return;
    }
    const channel = S.view && S.view.kind === "channel" ? S.view.id : (dmChannel() || {}).id;
    input.disabled = true;
    try {
      const r = await api.command({ user: S.user, channel, command: m[1], text: m[2] });
      if (r.status !== 200) toast(`${m[1]} answered ${r.status ?? "?"}${r.body ? ": " + r.body : ""}`);
      else { input.value = ""; hint.textContent = ""; }
    } catch (err) {
      toast(`Command not delivered: ${err.message}`);
    } finally {
      input.disabled = false;
      input.focus();
      refresh();
    }
  });
}

/* agent panel */
const STATUS_TEXT = { waiting: "waiting", approved: "approved", rejected: "rejected", answered: "answered", declined: "declined", expired: "expired", cancelled: "cancelled", error: "error" };

function renderAgent() {
  const list = $("agent-list");
  const entries = S.data.agent || [];
  if (!entries.length) {
    list.replaceChildren(h("div", { class: "panel-empty", text: "No requests yet: send one above and it appears here." }));
    return;
  }
  list.replaceChildren(...entries.map(agentEntry));
}

function agentEntry(a) {
  const dec = a.decision || null;
  const status = a.status || "waiting";
  const chan = a.channel && S.channels.get(a.channel);
  const submitted = a.submitted_at ? new Date(a.submitted_at * 1000) : null;
  const el = h("div", {
    class: `agent-req${S.selected === a.request_id ? " selected" : ""}`, "data-testid": "agent-request",
    "data-request-id": a.request_id, "data-status": status, tabindex: "0", role: "button",
    "aria-pressed": String(S.selected === a.request_id),
  });
  el.appendChild(h("div", { class: "ar-top" },
    h("span", { class: "ar-summary", text: a.summary || a.request_id, title: a.summary || "" }),
    h("span", { class: `pill st-${STATUS_TEXT[status] ? status : "error"}`, text: status })));
  const meta = h("div", { class: "ar-meta" },
    h("code", { class: "ar-action", text: a.action || "" }),
    chan ? h("button", { type: "button", class: "link-btn ar-chan", text: chan.kind === "dm" ? chan.name : `#${chan.name}`, title: "Show the message",
      onclick: (ev) => { ev.stopPropagation(); if (a.ts) S.flash = a.ts; showChannel(chan.id); } }) : null,
    submitted ? h("span", { class: "ar-time", text: timeText(submitted, true), title: submitted.toLocaleString() }) : null);
  el.appendChild(meta);
  if (dec) {
    const deciders = Array.isArray(dec.decided_by) ? dec.decided_by : dec.decided_by ? [dec.decided_by] : [];
    const who = deciders.length ? `by ${deciders.map(personName).join(", ")}` : "";
    const line = h("div", { class: "ar-decision" });
    if (who) line.appendChild(h("span", { class: "ar-by", text: who }));
    if (dec.edited) line.appendChild(h("span", { class: "badge-edited", text: "edited" }));
    if (line.childNodes.length) el.appendChild(line);
    if (dec.reason) el.appendChild(h("div", { class: "ar-reason", "data-testid": "agent-reason", text: dec.reason }));
    if (a.answer !== undefined && a.answer !== null) {
      const shown = typeof a.answer === "string" ? a.answer : JSON.stringify(a.answer);
      el.appendChild(h("div", { class: "ar-answer", "data-testid": "agent-answer", text: `answer: ${shown}` }));
    }
    if (dec.payload !== undefined && dec.payload !== null) {
      const json = JSON.stringify(dec.payload);
      const pre = h("pre", { class: "ar-payload", "data-testid": "agent-payload", text: json });
      if (dec.edited) {
        el.appendChild(h("div", { class: "ar-payload-box" }, h("div", { class: "ar-label", text: "final payload (edited)" }), pre));
      } else {
        const det = h("details", { class: "ar-details", open: S.payloadOpen.has(a.request_id) || null },
          h("summary", { text: "final payload" }), pre);
        det.addEventListener("toggle", () => {
          if (det.open) S.payloadOpen.add(a.request_id); else S.payloadOpen.delete(a.request_id);
        });
        det.addEventListener("click", (ev) => ev.stopPropagation());
        el.appendChild(det);
      }
    }
  }
  if (a.latency_ms !== null && a.latency_ms !== undefined) {
    const ms = Number(a.latency_ms);
    const txt = ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
    el.appendChild(h("div", { class: "ar-latency", "data-testid": "agent-latency", text: `agent got it in ${txt} ms after the click` }));
  }
  if (a.error) el.appendChild(h("div", { class: "ar-error", text: a.error }));
  const select = () => selectRequest(a.request_id);
  el.addEventListener("click", select);
  el.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); select(); } });
  return el;
}

function selectRequest(id) {
  S.selected = id;
  for (const el of document.querySelectorAll("[data-testid=agent-request]")) {
    const on = el.dataset.requestId === id;
    el.classList.toggle("selected", on);
    el.setAttribute("aria-pressed", String(on));
  }
  if (!S.explain || S.explain.id !== id) { S.explain = { id, loading: true }; renderExplain(); }
  loadExplain();
}

/* explain panel */
let explainToken = 0;
async function loadExplain() {
  const id = S.selected;
  if (!id) return;
  S.explainSeq = S.seq;
  const token = ++explainToken;
  try {
    const data = await api.explain(id);
    if (token !== explainToken || id !== S.selected) return;
    S.explain = { id, data };
  } catch (err) {
    if (token !== explainToken || id !== S.selected) return;
    S.explain = { id, error: err.message };
  }
  renderExplain();
}

function ttlText(ttl) {
  if (ttl === -2) return "gone";
  if (ttl < 0) return "no expiry";
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const out = [];
  let rest = Math.round(ttl);
  for (const [u, n] of units) {
    if (rest >= n && out.length < 2) { out.push(`${Math.floor(rest / n)}${u}`); rest %= n; }
  }
  return out.length ? out.join(" ") : "0s";
}

function renderExplain() {
  const root = $("explain");
  const note = $("explain-note");
  const ex = S.explain;
  if (!S.selected || !ex) {
    note.textContent = "select a request";
    root.replaceChildren(h("div", { class: "panel-empty", text: "Click a request in the Agent panel to see the Redis keys behind it and its audit trail." }));
    return;
  }
  note.textContent = "";
  note.appendChild(h("code", { text: ex.id }));
  if (ex.loading) { root.replaceChildren(h("div", { class: "panel-empty", text: "Loading…" })); return; }
  if (ex.error) { root.replaceChildren(h("div", { class: "form-error", text: `Could not load: ${ex.error}` })); return; }
  const data = ex.data || {};
  const prefix = (S.data && S.data.workspace && S.data.workspace.prefix) || "";
  const keys = h("ul", { class: "keys" }, (data.keys || []).map((k) => {
    const name = String(k.key || "");
    const keyEl = h("span", { class: "key-name", title: name });
    if (prefix && name.startsWith(prefix + ":")) {
      keyEl.append(h("span", { class: "key-prefix", text: prefix + ":" }), name.slice(prefix.length + 1));
    } else keyEl.textContent = name;
    return h("li", { class: "key" }, keyEl,
      h("div", { class: "key-line" },
        h("span", { class: "key-type", text: k.type || "?" }),
        typeof k.ttl === "number" ? h("span", { class: "key-ttl", text: ttlText(k.ttl), title: `TTL ${k.ttl} s` }) : null,
        k.about ? h("span", { class: "key-about", text: k.about }) : null));
  }));
  const audit = h("ol", { class: "timeline" }, (data.audit || []).map((e) => {
    const d = e.ts ? new Date(e.ts) : null;
    const ok = d && !Number.isNaN(d.getTime());
    return h("li", { class: `tl-item ev-${String(e.event || "").replace(/[^a-z_-]/gi, "")}` },
      h("div", { class: "tl-line" },
        h("span", { class: "tl-event", text: e.event || "?" }),
        e.actor ? h("span", { class: "tl-actor", text: personName(e.actor) }) : null,
        h("span", { class: "tl-time", text: ok ? timeText(d, true) : String(e.ts || ""), title: String(e.ts || "") })),
      e.reason ? h("div", { class: "tl-reason", text: e.reason }) : null,
      e.digest || e.entry || e.policy ? h("div", { class: "tl-digest" },
        e.entry ? h("span", { text: e.entry, title: "stream entry id" }) : null,
        e.digest ? h("span", { text: `args #${String(e.digest).slice(0, 10)}`, title: `arguments digest ${e.digest}` }) : null,
        e.policy ? h("span", { text: `policy #${String(e.policy).slice(0, 10)}`, title: `policy digest ${e.policy}` }) : null) : null);
  }));
  root.replaceChildren();
  append(root, [
    h("h3", { class: "ex-h" }, "Audit trail", h("span", { class: "ex-count", text: String((data.audit || []).length) })),
    (data.audit || []).length ? audit : h("div", { class: "panel-empty small", text: "No audit events (yet)." }),
    h("h3", { class: "ex-h" }, "Redis keys", h("span", { class: "ex-count", text: String((data.keys || []).length) })),
    (data.keys || []).length ? keys : h("div", { class: "panel-empty small", text: "No keys (yet)." }),
    data.audit_command ? h("div", { class: "ex-cmd" }, h("span", { class: "ex-cmd-label", text: "In a terminal:" }),
      h("code", { class: "ex-cmd-text", text: String(data.audit_command) })) : null]);
}

/* request form */
function parseJson(text) {
  try {
    return { value: JSON.parse(text) };
  } catch (err) {
    const msg = String(err.message || "");
    let line;
    const ln = /line (\d+)/i.exec(msg);
    const pos = /position (\d+)/i.exec(msg);
    if (ln) line = Number(ln[1]);
    else if (pos) line = text.slice(0, Number(pos[1])).split("\n").length;
    else line = text.replace(/\s+$/, "").split("\n").length;
    return { error: `payload: not valid JSON (line ${line})` };
  }
}

function setupRequestForm() {
  const form = $("request-form"), err = $("request-error"), btn = $("send-request");
  const field = (n) => form.elements.namedItem(n);
  const fail = (msg, name) => {
    err.textContent = msg;
    if (name) { field(name).classList.add("invalid"); field(name).focus(); }
  };
  form.addEventListener("input", (ev) => { ev.target.classList && ev.target.classList.remove("invalid"); err.textContent = ""; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    const summary = field("summary").value.trim();
    const action = field("action").value.trim();
    const details = field("details").value;
    const timeoutRaw = field("timeout").value.trim();
    if (!summary) return fail("summary: must not be empty", "summary");
    if (!action) return fail("action: must not be empty", "action");
    const parsed = parseJson(field("payload").value);
    if (parsed.error) return fail(parsed.error, "payload");
    const payload = parsed.value;
    if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return fail("payload: must be a JSON object", "payload");
    const timeout = Number(timeoutRaw);
    if (!timeoutRaw || !Number.isInteger(timeout) || timeout <= 0) return fail("timeout: must be a whole number of seconds above 0", "timeout");
    const body = { summary, action, payload, risk: field("risk").value, timeout };
    if (details.trim()) body.details = details;
    const requestedBy = field("requested_by").value;
    if (requestedBy) body.requested_by = requestedBy;
    btn.disabled = true;
    btn.classList.add("loading");
    try {
      const r = await api.request(body);
      if (r.error) fail(String(r.error));
      else if (r.request_id) {
        S.follow = { id: r.request_id, switched: false };
        selectRequest(r.request_id);
      } else fail("the playground answered without a request id");
    } catch (e) {
      fail(`not sent: ${e.message}`);
    } finally {
      btn.disabled = false;
      btn.classList.remove("loading");
      refresh();
    }
  });
}

function setupQuestionForm() {
  const form = $("question-form"), err = $("question-error"), btn = $("send-question");
  const field = (n) => form.elements.namedItem(n);
  form.addEventListener("input", () => { err.textContent = ""; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const question = field("question").value.trim();
    if (!question) { err.textContent = "question: must not be empty"; return; }
    const options = field("options").value.split(",").map((o) => o.trim()).filter(Boolean);
    const body = { question, options, multiple: field("multiple").checked };
    btn.disabled = true;
    try {
      const r = await api.question(body);
      if (r.error) err.textContent = String(r.error);
      else if (r.request_id) { S.follow = { id: r.request_id, switched: false }; selectRequest(r.request_id); }
    } catch (e) {
      err.textContent = `not sent: ${e.message}`;
    } finally {
      btn.disabled = false;
      refresh();
    }
  });
}

/* toasts, connection, boot errors */
function toast(message, kind) {
  const el = h("div", { class: `toast ${kind || "error"}`, "data-testid": "toast", role: "status", text: message });
  el.addEventListener("click", () => el.remove());
  $("toasts").appendChild(el);
  setTimeout(() => { el.classList.add("out"); setTimeout(() => el.remove(), 300); }, 5000);
}

function setConnected(up) {
  const dot = $("conn");
  dot.classList.toggle("up", up);
  dot.classList.toggle("down", !up);
  dot.dataset.state = up ? "up" : "down";
  dot.title = up ? "Live: connected to the playground" : "Disconnected from the playground: reconnecting…";
}

function showBootError(err) {
  $("messages").replaceChildren(h("div", { class: "empty" },
    h("div", { class: "empty-title", text: "Can't reach the playground server" }),
    h("div", { class: "empty-text", text: String(err.message || err) })));
}

/* ───────────────────────────────── boot ──────────────────────────────── */

function connectEvents() {
  let es;
  try { es = new EventSource("/play/events"); } catch { setConnected(false); setTimeout(connectEvents, 3000); return; }
  es.onopen = () => { setConnected(true); refresh(); };
  es.onmessage = (ev) => {
    let seq;
    try { seq = JSON.parse(ev.data).seq; } catch { /* any event means "changed" */ }
    if (seq === undefined || seq !== S.seq) refresh();
  };
  es.onerror = () => {
    setConnected(es.readyState === EventSource.OPEN);
    if (es.readyState === EventSource.CLOSED) { es.close(); setTimeout(connectEvents, 3000); }
  };
}

function boot() {
  const params = new URLSearchParams(location.search);
  S.user = params.get("user") || "U0ALICE";
  if (params.get("channel")) S.view = { kind: "channel", id: params.get("channel"), dm: /^D/.test(params.get("channel")) };
  // Slack permalinks into this playground (…/archives/C…/p…) open in the page itself.
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
    const where = permalinkTarget(a.href);
    if (!where || !S.channels.has(where.channel)) return;
    ev.preventDefault();
    if (where.ts) S.flash = where.ts;
    showChannel(where.channel);
  });
  $("person").addEventListener("change", (ev) => setPerson(ev.target.value));
  $("tab-home").addEventListener("click", showHome);
  setupComposer();
  setupRequestForm();
  setupQuestionForm();
  renderExplain();
  document.addEventListener("click", closeMenu);
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    if (openMenu) { closeMenu(); return; }
    if (S.confirmOpen) { ev.preventDefault(); S.confirmOpen(); return; }
    const views = visibleViews();
    if (views.length) { ev.preventDefault(); closeModal(views[views.length - 1]); }
  });
  setConnected(false);
  refresh();
  connectEvents();
}

boot();
