// The /docs page: renders /openapi.json in the browser (operations, bodies, responses and the
// component schemas, with a "Try" button for GET routes). Self-contained, no CDN.
import { BASE_CSS, LOGIN_HTML, TOKEN_JS } from "./page_kit.ts";

const CSS = `
.op{border-left:4px solid var(--line)}
.op.get{border-left-color:var(--accent)}.op.post{border-left-color:var(--ok)}.op.delete{border-left-color:var(--bad)}
.ophead{display:flex;flex-wrap:wrap;gap:.3rem .7rem;align-items:baseline}
.method{font-weight:700;text-transform:uppercase;font-size:.85rem;min-width:3.8rem}
.path{font-weight:650}
table{width:100%;border-collapse:collapse;margin:.3rem 0}
th,td{text-align:left;padding:.3rem .45rem;border-top:1px solid var(--line);vertical-align:top}
th{font-size:.78rem;color:var(--muted);border-top:none}
table.resp td:first-child{width:4.5rem}table.resp td:last-child{width:40%}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.6rem;overflow:auto;max-height:24rem;font-size:.85rem}
a{color:var(--accent)}
h2{font-size:1.05rem}
h3{font-size:.9rem;margin:.7rem 0 .2rem;color:var(--muted)}
`;

const JS = `
function refName(s) { return s.$ref.split("/").pop(); }
function typeText(s) {
  if (!s) return "any";
  if (s.$ref) { const n = refName(s); return '<a href="#schema-' + esc(n) + '">' + esc(n) + '</a>'; }
  if (s.enum) return s.enum.map((v) => '<span class="mono">' + esc(JSON.stringify(v)) + '</span>').join(" | ");
  if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map(typeText).join(" | ");
  const types = Array.isArray(s.type) ? s.type : [s.type || "object"];
  return types.map((t) => t === "array" ? typeText(s.items) + "[]" : esc(t)).join(" | ");
}
function propsTable(s) {
  const props = s.properties || {};
  const req = new Set(s.required || []);
  const rows = Object.entries(props).map(([k, p]) =>
    '<tr><td class="mono">' + esc(k) + (req.has(k) ? "" : '<span class="muted">?</span>') + '</td><td>' + typeText(p) +
    '</td><td>' + esc(p.description || "") + (p.type === "object" && p.properties ? propsTable(p) : "") + '</td></tr>').join("");
  return rows ? '<table><thead><tr><th>field</th><th>type</th><th>meaning</th></tr></thead><tbody>' + rows + '</tbody></table>' : "";
}
function contentText(content) {
  if (!content) return '<span class="muted">no body</span>';
  return Object.entries(content).map(([media, c]) => '<span class="mono">' + esc(media) + '</span> ' + typeText(c.schema)).join("<br>");
}
function operation(path, method, op, secured) {
  const id = "op-" + op.operationId;
  let h = '<section class="card op ' + method + '" id="' + esc(id) + '"><div class="ophead"><span class="method">' + method +
    '</span><span class="path mono">' + esc(path) + '</span><span>' + esc(op.summary || "") + '</span>' +
    (secured(op) ? '<span class="badge b-warn" title="Authorization: Bearer admin.token">token</span>' : '<span class="badge b-ok">open</span>') + '</div>';
  if (op.description) h += '<p class="muted">' + esc(op.description) + '</p>';
  if (op.requestBody) h += '<h3>Request body</h3>' + contentText(op.requestBody.content);
  h += '<h3>Responses</h3><table class="resp"><tbody>' + Object.entries(op.responses).map(([st, r]) =>
    '<tr><td class="mono">' + esc(st) + '</td><td>' + esc(r.description) + '</td><td>' + contentText(r.content) + '</td></tr>').join("") + '</tbody></table>';
  const page = op.tags && op.tags.some((t) => t === "dashboard") || path === "/docs";
  if (method === "get" && !page) h += '<button data-try="' + esc(path) + '">Try</button><pre hidden data-out="' + esc(path) + '"></pre>';
  return h + '</section>';
}
async function load() {
  let doc;
  try {
    const r = await api("/openapi.json");
    if (!r.ok) throw new Error("HTTP " + r.status);
    doc = await r.json();
  } catch (err) {
    if (err instanceof AuthNeeded) return;
    document.getElementById("doc").innerHTML = '<div class="card">Could not load /openapi.json: ' + esc(err.message || err) + '</div>';
    return;
  }
  const globalSec = doc.security && doc.security.length > 0;
  const secured = (op) => op.security ? op.security.length > 0 : globalSec;
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  let h = '<div class="card"><p>' + esc(doc.info.description || "") + '</p><p class="muted">OpenAPI ' + esc(doc.openapi) +
    ' · <a href="/openapi.json" id="raw">raw document</a></p></div><h2>Operations</h2>';
  for (const [path, item] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(item)) h += operation(path, m, op, secured);
  h += '<h2>Schemas</h2>';
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    h += '<section class="card" id="schema-' + esc(name) + '"><b class="mono">' + esc(name) + '</b> <span class="muted">' + typeText(s) + '</span>' + propsTable(s) + '</section>';
  }
  document.getElementById("doc").innerHTML = h;
}
document.getElementById("doc").addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-try]");
  if (!b) return;
  const out = document.querySelector('pre[data-out="' + CSS.escape(b.dataset.try) + '"]');
  out.hidden = false;
  try {
    const r = await api(b.dataset.try);
    const text = await r.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
    out.textContent = r.status + " " + r.statusText + "\\n\\n" + shown;
  } catch (err) { out.textContent = String(err && err.message || err); }
});
window.onAuth = load;
load();
`;

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice admin API</title>
<link rel="icon" href="data:,">
<style>${BASE_CSS}${CSS}</style>
</head>
<body>
<header class="top">
  <h1 id="title">sluice admin API</h1>
  <nav><a href="/">dashboard</a><a href="/openapi.json">openapi.json</a></nav>
</header>
<main>
${LOGIN_HTML}
<div id="content"><div id="doc"><p class="muted">Loading…</p></div></div>
</main>
<script>
"use strict";
${TOKEN_JS}
${JS}
</script>
</body>
</html>
`;
