// The strata console: one page, six screens (tabs), fed by the node's JSON
// API. The overview polls /v1/stats every second and computes rates from
// the counters' differences, so the server keeps no per-console state.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./console.css";
import {
  ApiError,
  apiKey,
  getJSON,
  kvPath,
  request,
  setApiKey,
  type KeyInfo,
  type KeysPage,
  type Slowlog,
  type Stats,
} from "./api";
import { fmtBytes, fmtInt, fmtPct, fmtRate, fmtSeconds, fmtTTL, quantile } from "./format";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`console: #${id} is missing from index.html`);
  return el as T;
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// ---- errors: one visible message per source, never a blank screen ----

const errors = new Map<string, string>();

function showError(source: string, err: unknown): void {
  const msg = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  errors.set(source, msg);
  renderErrors();
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    $("auth-form").hidden = false;
  }
}

function clearError(source: string): void {
  if (errors.delete(source)) renderErrors();
}

function renderErrors(): void {
  const box = $("errors");
  box.replaceChildren();
  for (const [source, msg] of errors) {
    const p = el("p", msg, "error");
    p.dataset.source = source;
    box.append(p);
  }
}

// ---- tabs (WAI-ARIA tabs pattern: arrows, Home, End) ----

const tabs = Array.from(document.querySelectorAll<HTMLButtonElement>('[role="tab"]'));
const onShow = new Map<string, () => void>();

function selectTab(tab: HTMLButtonElement, focus = true): void {
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    $(t.getAttribute("aria-controls")!).hidden = !selected;
  }
  if (focus) tab.focus();
  const name = tab.id.replace(/^tab-/, "");
  history.replaceState(null, "", "#" + name);
  onShow.get(name)?.();
}

for (const t of tabs) {
  t.addEventListener("click", () => selectTab(t));
  t.addEventListener("keydown", (ev) => {
    const i = tabs.indexOf(t);
    let next = -1;
    if (ev.key === "ArrowRight") next = (i + 1) % tabs.length;
    else if (ev.key === "ArrowLeft") next = (i - 1 + tabs.length) % tabs.length;
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = tabs.length - 1;
    if (next >= 0) {
      ev.preventDefault();
      selectTab(tabs[next]);
    }
  });
}

// ---- API key ----

$("auth-toggle").addEventListener("click", () => {
  const f = $("auth-form");
  f.hidden = !f.hidden;
  if (!f.hidden) $("api-key").focus();
});
$("auth-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setApiKey($<HTMLInputElement>("api-key").value.trim());
  $<HTMLInputElement>("api-key").value = "";
  $("auth-form").hidden = true;
  errors.clear();
  renderErrors();
  void poll();
});

// ---- overview: live charts from /v1/stats ----

const historyLen = 300; // 5 minutes at one poll per second
const topCommands = 6;

interface Sample {
  t: number; // seconds since epoch (x axis)
  uptime: number;
  stats: Stats;
}

let prev: Sample | null = null;
const xs: number[] = [];
const opsByCmd = new Map<string, (number | null)[]>();
const hitByTier = new Map<string, (number | null)[]>();
const p50: (number | null)[] = [];
const p99: (number | null)[] = [];
const memUsed: (number | null)[] = [];
const evictRate: (number | null)[] = [];
let latest: Stats | null = null;

function push<T>(arr: T[], v: T): void {
  arr.push(v);
  if (arr.length > historyLen) arr.shift();
}

function pushSeries(m: Map<string, (number | null)[]>, name: string, v: number | null): void {
  let s = m.get(name);
  if (!s) {
    s = new Array<number | null>(Math.max(xs.length - 1, 0)).fill(null);
    m.set(name, s);
  }
  push(s, v);
}

const palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#64748b"];

interface ChartSpec {
  id: string;
  series: () => { label: string; data: (number | null)[] }[];
  yfmt?: (v: number) => string;
  range?: [number, number]; // a fixed y range, e.g. 0–100 for a percentage
}

const charts = new Map<string, { plot: uPlot; labels: string }>();

function chartWidth(id: string): number {
  return Math.max($(id).clientWidth, 280);
}

