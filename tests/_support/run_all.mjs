#!/usr/bin/env node
// The whole suite on Deno and on Bun, then one closing line `N passed, N failed` for both.
// Counts come from each runner's JUnit report (leaf tests only), so the two runtimes are
// counted the same way. A runner that crashes before reporting counts as one failure.
//
// Usage: npm test [-- PATH_OR_FILTER ...]   (paths under tests/; default: all of tests/)
// Env:   SLUICE_TEST_RUNTIMES=deno,bun  SLUICE_NO_INSTALL=1 (skip installing Debian peers)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bin = (name) => join(root, "node_modules/.bin", name);
const args = process.argv.slice(2);
const targets = args.length ? args : ["tests/"];
const runtimes = (process.env.SLUICE_TEST_RUNTIMES ?? "deno,bun").split(",").filter(Boolean);

if (!existsSync(bin("deno")) || !existsSync(bin("bun"))) {
  console.log("installing dependencies (npm install) ...");
  const r = spawnSync("npm", ["install", "--no-audit", "--no-fund"], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) {
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

if (process.env.SLUICE_NO_INSTALL !== "1") {
  // Real third-party peers (SOCKS5 servers, HAProxy, nginx, ...): installed when missing and
  // possible; tests that need one skip loudly when it is not there.
  spawnSync("bash", [join(root, "tests/_support/install_peers.sh")], {
    cwd: root,
    stdio: "inherit",
  });
}

function decode(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(
    /&#10;/g,
    "\n",
  )
    .replace(/&amp;/g, "&");
}

/** Leaf test cases of a JUnit file: {name, failed, skipped}. */
function parseJunit(xml) {
  const cases = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m; (m = re.exec(xml));) {
    const attrs = m[1];
    const body = m[3] ?? "";
    const name = decode(/\bname="([^"]*)"/.exec(attrs)?.[1] ?? "");
    const cls = decode(/\bclassname="([^"]*)"/.exec(attrs)?.[1] ?? "");
    const file = decode(/\bfile="([^"]*)"/.exec(attrs)?.[1] ?? "");
    const failure = /<failure\b[^>]*message="([^"]*)"/.exec(body);
    cases.push({
      name,
      where: file || cls,
      failed: /<(failure|error)\b/.test(body),
      message: failure ? decode(failure[1]).split("\n")[0] : "",
      skipped: /<skipped\b/.test(body),
    });
  }
  // Deno reports a describe() block as a case and its it()s as "block > it" cases: keep leaves.
  const names = new Set(cases.map((c) => c.name));
  const parents = new Set();
  for (const n of names) {
    const parts = n.split(" > ");
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" > "));
  }
  return cases.filter((c) => !parents.has(c.name));
}

const work = mkdtempSync(join(tmpdir(), "sluice-tests-"));
let passed = 0, failed = 0, skipped = 0;
const failures = [];

for (const rt of runtimes) {
  const out = join(work, `${rt}.xml`);
  const cmd = rt === "deno"
    ? [bin("deno"), ["test", "-A", "--unstable-net", `--junit-path=${out}`, ...targets]]
    : [bin("bun"), [
      "test",
      "--timeout",
      "120000",
      "--reporter=junit",
      `--reporter-outfile=${out}`,
      ...targets,
    ]];
  console.log(`\n=== ${rt}: ${cmd[0]} ${cmd[1].join(" ")}`);
  const started = Date.now();
  const r = spawnSync(cmd[0], cmd[1], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, SLUICE_TEST_RUNTIME: rt, NO_COLOR: "1" },
    timeout: 40 * 60_000,
  });
  const cases = existsSync(out) ? parseJunit(readFileSync(out, "utf8")) : [];
  const p = cases.filter((c) => !c.failed && !c.skipped).length;
  const f = cases.filter((c) => c.failed);
  const s = cases.filter((c) => c.skipped).length;
  let crash = 0;
  if (r.status !== 0 && f.length === 0) {
    crash = 1; // the runner failed (type error, load error, timeout) without a failing case
    failures.push(`${rt}: runner exited with ${r.status ?? r.signal} and no failing test case`);
  }
  for (const c of f) {
    failures.push(
      `${rt}: ${c.where ? c.where + ": " : ""}${c.name}${c.message ? " — " + c.message : ""}`,
    );
  }
  console.log(
    `=== ${rt}: ${p} passed, ${f.length + crash} failed, ${s} skipped (${
      ((Date.now() - started) / 1000).toFixed(1)
    } s)`,
  );
  passed += p;
  failed += f.length + crash;
  skipped += s;
}
rmSync(work, { recursive: true, force: true });

if (failures.length) {
  console.log("\nfailures:");
  for (const line of failures) console.log("  " + line);
}
// The closing line is exactly "N passed, N failed" (CI reads it); skips are said just before.
console.log(`\n${skipped} skipped (a missing peer; see above)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
