// Pieces the admin HTML pages share: base CSS (light and dark), and the browser-side token
// handling. The token lives in sessionStorage (this tab only, gone when it closes) and goes out
// as an Authorization header; it never appears in a URL.

export const BASE_CSS = `
:root{--bg:#f6f7f9;--fg:#1b1f24;--muted:#5b6472;--card:#fff;--line:#dde1e6;--accent:#2563eb;
--ok:#15803d;--okbg:#dcfce7;--bad:#b91c1c;--badbg:#fee2e2;--warn:#a16207;--warnbg:#fef3c7;--idle:#475569;--idlebg:#e2e8f0;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--fg:#e6e9ee;--muted:#9aa4b2;--card:#171c23;--line:#2a313b;--accent:#60a5fa;
--ok:#4ade80;--okbg:#14361f;--bad:#f87171;--badbg:#3b1616;--warn:#fbbf24;--warnbg:#3a2c0b;--idle:#cbd5e1;--idlebg:#273140}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);line-height:1.4}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.7rem 1rem;background:var(--card);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
header.top h1{font-size:1.15rem;margin:0}
header.top nav a{color:var(--accent);text-decoration:none;margin-right:.8rem}
main{padding:1rem;max-width:1400px;margin:0 auto}
.muted{color:var(--muted)}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;word-break:break-all}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.8rem;font-weight:600;white-space:nowrap}
.b-ok{background:var(--okbg);color:var(--ok)}.b-bad{background:var(--badbg);color:var(--bad)}
.b-warn{background:var(--warnbg);color:var(--warn)}.b-idle{background:var(--idlebg);color:var(--idle)}
button{font:inherit;border:1px solid var(--line);background:var(--card);color:var(--fg);border-radius:6px;padding:.2rem .7rem;cursor:pointer}
button:hover{border-color:var(--accent)}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
input{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem;margin-bottom:1rem}
#login{display:none;max-width:28rem;margin:3rem auto}
#login.show{display:block}
#login form{display:flex;gap:.5rem;flex-wrap:wrap}
#login input{flex:1 1 12rem}
`;

/**
 * Browser code: `api(path, init)` fetches with the stored token; a 401 shows the login card and
 * calls `onAuth` again once a token is entered. Pages define `window.onAuth` before this runs.
 */
export const TOKEN_JS = `
const TOKEN_KEY = "sluice.admin.token";
class AuthNeeded extends Error {}
function token() { try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; } }
async function api(path, init) {
  const headers = new Headers((init && init.headers) || {});
  const t = token();
  if (t) headers.set("Authorization", "Bearer " + t);
  const r = await fetch(path, Object.assign({}, init || {}, { headers, cache: "no-store" }));
  if (r.status === 401) { showLogin(t ? "That token was not accepted." : ""); throw new AuthNeeded(); }
  return r;
}
function showLogin(msg) {
  const box = document.getElementById("login");
  document.getElementById("login-msg").textContent = msg || "";
  if (!box.classList.contains("show")) {
    box.classList.add("show");
    document.getElementById("content").hidden = true;
    document.getElementById("login-token").focus();
  }
}
function hideLogin() {
  document.getElementById("login").classList.remove("show");
  document.getElementById("content").hidden = false;
}
document.getElementById("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const v = document.getElementById("login-token").value.trim();
  try { sessionStorage.setItem(TOKEN_KEY, v); } catch {}
  document.getElementById("login-token").value = "";
  hideLogin();
  window.onAuth();
});
function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
`;

export const LOGIN_HTML = `
<section id="login" class="card" aria-labelledby="login-title">
  <h2 id="login-title" style="margin-top:0;font-size:1.1rem">Admin token</h2>
  <p class="muted">This sluice has <span class="mono">admin.token</span> set. Enter it to continue; it is kept in this tab only.</p>
  <form id="login-form">
    <input id="login-token" type="password" autocomplete="current-password" placeholder="token" aria-label="admin token">
    <button class="primary" type="submit">Continue</button>
  </form>
  <p id="login-msg" class="muted" role="alert"></p>
</section>
`;
