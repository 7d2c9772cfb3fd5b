// The dashboard page: one self-contained HTML document (no CDN; sluice runs where there is no
// internet). It polls /api/v1/routing and /api/v1/providers every second and computes
// connection and byte rates from the difference between two polls; the charts
// (dashboard_charts.ts, drawn with the vendored uPlot) follow /api/v1/history. Embedded as a string so
// `bun build --compile` carries it.
import { BASE_CSS, LOGIN_HTML, TOKEN_JS } from "./page_kit.ts";
import { CHARTS_CSS, CHARTS_HTML, CHARTS_JS } from "./dashboard_charts.ts";
import { UPLOT_CSS, UPLOT_JS } from "./vendor/uplot.ts";

const CSS = `
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.6rem;margin-bottom:1rem}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.55rem .8rem}
.tile .v{font-size:1.35rem;font-weight:650;font-variant-numeric:tabular-nums}
.tile .k{font-size:.8rem;color:var(--muted)}
.bar{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-bottom:1rem}
.bar input{flex:1 1 14rem;max-width:24rem}
#status{margin-left:auto;font-size:.85rem}
.lhead{display:flex;flex-wrap:wrap;gap:.3rem .8rem;align-items:baseline}
.lhead .addr{font-size:1.05rem;font-weight:650}
.lerr{color:var(--bad);margin:.3rem 0 0}
.lstats{display:flex;flex-wrap:wrap;gap:.2rem 1.2rem;margin:.5rem 0;font-variant-numeric:tabular-nums}
.lstats b{font-weight:650}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.35rem .5rem;border-top:1px solid var(--line);vertical-align:top}
th{font-size:.78rem;color:var(--muted);font-weight:600;border-top:none}
td.n,th.n{text-align:right}
tr.drained td{opacity:.7}
.providers{display:flex;flex-wrap:wrap;gap:.5rem}
.prov{border:1px solid var(--line);border-radius:8px;padding:.35rem .6rem;background:var(--card);font-size:.9rem}
.prov .err{color:var(--bad);display:block;font-size:.8rem}
.empty{padding:2rem;text-align:center}
@media (max-width:720px){
  main{padding:.6rem}
  table thead{display:none}
  table,tbody,tr,td{display:block;width:100%}
  tr{border-top:1px solid var(--line);padding:.4rem 0}
  td{border:none;padding:.12rem 0;display:flex;justify-content:space-between;gap:1rem}
  td.n{text-align:right}
  td::before{content:attr(data-label);color:var(--muted);font-size:.8rem}
  td.first{display:block;font-weight:600}
  td.first::before{content:none}
}
`;

