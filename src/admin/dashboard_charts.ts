// The dashboard's charts (browser code, inlined by dashboard.ts after uPlot): a header chart of
// total connections and bytes per second, one sparkline row per listener (paged, following the
// filter box) that expands into full charts with its backends' lines and a health timeline, and
// routing changes and provider errors as markers on the time axis. Data comes from
// /api/v1/history: the whole window once per listener shown, then only the last seconds, merged
// in place and handed to uPlot's setData (charts are built once, not redrawn from scratch).
// window.__sluiceCharts exposes the uPlot instances (the tests read their data).
import { BACKEND_STATES } from "./history/types.ts";

export const CHARTS_CSS = `
.hcard h2{font-size:1rem;margin:0 0 .4rem}
.hchart{width:100%;min-height:190px}
.hbar{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:center;margin:.2rem 0 .5rem;font-size:.85rem}
.hrow{border-top:1px solid var(--line);padding:.35rem 0}
.hrow .hsum{display:flex;flex-wrap:wrap;gap:.3rem .9rem;align-items:center;cursor:pointer}
.hrow .addr{min-width:11rem;font-weight:600}
.spk{display:flex;align-items:center;gap:.3rem;font-size:.78rem;color:var(--muted)}
.spk b{color:var(--fg);font-variant-numeric:tabular-nums;min-width:3.6rem;display:inline-block}
.spk .c{width:96px;height:28px}
.hdetail{padding:.4rem 0 .2rem}
.hdetail .hchart{min-height:160px}
.tlegend{display:flex;flex-wrap:wrap;gap:.6rem;font-size:.78rem;margin:.2rem 0}
.tlegend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.25rem;vertical-align:-1px}
.hev{font-size:.8rem;margin:.3rem 0 0;max-height:5.5rem;overflow:auto}
.hev div{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.u-legend{font-size:.78rem}
`;

