// deploy/prometheus and deploy/grafana against the metrics sluice really exports: the alert
// rules pass `promtool check rules` and their unit tests (`promtool test rules`), and every
// sluice_* series the rules and the dashboard query is on /metrics of a running sluice that has
// proxied a connection, with the labels the queries group by.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Runtime } from "../../src/runtime/types.ts";
import { PROMTOOL } from "../admin/_prom.ts";
import { parseExposition, type Sample } from "../admin/_prom.ts";
import { startSluiceFixture } from "../e2e/_sluice_fixture.ts";
import { fetchBanner, freePort, ROOT, runtime, startNamedServer } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";

const PROM_DIR = join(ROOT, "deploy/prometheus");
const skip = PROMTOOL ? false : "promtool is not installed (Debian package prometheus)";

let rt: Runtime;
let samples: Sample[];

before(async () => {
  rt = await runtime();
  const backend = startNamedServer(rt, "observed");
  const port = await freePort(rt);
  const s = await startSluiceFixture({
    rt,
    routing: `[[services]]\nname = "web"\nlistener = "local:${port}"\n` +
      `backends = ["127.0.0.1:${backend.port}"]\n`,
  });
  try {
    await s.waitListening([`127.0.0.1:${port}`]);
    assert.equal(await fetchBanner(rt, port), "observed");
    // The connection's lifetime is observed when it is done: wait until /metrics has it.
    await waitFor(
      async () => /^sluice_connection_duration_seconds_count\{/m.test(await s.metrics()),
      {
        timeoutMs: 10_000,
        what: "the finished connection in /metrics",
      },
    );
    samples = parseExposition(await s.metrics());
  } finally {
    await s.stop();
    backend.close();
  }
});
/** sluice_* / process_* metric names in PromQL text, and the labels its `by (...)` group on. */
function queried(
  exprs: readonly string[],
): { names: Set<string>; byLabels: Map<string, Set<string>> } {
  const names = new Set<string>();
  const byLabels = new Map<string, Set<string>>();
  for (const e of exprs) {
    const inExpr = [...e.matchAll(/\b((?:sluice|process)_[a-z_]+)\b/g)].map((m) => m[1] as string);
    for (const n of inExpr) names.add(n);
    for (const m of e.matchAll(/\bby \(([^)]*)\)/g)) {
      for (const label of (m[1] as string).split(",").map((x) => x.trim())) {
        // le belongs to histogram buckets; job and instance are added by Prometheus.
        if (["le", "job", "instance", ""].includes(label)) continue;
        let users = byLabels.get(label);
        if (!users) byLabels.set(label, users = new Set());
        for (const n of inExpr) users.add(n);
      }
    }
  }
  return { names, byLabels };
}

function assertExported(what: string, exprs: readonly string[]): void {
  const { names, byLabels } = queried(exprs);
  assert.ok(names.size > 0, `${what} queries no sluice metric`);
  const exported = new Set(samples.map((s) => s.name));
  const missing = [...names].filter((n) => !exported.has(n));
  assert.deepEqual(missing, [], `${what} queries series sluice does not export`);
  for (const [label, users] of byLabels) {
    // A group-by label must exist on at least one of the series of that expression.
    const carriers = samples.filter((s) => users.has(s.name) && label in s.labels);
    assert.ok(carriers.length > 0, `${what}: "by (${label})" but none of ${[...users]} has it`);
  }
}

function ruleExprs(): string[] {
  // The expressions are plain `expr:` scalars or `expr: |` blocks; take both.
  const text = readFileSync(join(PROM_DIR, "sluice.rules.yml"), "utf8");
  const out: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i] as string);
    if (!m) continue;
    if (m[2] !== "|") {
      out.push(m[2] as string);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && /^\s{10,}\S/.test(lines[i + 1] as string)) {
      block.push(lines[++i]!);
    }
    out.push(block.join("\n"));
  }
  return out;
}

function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(join(ROOT, "deploy/grafana/sluice.json"), "utf8")) as {
    panels: { targets?: { expr: string }[] }[];
    templating: { list: { query?: { query: string } | string }[] };
  };
  const out = d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of d.templating.list) {
    if (typeof v.query === "object") out.push(v.query.query);
  }
  return out;
}

describe("deploy/prometheus", () => {
  it("the alert rules pass promtool check rules", { skip }, () => {
    const r = spawnSync(PROMTOOL!, ["check", "rules", "sluice.rules.yml"], {
      cwd: PROM_DIR,
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 7 rules found/);
  });

  it("the rules' unit tests pass (each alert fires and does not fire)", { skip }, () => {
    const r = spawnSync(PROMTOOL!, ["test", "rules", "sluice.rules.test.yml"], {
      cwd: PROM_DIR,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // Every alert of the rules file has a firing and a quiet expectation in the tests.
    const tests = readFileSync(join(PROM_DIR, "sluice.rules.test.yml"), "utf8");
    const rules = readFileSync(join(PROM_DIR, "sluice.rules.yml"), "utf8");
    for (const [, name] of rules.matchAll(/- alert: (\w+)/g)) {
      const blocks = tests.split(/\n\s+- eval_time:/).filter((b) =>
        new RegExp(`alertname: ${name}\\n`).test(b)
      );
      assert.ok(blocks.some((b) => /exp_alerts: \[\]/.test(b)), `${name}: a not-firing case`);
      assert.ok(blocks.some((b) => /exp_labels:/.test(b)), `${name}: a firing case`);
    }
  });

  it("promtool accepts the example scrape config", { skip }, () => {
    const r = spawnSync(PROMTOOL!, ["check", "config", "prometheus.yml"], {
      cwd: PROM_DIR,
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it("every sluice_* series the rules query is exported by a running sluice", () => {
    const exprs = ruleExprs();
    assert.equal(exprs.length, 7, exprs.join("\n---\n"));
    assert.ok(exprs.every((e) => /sluice_|up\{/.test(e)), exprs.join("\n---\n"));
    assertExported("sluice.rules.yml", exprs);
  });
});

describe("deploy/grafana", () => {
  it("every series the dashboard queries is exported by a running sluice", () => {
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 20, `${exprs.length} queries`);
    assertExported("sluice.json", exprs);
  });

  it("covers listeners, bytes, connect latency, backend health, providers", () => {
    const { names } = queried(dashboardExprs());
    for (
      const n of [
        "sluice_listener_connections_total",
        "sluice_listener_active_connections",
        "sluice_bytes_total",
        "sluice_connect_duration_seconds_bucket",
        "sluice_backend_up",
        "sluice_backend_connect_failures_total",
        "sluice_provider_up",
      ]
    ) assert.ok(names.has(n), `the dashboard shows ${n}`);
  });

  it("the check can fail: a name sluice does not export is reported", () => {
    assert.throws(
      () => assertExported("probe", ["rate(sluice_no_such_metric_total[5m])"]),
      /does not export/,
    );
    assert.throws(
      () => assertExported("probe", ["sum by (nolabel) (sluice_listener_up)"]),
      /by \(nolabel\)/,
    );
  });
});