const JS = `
const POLL_MS = 1000;
let prev = null; // {t, l: Map(key -> counters), b: Map(lkey|bkey -> counters)}
let rates = { l: new Map(), b: new Map() };
let last = null;
let timer = 0;
let failures = 0;

function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + " " + u[i];
}
function fmtRate(v, bytes) {
  if (v === undefined) return "–";
  return bytes ? fmtBytes(v) + "/s" : (v < 10 ? v.toFixed(1) : String(Math.round(v))) + "/s";
}
function fmtCount(n) { return n.toLocaleString("en-US"); }
function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 60 ? Math.round(s) + "s ago" : s < 3600 ? Math.round(s / 60) + "m ago" : Math.round(s / 3600) + "h ago";
}
// A listener removed and routed again within drain_timeout appears twice: keep their rates apart.
function lkey(l) { return l.state === "draining" ? l.address + "|draining" : l.address; }
function rate(cur, old, dt) { return old === undefined || cur < old ? undefined : (cur - old) / dt; }

function computeRates(routing, t) {
  const next = { t, l: new Map(), b: new Map() };
  const r = { l: new Map(), b: new Map() };
  for (const l of routing.listeners) {
    const c = { total: l.total_connections, in: l.bytes_up, out: l.bytes_down };
    next.l.set(lkey(l), c);
    const p = prev && prev.l.get(lkey(l));
    const dt = prev ? (t - prev.t) / 1000 : 0;
    if (p && dt > 0) r.l.set(lkey(l), { conn: rate(c.total, p.total, dt), in: rate(c.in, p.in, dt), out: rate(c.out, p.out, dt) });
    for (const b of l.backends) {
      const k = lkey(l) + "|" + b.key;
      const cb = { total: b.total_connections, out: b.bytes_up, in: b.bytes_down };
      next.b.set(k, cb);
      const pb = prev && prev.b.get(k);
      if (pb && dt > 0) r.b.set(k, { conn: rate(cb.total, pb.total, dt), out: rate(cb.out, pb.out, dt), in: rate(cb.in, pb.in, dt) });
    }
  }
  prev = next;
  rates = r;
}

const STATE = { listening: "b-ok", bind_failed: "b-bad", draining: "b-warn", pending: "b-idle" };
const HEALTH = { up: "b-ok", down: "b-bad", unknown: "b-idle" };
const PSTATE = { ok: "b-ok", failing: "b-bad", waiting: "b-warn", stopped: "b-idle" };

function tile(k, v, id) { return '<div class="tile"><div class="v" id="' + id + '">' + esc(v) + '</div><div class="k">' + esc(k) + '</div></div>'; }

function renderTiles(routing, providers) {
  let active = 0, up = 0, conn = 0, rin = 0, rout = 0, have = false;
  for (const l of routing.listeners) {
    active += l.active_connections;
    if (l.state === "listening") up++;
    const r = rates.l.get(lkey(l));
    if (r) { have = true; conn += r.conn || 0; rin += r.in || 0; rout += r.out || 0; }
  }
  const pok = providers.filter((p) => p.state === "ok").length;
  document.getElementById("tiles").innerHTML =
    tile("listeners up", up + " / " + routing.listeners.length, "t-listeners") +
    tile("active connections", fmtCount(active), "t-active") +
    tile("new connections", have ? fmtRate(conn) : "–", "t-conn") +
    tile("from clients", have ? fmtRate(rin, true) : "–", "t-in") +
    tile("to clients", have ? fmtRate(rout, true) : "–", "t-out") +
    tile("providers ok", pok + " / " + providers.length, "t-providers");
}

function renderProviders(providers) {
  const el = document.getElementById("providers");
  if (!providers.length) { el.innerHTML = '<span class="muted">No routing providers configured.</span>'; return; }
  el.innerHTML = providers.map((p) =>
    '<div class="prov" data-provider="' + esc(p.name) + '"><b>' + esc(p.name) + '</b> <span class="muted">' + esc(p.kind) + '</span> ' +
    '<span class="badge ' + (PSTATE[p.state] || "b-idle") + '">' + esc(p.state) + '</span> ' +
    '<span class="muted">' + p.services + ' services · updated ' + esc(ago(p.last_update)) + '</span>' +
    (p.last_error ? '<span class="err">' + esc(p.last_error) + '</span>' : "") + '</div>'
  ).join("");
}

function backendRow(l, b) {
  const r = rates.b.get(lkey(l) + "|" + b.key) || {};
  const drainBtn = '<button data-drain="' + (b.drain_override ? "0" : "1") + '" data-listener="' + esc(l.address) +
    '" data-backend="' + esc(b.key) + '">' + (b.drain_override ? "Undrain" : "Drain") + '</button>';
  const drain = b.drain ? '<span class="badge b-warn">' + (b.drain_override ? "drained (admin)" : "drained") + '</span>' : '<span class="muted">no</span>';
  return '<tr class="' + (b.drain ? "drained" : "") + '" data-backend-row="' + esc(b.key) + '">' +
    '<td class="first"><span class="mono">' + esc(b.address) + '</span>' +
    (l.sni ? ' <span class="muted">' + esc(b.service) + '</span>' : "") + (b.via ? '<br><span class="muted mono">via ' + esc(b.via) + '</span>' : "") + '</td>' +
    '<td data-label="health"><span class="badge ' + (HEALTH[b.health] || "b-idle") + '">' + esc(b.health) + '</span>' +
    (b.ejected ? ' <span class="badge b-warn">ejected</span>' : "") + '</td>' +
    '<td data-label="drain">' + drain + '</td>' +
    '<td class="n" data-label="weight / tier">' + b.weight + ' / ' + b.tier + '</td>' +
    '<td class="n" data-label="active" data-field="backend-active">' + fmtCount(b.active_connections) + '</td>' +
    '<td class="n" data-label="total">' + fmtCount(b.total_connections) + '</td>' +
    '<td class="n" data-label="conn rate">' + fmtRate(r.conn) + '</td>' +
    '<td class="n" data-label="to backend">' + fmtRate(r.out, true) + '</td>' +
    '<td class="n" data-label="from backend">' + fmtRate(r.in, true) + '</td>' +
    '<td class="n" data-label="failures">' + fmtCount(b.connect_failures) + '</td>' +
    '<td class="n" data-label="">' + drainBtn + '</td></tr>';
}

function sniBlock(s) {
  return '<div class="lstats" data-field="sni"><span>by server name · timeout ' + s.timeout_ms + ' ms</span>' +
    s.routes.map((r) => '<span class="mono">' + esc(r.names.length ? r.names.join(" ") : "default") + ' ➤ ' +
      esc(r.service) + ' <b>' + fmtCount(r.total_connections) + '</b></span>').join("") +
    '<span>unmatched <b data-field="sni-unmatched">' + fmtCount(s.unmatched_connections) + '</b></span>' +
    '<span>timeouts <b data-field="sni-timeouts">' + fmtCount(s.timeout_connections) + '</b></span></div>';
}

function listenerCard(l) {
  const r = rates.l.get(lkey(l)) || {};
  return '<section class="card listener" data-listener="' + esc(l.address) + '" data-state="' + esc(l.state) + '">' +
    '<div class="lhead"><span class="addr mono">' + esc(l.address) + '</span>' +
    '<span class="badge ' + (STATE[l.state] || "b-idle") + '" data-field="state">' + esc(l.state.replace("_", " ")) + '</span>' +
    '<span class="muted">label ' + esc(l.label) + ' · ' + esc(l.balance) + ' · ' + esc(l.services.join(", ") || "no services") + '</span></div>' +
    (l.error ? '<p class="lerr" data-field="error">' + esc(l.error) + '</p>' : "") +
    '<div class="lstats"><span>active <b data-field="active">' + fmtCount(l.active_connections) + '</b></span>' +
    '<span>total <b data-field="total">' + fmtCount(l.total_connections) + '</b></span>' +
    '<span>new <b>' + fmtRate(r.conn) + '</b></span>' +
    '<span>from clients <b>' + fmtRate(r.in, true) + '</b> <span class="muted">(' + fmtBytes(l.bytes_up) + ')</span></span>' +
    '<span>to clients <b>' + fmtRate(r.out, true) + '</b> <span class="muted">(' + fmtBytes(l.bytes_down) + ')</span></span>' +
    (l.refused_connections ? '<span>refused <b>' + fmtCount(l.refused_connections) + '</b></span>' : "") + '</div>' +
    (l.sni ? sniBlock(l.sni) : "") +
    (l.backends.length ? '<table><thead><tr><th>backend</th><th>health</th><th>drain</th><th class="n">weight / tier</th>' +
      '<th class="n">active</th><th class="n">total</th><th class="n">conn rate</th><th class="n">to backend</th>' +
      '<th class="n">from backend</th><th class="n">failures</th><th></th></tr></thead><tbody>' +
      l.backends.map((b) => backendRow(l, b)).join("") + '</tbody></table>' : '<p class="muted">No backends.</p>') +
    '</section>';
}

function renderListeners(routing) {
  const q = document.getElementById("filter").value.trim().toLowerCase();
  const shown = routing.listeners.filter((l) => !q ||
    [l.address, l.label, l.state, ...l.services, ...(l.sni ? l.sni.routes.flatMap((r) => r.names) : []), ...l.backends.map((b) => b.address)].join(" ").toLowerCase().includes(q));
  document.getElementById("listeners").innerHTML = shown.length ? shown.map(listenerCard).join("") :
    '<div class="card empty muted">' + (routing.listeners.length ? "No listener matches the filter." : "No listeners: no routes yet.") + '</div>';
}

function render() {
  if (!last) return;
  document.getElementById("version").textContent = "v" + last.routing.version + " · " + last.routing.runtime;
  renderTiles(last.routing, last.providers);
  renderProviders(last.providers);
  renderListeners(last.routing);
}

function setStatus(text, cls) {
  const s = document.getElementById("status");
  s.className = "badge " + cls;
  s.textContent = text;
}

async function poll() {
  clearTimeout(timer);
  try {
    const [r1, r2] = await Promise.all([api("/api/v1/routing"), api("/api/v1/providers")]);
    if (!r1.ok || !r2.ok) throw new Error("HTTP " + (r1.ok ? r2.status : r1.status));
    const routing = await r1.json();
    const providers = (await r2.json()).providers;
    computeRates(routing, performance.now());
    last = { routing, providers };
    failures = 0;
    setStatus("live · " + new Date().toLocaleTimeString(), "b-ok");
    render();
    historyTick(routing).catch((err) => {
      if (!(err instanceof AuthNeeded)) setStatus("history: " + (err && err.message || err), "b-bad");
    });
  } catch (err) {
    if (err instanceof AuthNeeded) return; // polling resumes after the token is entered
    failures++;
    setStatus("unreachable (" + (err && err.message || err) + ")", "b-bad");
  }
  timer = setTimeout(poll, failures ? Math.min(5000, POLL_MS * 2 ** failures) : POLL_MS);
}

document.getElementById("filter").addEventListener("input", render);
document.getElementById("listeners").addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-drain]");
  if (!btn) return;
  btn.disabled = true;
  try {
    const r = await api("/api/v1/backends/drain", {
      method: btn.dataset.drain === "1" ? "POST" : "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ listener: btn.dataset.listener, backend: btn.dataset.backend }),
    });
    if (!r.ok) { const b = await r.json().catch(() => null); setStatus((b && b.error && b.error.message) || "HTTP " + r.status, "b-bad"); }
  } catch (err) { if (!(err instanceof AuthNeeded)) setStatus(String(err && err.message || err), "b-bad"); }
  poll();
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
window.onAuth = poll;
poll();
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice dashboard</title>
<link rel="icon" href="data:,">
<style>${UPLOT_CSS}${BASE_CSS}${CSS}${CHARTS_CSS}</style>
</head>
<body>
<header class="top">
  <h1>sluice</h1>
  <span id="version" class="muted"></span>
  <nav><a href="/metrics">metrics</a><a href="/docs">API docs</a></nav>
  <span id="status" class="badge b-idle">connecting…</span>
</header>
<main>
${LOGIN_HTML}
<div id="content">
  <div id="tiles" class="tiles"></div>
${CHARTS_HTML}  <h2 style="font-size:1rem;margin:.2rem 0 .5rem">Providers</h2>
  <div id="providers" class="providers" style="margin-bottom:1rem"></div>
  <div class="bar">
    <h2 style="font-size:1rem;margin:0">Listeners</h2>
    <input id="filter" type="search" placeholder="filter by address, label, service, backend" aria-label="filter listeners">
  </div>
  <div id="listeners"></div>
</div>
</main>
<script>
${UPLOT_JS.replaceAll("</script", "<\\/script")}
</script>
<script>
"use strict";
${TOKEN_JS}
${JS}
${CHARTS_JS}
</script>
</body>
</html>
`;