function drawChart(spec: ChartSpec): void {
  const ser = spec.series();
  const labels = ser.map((s) => s.label).join("\u0000");
  const data = [xs.slice(), ...ser.map((s) => s.data.slice(-xs.length))] as uPlot.AlignedData;
  const have = charts.get(spec.id);
  if (have && have.labels === labels) {
    have.plot.setData(data);
    return;
  }
  have?.plot.destroy();
  const opts: uPlot.Options = {
    width: chartWidth(spec.id),
    height: 180,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, ...(spec.range ? { y: { range: spec.range } } : {}) },
    axes: [{}, { values: (_u, vals) => vals.map((v) => (spec.yfmt ? spec.yfmt(v) : String(v))), size: 60 }],
    series: [
      {},
      ...ser.map((s, i) => ({ label: s.label, stroke: palette[i % palette.length], width: 1.5, spanGaps: false })),
    ],
  };
  const plot = new uPlot(opts, data, $(spec.id));
  charts.set(spec.id, { plot, labels });
}

const chartSpecs: ChartSpec[] = [
  {
    id: "c-ops",
    series: () => {
      // The busiest commands by recent rate; the rest are folded into "other".
      const recent = (s: (number | null)[]) => s.slice(-10).reduce<number>((a, v) => a + (v ?? 0), 0);
      const names = [...opsByCmd.keys()].filter((n) => recent(opsByCmd.get(n)!) > 0).sort((a, b) => recent(opsByCmd.get(b)!) - recent(opsByCmd.get(a)!) || a.localeCompare(b));
      const top = names.slice(0, topCommands).sort();
      const out = top.map((n) => ({ label: n, data: opsByCmd.get(n)! }));
      if (names.length > topCommands) {
        const rest = names.slice(topCommands);
        const data = xs.map((_, i) => rest.reduce<number>((a, n) => a + (opsByCmd.get(n)![i] ?? 0), 0));
        out.push({ label: "other", data });
      }
      if (out.length === 0) out.push({ label: "all", data: xs.map(() => 0) });
      return out;
    },
    yfmt: fmtRate,
  },
  {
    id: "c-hit",
    range: [0, 100],
    series: () => [...hitByTier.keys()].sort().map((n) => ({ label: n, data: hitByTier.get(n)! })),
  },
  {
    id: "c-lat",
    series: () => [
      { label: "p50", data: p50 },
      { label: "p99", data: p99 },
    ],
  },
  {
    id: "c-mem",
    series: () => [
      { label: "used MiB", data: memUsed },
      { label: "evictions/s", data: evictRate },
    ],
  },
];

function record(s: Sample): void {
  const dt = prev ? s.uptime - prev.uptime : 0;
  if (!prev || dt <= 0) {
    prev = s;
    return;
  }
  const st = s.stats;
  const ps = prev.stats;
  push(xs, s.t);
  const names = new Set([...Object.keys(st.commands), ...opsByCmd.keys()]);
  for (const name of names) {
    const now = st.commands[name]?.calls ?? 0;
    const before = ps.commands[name]?.calls ?? 0;
    pushSeries(opsByCmd, name, Math.max(now - before, 0) / dt);
  }
  for (const [tier, t] of Object.entries(st.tiers)) {
    const b = ps.tiers[tier];
    const dh = t.hits - (b?.hits ?? 0);
    const dm = t.misses - (b?.misses ?? 0);
    pushSeries(hitByTier, tier, dh + dm > 0 ? (100 * dh) / (dh + dm) : null);
  }
  const lat = st.latency;
  const plat = ps.latency;
  if (lat) {
    const counts = lat.counts.map((c, i) => c - (plat?.counts[i] ?? 0));
    const total = lat.count - (plat?.count ?? 0);
    const q = (x: number) => {
      const v = quantile(x, lat.buckets_seconds, counts, total);
      return v === null ? null : v * 1000;
    };
    push(p50, q(0.5));
    push(p99, q(0.99));
  } else {
    push(p50, null);
    push(p99, null);
  }
  const l1 = st.tiers["L1"];
  push(memUsed, l1 ? l1.used_bytes / (1 << 20) : null);
  push(evictRate, l1 && ps.tiers["L1"] ? Math.max(l1.evictions - ps.tiers["L1"].evictions, 0) / dt : null);

  const ops = Math.max(st.total_commands - ps.total_commands, 0) / dt;
  $("m-ops").textContent = fmtRate(ops);
  const last50 = p50[p50.length - 1];
  const last99 = p99[p99.length - 1];
  $("m-lat").textContent =
    last50 === null || last99 === null ? "no commands" : `${fmtSeconds(last50 / 1000)} / ${fmtSeconds(last99 / 1000)}`;
  prev = s;
  if (!$("panel-overview").hidden) for (const c of chartSpecs) drawChart(c);
}