export const CHARTS_JS = `
const STATES = ${JSON.stringify(BACKEND_STATES)};
const WIN = 900, PAGE = 20;
const HS = { totals: null, l: new Map(), events: [], page: 0, shown: [], open: new Set(), busy: false };
const CH = { header: null, rows: new Map(), details: new Map() };
window.__sluiceCharts = CH;

function css(v) { return getComputedStyle(document.documentElement).getPropertyValue(v).trim(); }
function pal() {
  return { fg: css("--muted"), grid: css("--line"), a: css("--accent"), ok: css("--ok"), bad: css("--bad"),
    warn: css("--warn"), idle: css("--idle"), up: "#0ea5e9", down: "#a855f7" };
}
const LINE = ["#2563eb", "#16a34a", "#d97706", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
function stateColor(p, s) { return [p.idle, p.ok, p.warn, "#ea580c", p.bad][s]; }

// Series holders: own time axis, columns merged from answers, trimmed to the window.
function holder(cols) { const h = { t: [] }; for (const c of cols) h[c] = []; return h; }
function merge(h, t, src, cols) {
  if (!t.length) return;
  let cut = h.t.findIndex((x) => x >= t[0]);
  if (cut < 0) cut = h.t.length;
  h.t.length = cut; h.t.push(...t);
  for (const c of cols) { const a = h[c]; a.length = cut; a.push(...src[c]); }
  const drop = h.t.length - WIN;
  if (drop > 0) { h.t.splice(0, drop); for (const c of cols) h[c].splice(0, drop); }
}
const LCOLS = ["connections", "active", "connect_failures", "refused", "bytes_up", "bytes_down"];
const BCOLS = ["connections", "active", "connect_failures", "bytes_up", "bytes_down", "st"];

function absorb(body) {
  HS.totals = HS.totals || holder(LCOLS);
  merge(HS.totals, body.t, body.totals, LCOLS);
  for (const l of body.listeners) {
    let h = HS.l.get(l.address);
    if (!h) { h = holder(LCOLS); h.b = new Map(); HS.l.set(l.address, h); }
    merge(h, body.t, l, LCOLS);
    for (const b of l.backends) {
      let bh = h.b.get(b.key);
      if (!bh) { bh = holder(BCOLS); h.b.set(b.key, bh); }
      merge(bh, body.t, Object.assign({ st: b.state.map((s) => s === null ? null : STATES.indexOf(s)) }, b), BCOLS);
    }
  }
  const seen = new Set(HS.events.map((e) => e.t + e.kind + (e.listener || "") + (e.provider || "")));
  for (const e of body.events) if (!seen.has(e.t + e.kind + (e.listener || "") + (e.provider || ""))) HS.events.push(e);
  const from = (HS.totals.t[0] || 0) * 1000;
  HS.events = HS.events.filter((e) => e.t >= from).slice(-300);
}

function fmtN(v) { return v === null || v === undefined ? "–" : v < 10 ? (Math.round(v * 10) / 10).toString() : Math.round(v).toLocaleString("en-US"); }
function lastOf(a) { for (let i = a.length - 1; i >= 0; i--) if (a[i] !== null) return a[i]; return null; }

// Markers: routing changes (accent, dashed) and provider errors (red) on the time axis.
function markers(only) {
  return (u) => {
    const p = pal(), ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save(); ctx.lineWidth = Math.max(1, devicePixelRatio);
    for (const e of HS.events) {
      if (only && e.listener && e.listener !== only) continue;
      const x = Math.round(u.valToPos(e.t / 1000, "x", true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = e.kind === "provider_error" ? p.bad : p.a;
      ctx.setLineDash(e.kind === "provider_error" ? [] : [4, 3]);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
    }
    ctx.restore();
  };
}

function axes(p, yfmt, second) {
  const ax = [{ stroke: p.fg, grid: { stroke: p.grid, width: 1 }, ticks: { stroke: p.grid } },
    { stroke: p.fg, grid: { stroke: p.grid, width: 1 }, ticks: { stroke: p.grid }, size: 72, values: (u, vs) => vs.map(yfmt) }];
  if (second) ax.push({ scale: second, side: 1, stroke: p.fg, grid: { show: false }, size: 64, values: (u, vs) => vs.map((v) => fmtBytes(v) + "/s") });
  return ax;
}

function chart(el, title, series, data, o) {
  const p = pal();
  return new uPlot(Object.assign({
    title, width: Math.max(200, el.clientWidth), height: o && o.height || 180,
    scales: { x: { time: true } }, series: [{}].concat(series),
    axes: axes(p, (v) => fmtN(v), o && o.second), legend: { live: false },
    hooks: { draw: [markers(o && o.only)] },
  }, o && o.extra || {}), data, el);
}

function headerData() {
  const h = HS.totals;
  return [h.t, h.connections, h.bytes_up, h.bytes_down];
}
function buildHeader() {
  const p = pal(), el = document.getElementById("h-chart");
  el.textContent = "";
  CH.header = chart(el, "All listeners", [
    { label: "new connections/s", stroke: p.a, width: 2 },
    { label: "bytes up/s", stroke: p.up, scale: "B", value: (u, v) => v === null ? "–" : fmtBytes(v) + "/s" },
    { label: "bytes down/s", stroke: p.down, scale: "B", value: (u, v) => v === null ? "–" : fmtBytes(v) + "/s" },
  ], headerData(), { second: "B", height: 200 });
}

function spark(el, color, cols) {
  return new uPlot({ width: 96, height: 28, pxAlign: 0, cursor: { show: false }, legend: { show: false },
    scales: { x: { time: false } }, axes: [{ show: false }, { show: false }],
    series: [{}].concat(cols.map((c, i) => ({ stroke: i ? pal().warn : color, width: 1.5, fill: i ? undefined : color + "22" }))),
  }, [[], ...cols.map(() => [])], el);
}
function rowData(h, k) {
  if (k === "rate") return [h.t, h.connections];
  if (k === "active") return [h.t, h.active];
  return [h.t, h.connect_failures, h.refused];
}

function detailData(addr) {
  const h = HS.l.get(addr), keys = [...h.b.keys()];
  return {
    keys,
    conn: [h.t, h.connections].concat(keys.map((k) => alignTo(h.t, h.b.get(k), "connections"))),
    bytes: [h.t, h.bytes_up, h.bytes_down],
    health: [h.t].concat(keys.map((k) => alignTo(h.t, h.b.get(k), "st"))),
  };
}
function alignTo(t, bh, col) {
  const m = new Map(); bh.t.forEach((x, i) => m.set(x, bh[col][i]));
  return t.map((x) => m.has(x) ? m.get(x) : null);
}

function timeline(el, keys, data, addr) {
  const p = pal(), n = Math.max(1, keys.length);
  return new uPlot({
    title: "Backend health", width: Math.max(200, el.clientWidth), height: 64 + 20 * n,
    scales: { x: { time: true }, y: { range: [0, n] } },
    axes: [{ stroke: p.fg, grid: { stroke: p.grid } },
      { stroke: p.fg, size: 150, grid: { show: false }, ticks: { show: false },
        splits: () => keys.map((k, i) => n - i - 0.5), values: (u, vs) => vs.map((v) => keys[n - 1 - Math.floor(v)] || "") }],
    legend: { show: false }, cursor: { show: false },
    series: [{}].concat(keys.map((k) => ({ label: k, stroke: "transparent", points: { show: false } }))),
    hooks: { draw: [(u) => {
      const ctx = u.ctx, t = u.data[0], bw = u.bbox.height / n;
      ctx.save();
      for (let i = 1; i < u.data.length; i++) {
        const y = u.bbox.top + (i - 1) * bw;
        for (let j = 0; j < t.length; j++) {
          const s = u.data[i][j];
          if (s === null || s === undefined) continue;
          const x0 = u.valToPos(t[j], "x", true), x1 = u.valToPos(t[j] + 1, "x", true);
          ctx.fillStyle = stateColor(p, s);
          ctx.fillRect(x0, y + 2, Math.max(1, x1 - x0 + 0.5), bw - 4);
        }
      }
      ctx.restore();
      markers(addr)(u);
    }] },
  }, data, el);
}

function buildDetail(addr, box) {
  const p = pal(), d = detailData(addr);
  box.innerHTML = '<div class="hchart" data-c="conn"></div><div class="hchart" data-c="bytes"></div>' +
    '<div class="tlegend">' + STATES.map((s, i) => '<span><i style="background:' + stateColor(p, i) + '"></i>' + s + '</span>').join("") + '</div>' +
    '<div class="hchart" data-c="health"></div>';
  const q = (c) => box.querySelector('[data-c="' + c + '"]');
  const fmtB = (u, v) => v === null ? "–" : fmtBytes(v) + "/s";
  CH.details.set(addr, {
    keys: d.keys,
    conn: chart(q("conn"), "New connections/s", [{ label: "listener", stroke: p.a, width: 2 }].concat(
      d.keys.map((k, i) => ({ label: k, stroke: LINE[(i + 1) % LINE.length] }))), d.conn, { only: addr }),
    bytes: chart(q("bytes"), "Bytes/s", [{ label: "up", stroke: p.up, value: fmtB }, { label: "down", stroke: p.down, value: fmtB }],
      d.bytes, { only: addr, extra: { axes: axes(p, (v) => fmtBytes(v)) } }),
    health: timeline(q("health"), d.keys, d.health, addr),
  });
}

function updateDetail(addr) {
  const c = CH.details.get(addr), d = detailData(addr);
  if (!c) return;
  if (d.keys.join("|") !== c.keys.join("|")) { destroyDetail(addr); buildDetail(addr, document.querySelector('.hrow[data-hl="' + CSS.escape(addr) + '"] .hdetail')); return; }
  c.conn.setData(d.conn); c.bytes.setData(d.bytes); c.health.setData(d.health);
}
function destroyDetail(addr) {
  const c = CH.details.get(addr);
  if (c) { c.conn.destroy(); c.bytes.destroy(); c.health.destroy(); CH.details.delete(addr); }
}

function renderRows(routing) {
  const q = document.getElementById("filter").value.trim().toLowerCase();
  const all = routing.listeners.filter((l) => l.state !== "draining" && (!q ||
    [l.address, l.label, l.state, ...l.services, ...l.backends.map((b) => b.address)].join(" ").toLowerCase().includes(q)));
  const pages = Math.max(1, Math.ceil(all.length / PAGE));
  HS.page = Math.min(HS.page, pages - 1);
  const shown = all.slice(HS.page * PAGE, HS.page * PAGE + PAGE).map((l) => l.address);
  document.getElementById("h-page").textContent = all.length ? (HS.page * PAGE + 1) + "–" + (HS.page * PAGE + shown.length) + " of " + all.length : "none";
  document.getElementById("h-prev").disabled = HS.page === 0;
  document.getElementById("h-next").disabled = HS.page >= pages - 1;
  if (shown.join("\\n") === HS.shown.join("\\n")) return;
  HS.shown = shown;
  for (const [a, r] of CH.rows) { if (!shown.includes(a)) { r.rate.destroy(); r.active.destroy(); r.fail.destroy(); destroyDetail(a); CH.rows.delete(a); HS.l.delete(a); } }
  const box = document.getElementById("h-rows");
  const p = pal();
  const els = shown.map((a) => {
    const old = box.querySelector('.hrow[data-hl="' + CSS.escape(a) + '"]');
    if (old) return old;
    const row = document.createElement("div");
    row.className = "hrow"; row.dataset.hl = a;
    row.innerHTML = '<div class="hsum" role="button" tabindex="0" aria-expanded="false"><span class="addr mono">' + esc(a) + '</span>' +
      '<span class="spk">new/s <span class="c" data-s="rate"></span><b data-v="rate">–</b></span>' +
      '<span class="spk">active <span class="c" data-s="active"></span><b data-v="active">–</b></span>' +
      '<span class="spk">failures <span class="c" data-s="fail"></span><b data-v="fail">–</b></span></div><div class="hdetail" hidden></div>';
    const s = (k) => row.querySelector('[data-s="' + k + '"]');
    CH.rows.set(a, { rate: spark(s("rate"), p.a, ["x"]), active: spark(s("active"), p.ok, ["x"]), fail: spark(s("fail"), p.bad, ["x", "y"]) });
    return row;
  });
  box.replaceChildren(...els);
  if (!shown.length) box.innerHTML = '<p class="muted">' + (routing.listeners.length ? "No listener matches the filter." : "No listeners.") + '</p>';
}

function updateRows() {
  for (const [a, r] of CH.rows) {
    const h = HS.l.get(a);
    if (!h) continue;
    r.rate.setData(rowData(h, "rate")); r.active.setData(rowData(h, "active")); r.fail.setData(rowData(h, "fail"));
    const row = document.querySelector('.hrow[data-hl="' + CSS.escape(a) + '"]');
    if (!row) continue;
    row.querySelector('[data-v="rate"]').textContent = fmtN(lastOf(h.connections)) + "/s";
    row.querySelector('[data-v="active"]').textContent = fmtN(lastOf(h.active));
    row.querySelector('[data-v="fail"]').textContent = fmtN((lastOf(h.connect_failures) || 0) + (lastOf(h.refused) || 0)) + "/s";
    if (HS.open.has(a)) { if (CH.details.has(a)) updateDetail(a); else buildDetail(a, row.querySelector(".hdetail")); }
  }
}

function renderEvents() {
  const el = document.getElementById("h-events");
  const evs = HS.events.slice(-20).reverse();
  el.innerHTML = evs.length ? evs.map((e) => '<div data-event="' + e.kind + '"><span class="badge ' + (e.kind === "provider_error" ? "b-bad" : "b-idle") + '">' +
    e.kind.replace("_", " ") + '</span> <span class="muted">' + new Date(e.t).toLocaleTimeString() + '</span> ' +
    esc(e.listener || e.provider || "") + (e.message ? ' <span class="muted">' + esc(e.message) + '</span>' : "") + '</div>').join("") :
    '<span class="muted">No routing changes or provider errors in the window.</span>';
}

async function historyTick(routing) {
  if (HS.busy) return;
  HS.busy = true;
  try {
    renderRows(routing);
    const fresh = HS.shown.filter((a) => !HS.l.has(a));
    const known = HS.shown.filter((a) => HS.l.has(a));
    const get = async (ls, since) => {
      const r = await api("/api/v1/history?listener=" + encodeURIComponent(ls.join(",")) + "&since=" + since);
      if (!r.ok) throw new Error("history: HTTP " + r.status);
      absorb(await r.json());
    };
    const last = HS.totals && HS.totals.t.length ? HS.totals.t[HS.totals.t.length - 1] : 0;
    if (!last || fresh.length) await get(fresh, -WIN);
    if (last) await get(known, Math.max(1, last - 3));
    if (!CH.header) buildHeader(); else CH.header.setData(headerData());
    updateRows();
    renderEvents();
  } finally { HS.busy = false; }
}

function rebuildAll() {
  if (CH.header) { CH.header.destroy(); CH.header = null; }
  for (const a of [...CH.details.keys()]) destroyDetail(a);
  for (const r of CH.rows.values()) { r.rate.destroy(); r.active.destroy(); r.fail.destroy(); }
  CH.rows.clear(); HS.shown = [];
  document.getElementById("h-rows").textContent = "";
  if (last) { renderRows(last.routing); if (HS.totals) buildHeader(); updateRows(); }
}

document.getElementById("h-rows").addEventListener("click", (e) => {
  const sum = e.target.closest(".hsum");
  if (!sum) return;
  const row = sum.parentElement, a = row.dataset.hl, box = row.querySelector(".hdetail");
  const open = !HS.open.has(a);
  sum.setAttribute("aria-expanded", String(open));
  if (open) { HS.open.add(a); box.hidden = false; if (HS.l.has(a)) buildDetail(a, box); }
  else { HS.open.delete(a); destroyDetail(a); box.hidden = true; box.textContent = ""; }
});
document.getElementById("h-prev").addEventListener("click", () => { HS.page--; if (last) historyTick(last.routing); });
document.getElementById("h-next").addEventListener("click", () => { HS.page++; if (last) historyTick(last.routing); });
document.getElementById("filter").addEventListener("input", () => { HS.page = 0; if (last) renderRows(last.routing); });
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", rebuildAll);
let resizeT = 0;
window.addEventListener("resize", () => { clearTimeout(resizeT); resizeT = setTimeout(() => {
  const fit = (u) => u.setSize({ width: Math.max(200, u.root.parentElement.clientWidth), height: u.height });
  if (CH.header) fit(CH.header);
  for (const d of CH.details.values()) { fit(d.conn); fit(d.bytes); fit(d.health); }
}, 150); });
`;

export const CHARTS_HTML = `
<section class="card hcard" id="history">
  <div id="h-chart" class="hchart"></div>
  <div id="h-events" class="hev"></div>
</section>
<section class="card hcard">
  <div class="hbar"><h2 style="margin:0">Listener history</h2><span class="muted">last 15 minutes · click a row for its backends</span>
    <span style="margin-left:auto"></span><button id="h-prev" aria-label="previous page">‹</button><span id="h-page" class="muted"></span><button id="h-next" aria-label="next page">›</button></div>
  <div id="h-rows"></div>
</section>
`;