function renderOverviewNumbers(st: Stats): void {
  const l1 = st.tiers["L1"];
  $("m-total").textContent = fmtInt(st.total_commands);
  if (l1) {
    $("m-hit").textContent = l1.hits + l1.misses > 0 ? fmtPct(l1.hit_ratio) : "no reads yet";
    $("m-mem").textContent = `${fmtBytes(l1.used_bytes)} / ${fmtBytes(l1.max_bytes)}`;
    $("m-keys").textContent = fmtInt(l1.keys);
    $("m-evict").textContent = `${fmtInt(l1.evictions)} / ${fmtInt(l1.expirations)}`;
  }
  $("m-clients").textContent =
    Object.entries(st.clients)
      .sort()
      .map(([p, n]) => `${p} ${fmtInt(n)}`)
      .join(", ") || "0";
  $("node-info").textContent = `${location.host} · v${st.version} · up ${fmtUptime(st.uptime_seconds)} · ${st.ready ? "ready" : "NOT READY"}`;
}

function fmtUptime(s: number): string {
  if (s < 120) return `${Math.floor(s)} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

let polling = false;

async function poll(): Promise<void> {
  if (polling) return;
  polling = true;
  const live = $("live");
  try {
    const st = await getJSON<Stats>("/v1/stats");
    clearError("stats");
    live.classList.add("ok");
    live.title = "live: polling /v1/stats every second";
    latest = st;
    renderOverviewNumbers(st);
    record({ t: Date.now() / 1000, uptime: st.uptime_seconds, stats: st });
    renderResources(st);
    renderFreshness(st);
    renderFleet(st);
  } catch (e) {
    live.classList.remove("ok");
    live.title = "not receiving stats";
    showError("stats", e);
  } finally {
    polling = false;
  }
}

// ---- resources, freshness, fleet: from the same stats document ----

function table(headers: string[], rows: (string | Node)[][], label: string): HTMLTableElement {
  const t = el("table", undefined, "grid");
  t.setAttribute("aria-label", label);
  const tr = el("tr");
  for (const h of headers) {
    const th = el("th", h);
    th.scope = "col";
    tr.append(th);
  }
  t.append(el("thead"));
  t.tHead!.append(tr);
  const tb = el("tbody");
  for (const r of rows) {
    const row = el("tr");
    for (const c of r) {
      const td = el("td");
      td.append(c);
      row.append(td);
    }
    tb.append(row);
  }
  t.append(tb);
  return t;
}

function note(text: string): HTMLParagraphElement {
  return el("p", text, "note");
}

function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

function renderResources(st: Stats): void {
  const box = $("resources");
  const res = st.resources;
  if (!res || Object.keys(res).length === 0) {
    box.replaceChildren(
      note("No resources configured: every key on this node is a plain key. Declare resources (a key template bound to SQL) under resources: in the config file to read through to PostgreSQL."),
    );
    return;
  }
  const rows = Object.entries(res)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, r]) => {
      const q = sum(r.origin_queries);
      return [
        name,
        fmtInt(r.hits),
        fmtInt(r.misses),
        fmtPct(r.hits + r.misses > 0 ? r.hit_ratio : null),
        fmtInt(q),
        q > 0 ? fmtSeconds(r.origin_query_seconds_total / q) : "–",
        fmtInt(r.origin_queries["error"] ?? 0) + " / " + fmtInt(r.origin_queries["unavailable"] ?? 0),
        fmtInt(sum(r.stale_served)),
        fmtInt(r.negative_hits),
        fmtInt(r.coalesced_waiters),
        fmtInt(r.fills_rejected),
      ];
    });
  box.replaceChildren(
    table(
      ["resource", "hits", "misses", "hit ratio", "origin queries", "mean origin latency", "errors / unavailable", "stale served", "negative hits", "coalesced", "fills fenced off"],
      rows,
      "Resources",
    ),
  );
}

function kvTable(obj: Record<string, unknown>, label: string): HTMLTableElement {
  const t = el("table", undefined, "kv");
  t.setAttribute("aria-label", label);
  for (const [k, v] of Object.entries(obj)) {
    const tr = el("tr");
    const th = el("th", k);
    th.scope = "row";
    tr.append(th, el("td", typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)));
    t.append(tr);
  }
  return t;
}

function renderFreshness(st: Stats): void {
  const box = $("freshness");
  if (!st.freshness) {
    box.replaceChildren(
      note("WAL invalidation is not configured on this node: cached resource entries are invalidated by TTL, DEL and HTTP DELETE only, and there is no WAL position or lag to show."),
    );
    return;
  }
  box.replaceChildren(kvTable(st.freshness, "Freshness"));
}

function renderFleet(st: Stats): void {
  const box = $("fleet");
  const self = table(
    ["node", "version", "uptime", "ready", "keys", "memory"],
    [[location.host, st.version, fmtUptime(st.uptime_seconds), st.ready ? "yes" : "no", fmtInt(st.tiers["L1"]?.keys ?? 0), fmtBytes(st.tiers["L1"]?.used_bytes ?? 0)]],
    "This node",
  );
  if (!st.fleet) {
    box.replaceChildren(self, note("Single node: no L2 configured. This node answers from its own L1; there is no shared Redis Cluster tier and no other node to list."));
    return;
  }
  box.replaceChildren(self, kvTable(st.fleet, "Fleet"));
}

// ---- keys: browse by prefix, inspect, delete ----

let keysCursor = "0";
let keysPrefix = "";
let selectedKey: KeyInfo | null = null;

function keyPath(prefix: string, k: KeyInfo): string {
  if (k.key_encoding !== "base64") return kvPath(prefix, k.key);
  const bytes = Uint8Array.from(atob(k.key), (c) => c.charCodeAt(0));
  return prefix + Array.from(bytes, (b) => "%" + b.toString(16).padStart(2, "0").toUpperCase()).join("");
}

async function loadKeys(more: boolean): Promise<void> {
  const status = $("keys-status");
  const tbody = $<HTMLTableElement>("keys-table").tBodies[0];
  if (!more) {
    keysCursor = "0";
    keysPrefix = $<HTMLInputElement>("keys-prefix").value;
    tbody.replaceChildren();
  }
  status.textContent = "searching…";
  try {
    const q = new URLSearchParams({ prefix: keysPrefix, cursor: keysCursor, count: "100" });
    const page = await getJSON<KeysPage>(`/v1/keys?${q}`);
    clearError("keys");
    for (const k of page.keys) {
      const tr = el("tr");
      const b = el("button", k.key_encoding === "base64" ? `(base64) ${k.key}` : k.key, "link");
      b.type = "button";
      b.setAttribute("aria-label", `Inspect key ${k.key}`);
      b.addEventListener("click", () => void inspect(k));
      const td = el("td");
      td.append(b);
      tr.append(td, el("td", k.resource ? `string (${k.resource})` : k.type), el("td", fmtTTL(k.ttl_ms)), el("td", fmtBytes(k.bytes)));
      tbody.append(tr);
    }
    keysCursor = page.cursor;
    $("keys-more").hidden = page.cursor === "0";
    const n = tbody.rows.length;
    status.textContent = `${n} key${n === 1 ? "" : "s"}${page.cursor === "0" ? " (scan complete)" : " so far"}`;
  } catch (e) {
    status.textContent = "";
    showError("keys", e);
  }
}

$("keys-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void loadKeys(false);
});
$("keys-more").addEventListener("click", () => void loadKeys(true));

const previewLimit = 256 << 10;

async function inspect(k: KeyInfo): Promise<void> {
  selectedKey = k;
  $("inspector").hidden = false;
  $("insp-key").textContent = k.key;
  const explainBox = $("insp-explain");
  const valueBox = $("insp-value");
  explainBox.replaceChildren();
  valueBox.textContent = "loading…";
  try {
    const x = await getJSON<Record<string, unknown>>(keyPath("/v1/explain/", k));
    explainBox.replaceWith(Object.assign(kvTable(x, "Explain"), { id: "insp-explain" }));
    if (x["state"] === "absent") {
      valueBox.textContent = "(the key is gone: it expired, was evicted or deleted)";
      clearError("inspect");
      return;
    }
    if (k.bytes > previewLimit) {
      valueBox.textContent = `(${fmtBytes(k.bytes)}: too large to preview here)`;
      clearError("inspect");
      return;
    }
    const res = await request("GET", keyPath("/v1/kv/", k), "*/*");
    const buf = new Uint8Array(await res.arrayBuffer());
    valueBox.textContent = preview(buf);
    clearError("inspect");
  } catch (e) {
    valueBox.textContent = "(no value)";
    showError("inspect", e);
  }
}

/** preview shows JSON pretty-printed, text as is, and binary as hex. */
function preview(buf: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
  } catch {
    const hex = Array.from(buf.slice(0, 512), (b) => b.toString(16).padStart(2, "0")).join(" ");
    return `(binary, ${fmtBytes(buf.length)})\n${hex}${buf.length > 512 ? " …" : ""}`;
  }
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.stringify(JSON.parse(t), null, 2);
    } catch {
      /* not JSON after all */
    }
  }
  return text;
}

$("insp-refresh").addEventListener("click", () => {
  if (selectedKey) void inspect(selectedKey);
});
$("insp-delete").addEventListener("click", async () => {
  const k = selectedKey;
  if (!k || !confirm(`Delete key ${k.key}?`)) return;
  try {
    await request("DELETE", keyPath("/v1/kv/", k));
    clearError("inspect");
    $("keys-status").textContent = `deleted ${k.key}`;
    for (const row of Array.from($<HTMLTableElement>("keys-table").tBodies[0].rows)) {
      if (row.cells[0].textContent === k.key) row.remove();
    }
    $("insp-value").textContent = "(deleted)";
  } catch (e) {
    showError("inspect", e);
  }
});

// ---- slow log ----

async function loadSlowlog(): Promise<void> {
  try {
    const s = await getJSON<Slowlog>("/v1/slowlog?count=128");
    clearError("slowlog");
    $("slowlog-status").textContent =
      s.threshold_us < 0
        ? "the slow log is disabled (slowlog.log_slower_than < 0)"
        : `commands slower than ${fmtSeconds(s.threshold_us / 1e6)}; keeps ${s.max_len}, holds ${s.len}`;
    if (s.entries.length === 0) {
      $("slowlog").replaceChildren(note("No slow commands logged."));
      return;
    }
    $("slowlog").replaceChildren(
      table(
        ["id", "time", "duration", "command", "client"],
        s.entries.map((e) => [String(e.id), new Date(e.time).toLocaleTimeString(), fmtSeconds(e.duration_us / 1e6), e.args.join(" "), e.client_addr + (e.client_name ? ` (${e.client_name})` : "")]),
        "Slow log",
      ),
    );
  } catch (e) {
    showError("slowlog", e);
  }
}
$("slowlog-refresh").addEventListener("click", () => void loadSlowlog());

// ---- start ----

onShow.set("overview", () => {
  for (const c of chartSpecs) {
    const have = charts.get(c.id);
    if (have) have.plot.setSize({ width: chartWidth(c.id), height: 180 });
    drawChart(c);
  }
});
onShow.set("keys", () => $("keys-prefix").focus());
onShow.set("slowlog", () => void loadSlowlog());
window.addEventListener("resize", () => {
  for (const [id, c] of charts) c.plot.setSize({ width: chartWidth(id), height: 180 });
});

if (!apiKey()) $("auth-toggle").textContent = "API key…";
const initial = tabs.find((t) => t.id === "tab-" + location.hash.slice(1));
if (initial) selectTab(initial, false);
void poll();
setInterval(() => void poll(), 1000);
export { latest };
