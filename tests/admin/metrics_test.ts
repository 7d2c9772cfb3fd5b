// /metrics: the names SPEC section 7 fixes, accepted by the real `promtool check metrics`,
// values read from the engine's view, histograms from the observer hooks, escaped labels.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CONNECT_BUCKETS,
  CONNECTION_BUCKETS,
  createMetrics,
  type Metrics,
} from "../../src/admin/metrics.ts";
import { escapeLabelValue } from "../../src/admin/exposition.ts";
import type { ListenerView } from "../../src/proxy/types.ts";
import type { ProviderStatus } from "../../src/providers/types.ts";
import { createFakeEngine, fakeBackend, fakeListener, fakeProvider } from "./_fake_engine.ts";
import { parseExposition, PROMTOOL, promtoolCheck, valueOf } from "./_prom.ts";
import { startTestAdmin } from "./_admin_server.ts";

const SPEC_NAMES = [
  "sluice_listener_up",
  "sluice_listener_connections_total",
  "sluice_listener_active_connections",
  "sluice_listener_refused_total",
  "sluice_backend_connections_total",
  "sluice_backend_active_connections",
  "sluice_backend_connect_failures_total",
  "sluice_backend_up",
  "sluice_bytes_total",
  "sluice_connect_duration_seconds",
  "sluice_connection_duration_seconds",
  "sluice_provider_updates_total",
  "sluice_provider_errors_total",
  "sluice_routing_listeners",
  "process_resident_memory_bytes",
  "process_cpu_seconds_total",
  "process_open_fds",
  "process_start_time_seconds",
  "sluice_event_loop_lag_seconds",
];

function world() {
  const engine = createFakeEngine([
    fakeListener("127.0.0.1:15432", [
      fakeBackend("10.0.0.7:5432", {
        health: "up",
        counters: { active: 3, total: 120, connectFailures: 4, bytesDown: 9000, bytesUp: 1500 },
      }),
      fakeBackend("10.0.0.8:5432", {
        via: 'socks5://we"ird\\user:***@10.0.0.5:1080',
        health: "down",
        drain: true,
        counters: { active: 0, total: 7, connectFailures: 2, bytesDown: 10, bytesUp: 20 },
      }),
    ], { counters: { active: 3, total: 127, refused: 5, bytesUp: 1520, bytesDown: 9010 } }),
    fakeListener("[::]:8080", [fakeBackend("[2001:db8::7]:80")], {
      state: "bind_failed",
      error: 'EADDRINUSE: "[::]:8080" in use\nretrying',
    }),
  ]);
  const providers: ProviderStatus[] = [
    fakeProvider({ name: "file", updates: 3, errors: 1 }),
    fakeProvider({ name: "consul", kind: "consul", state: "waiting", services: 0 }),
  ];
  return { engine, providers };
}

function render(m: Metrics, w: ReturnType<typeof world>): string {
  return m.render({ listeners: w.engine.listeners(), providers: w.providers });
}

describe("metrics", () => {
  it("exposes every metric name of SPEC section 7 with HELP and TYPE", () => {
    const m = createMetrics();
    try {
      const text = render(m, world());
      for (const name of SPEC_NAMES) {
        assert.match(text, new RegExp(`^# HELP ${name} \\S`, "m"), name);
        assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, "m"), name);
      }
      assert.match(text, /^# TYPE sluice_connect_duration_seconds histogram$/m);
      assert.match(text, /^# TYPE sluice_connection_duration_seconds histogram$/m);
      assert.match(text, /^# TYPE sluice_bytes_total counter$/m);
    } finally {
      m.close();
    }
  });

  it(
    "is accepted by promtool check metrics",
    { skip: PROMTOOL ? false : "promtool not installed" },
    async () => {
      const m = createMetrics();
      try {
        const w = world();
        m.connectDone?.("127.0.0.1:15432", "10.0.0.7:5432", 0.0042, true);
        m.connectionDone?.("127.0.0.1:15432", 3.5);
        const r = await promtoolCheck(render(m, w));
        assert.equal(r.code, 0, r.output);
        assert.equal(r.output.trim(), "", "no lint findings");
      } finally {
        m.close();
      }
    },
  );

  it("promtool really rejects broken text (the check above can fail)", {
    skip: PROMTOOL ? false : "promtool not installed",
  }, async () => {
    const r = await promtoolCheck('# TYPE x counter\nx{a="1} 1\n');
    assert.notEqual(r.code, 0);
  });

  it("reads listener and backend values from the engine's view", () => {
    const m = createMetrics();
    try {
      const w = world();
      const s = parseExposition(render(m, w));
      const L = { listener: "127.0.0.1:15432" };
      assert.equal(valueOf(s, "sluice_routing_listeners"), 2);
      assert.equal(valueOf(s, "sluice_listener_up", L), 1);
      assert.equal(valueOf(s, "sluice_listener_up", { listener: "[::]:8080" }), 0);
      assert.equal(valueOf(s, "sluice_listener_connections_total", L), 127);
      assert.equal(valueOf(s, "sluice_listener_active_connections", L), 3);
      assert.equal(valueOf(s, "sluice_listener_refused_total", L), 5);
      assert.equal(valueOf(s, "sluice_bytes_total", { ...L, direction: "in" }), 1520);
      assert.equal(valueOf(s, "sluice_bytes_total", { ...L, direction: "out" }), 9010);
      const B = { ...L, backend: "10.0.0.7:5432" };
      assert.equal(valueOf(s, "sluice_backend_connections_total", B), 120);
      assert.equal(valueOf(s, "sluice_backend_active_connections", B), 3);
      assert.equal(valueOf(s, "sluice_backend_connect_failures_total", B), 4);
      assert.equal(valueOf(s, "sluice_backend_up", B), 1);
      assert.equal(valueOf(s, "sluice_backend_drain", B), 0);
      const P = { ...L, backend: 'socks5://we"ird\\user:***@10.0.0.5:1080 ➤ 10.0.0.8:5432' };
      assert.equal(valueOf(s, "sluice_backend_up", P), 0);
      assert.equal(valueOf(s, "sluice_backend_drain", P), 1);
      assert.equal(valueOf(s, "sluice_backend_connections_total", P), 7);
      // "unknown" health (no active checks) counts as up
      assert.equal(
        valueOf(s, "sluice_backend_up", { listener: "[::]:8080", backend: "[2001:db8::7]:80" }),
        1,
      );
    } finally {
      m.close();
    }
  });

  it("follows the counters as the engine changes them", () => {
    const m = createMetrics();
    try {
      const w = world();
      const l = w.engine.state[0];
      assert.ok(l);
      l.counters.total += 10;
      l.counters.active = 0;
      l.counters.bytesUp += 1000;
      const b = l.backends[0];
      assert.ok(b);
      b.counters.total += 10;
      const s = parseExposition(render(m, w));
      assert.equal(valueOf(s, "sluice_listener_connections_total", { listener: l.key }), 137);
      assert.equal(valueOf(s, "sluice_listener_active_connections", { listener: l.key }), 0);
      assert.equal(valueOf(s, "sluice_bytes_total", { listener: l.key, direction: "in" }), 2520);
      assert.equal(
        valueOf(s, "sluice_backend_connections_total", { listener: l.key, backend: b.key }),
        130,
      );
    } finally {
      m.close();
    }
  });

  it("shows a bind failure's reason in sluice_listener_info, escaped", () => {
    const m = createMetrics();
    try {
      const text = render(m, world());
      assert.ok(
        text.includes(
          'sluice_listener_info{listener="[::]:8080",label="local",state="bind_failed",error="EADDRINUSE: \\"[::]:8080\\" in use\\nretrying"} 1',
        ),
      );
      const s = parseExposition(text);
      const info = s.find((x) =>
        x.name === "sluice_listener_info" && x.labels.listener === "[::]:8080"
      );
      assert.equal(info?.labels.error, 'EADDRINUSE: "[::]:8080" in use\nretrying');
    } finally {
      m.close();
    }
  });

  it("sums a draining listener and its re-routed successor on the same address (no duplicate series)", async () => {
    const m = createMetrics();
    try {
      const engine = createFakeEngine([
        fakeListener("127.0.0.1:15440", [
          fakeBackend("10.0.0.1:80", {
            counters: { active: 1, total: 10, connectFailures: 1, bytesDown: 5, bytesUp: 6 },
          }),
        ], {
          state: "draining",
          counters: { active: 1, total: 10, refused: 0, bytesUp: 6, bytesDown: 5 },
        }),
        fakeListener("127.0.0.1:15440", [
          fakeBackend("10.0.0.1:80", {
            counters: { active: 2, total: 3, connectFailures: 0, bytesDown: 1, bytesUp: 1 },
          }),
          fakeBackend("10.0.0.2:80"),
        ], { counters: { active: 2, total: 3, refused: 0, bytesUp: 1, bytesDown: 1 } }),
      ]);
      const text = m.render({ listeners: engine.listeners(), providers: [] });
      if (PROMTOOL) {
        const r = await promtoolCheck(text);
        assert.equal(r.code, 0, r.output);
      }
      const s = parseExposition(text);
      const L = { listener: "127.0.0.1:15440" };
      assert.equal(valueOf(s, "sluice_routing_listeners"), 1);
      assert.equal(valueOf(s, "sluice_listener_up", L), 1);
      assert.equal(valueOf(s, "sluice_listener_connections_total", L), 13);
      assert.equal(valueOf(s, "sluice_listener_active_connections", L), 3);
      assert.equal(valueOf(s, "sluice_bytes_total", { ...L, direction: "in" }), 7);
      assert.equal(
        valueOf(s, "sluice_backend_connections_total", { ...L, backend: "10.0.0.1:80" }),
        13,
      );
      assert.equal(
        valueOf(s, "sluice_backend_connect_failures_total", { ...L, backend: "10.0.0.1:80" }),
        1,
      );
      assert.equal(
        valueOf(s, "sluice_backend_connections_total", { ...L, backend: "10.0.0.2:80" }),
        0,
      );
      assert.equal(s.filter((x) => x.name === "sluice_listener_info").length, 1);
      assert.equal(s.find((x) => x.name === "sluice_listener_info")?.labels.state, "listening");
    } finally {
      m.close();
    }
  });

  it("escapes backslash, quote and newline in label values", () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(escapeLabelValue("plain ➤ text"), "plain ➤ text");
  });

  it("records connect times of successful connects only, into cumulative buckets", () => {
    const m = createMetrics();
    try {
      const w = world();
      const L = "127.0.0.1:15432";
      const B = "10.0.0.7:5432";
      for (const v of [0.0003, 0.002, 0.002, 0.3, 42]) m.connectDone?.(L, B, v, true);
      m.connectDone?.(L, B, 5, false);
      const s = parseExposition(render(m, w));
      const lb = { listener: L, backend: B };
      const bucket = (le: string) =>
        valueOf(s, "sluice_connect_duration_seconds_bucket", { ...lb, le });
      assert.equal(bucket("0.0005"), 1);
      assert.equal(bucket("0.0025"), 3);
      assert.equal(bucket("0.25"), 3);
      assert.equal(bucket("0.5"), 4);
      assert.equal(bucket("10"), 4);
      assert.equal(bucket("+Inf"), 5);
      assert.equal(valueOf(s, "sluice_connect_duration_seconds_count", lb), 5);
      assert.ok(Math.abs(valueOf(s, "sluice_connect_duration_seconds_sum", lb) - 42.3043) < 1e-9);
      const les = s.filter((x) => x.name === "sluice_connect_duration_seconds_bucket").map((x) =>
        x.labels.le
      );
      assert.deepEqual(les, [...CONNECT_BUCKETS.map(String), "+Inf"]);
    } finally {
      m.close();
    }
  });

  it("records connection lifetimes per listener", () => {
    const m = createMetrics();
    try {
      const w = world();
      m.connectionDone?.("127.0.0.1:15432", 0.5);
      m.connectionDone?.("127.0.0.1:15432", 7200);
      const s = parseExposition(render(m, w));
      const L = { listener: "127.0.0.1:15432" };
      assert.equal(valueOf(s, "sluice_connection_duration_seconds_bucket", { ...L, le: "0.5" }), 1);
      assert.equal(
        valueOf(s, "sluice_connection_duration_seconds_bucket", { ...L, le: "3600" }),
        1,
      );
      assert.equal(
        valueOf(s, "sluice_connection_duration_seconds_bucket", { ...L, le: "14400" }),
        2,
      );
      assert.equal(valueOf(s, "sluice_connection_duration_seconds_count", L), 2);
      assert.equal(
        s.filter((x) => x.name === "sluice_connection_duration_seconds_bucket").length,
        CONNECTION_BUCKETS.length + 1,
      );
    } finally {
      m.close();
    }
  });

  it("drops histogram series of listeners and backends that are gone", () => {
    const m = createMetrics();
    try {
      const w = world();
      m.connectDone?.("127.0.0.1:15432", "10.0.0.7:5432", 0.001, true);
      m.connectDone?.("127.0.0.1:1", "10.0.0.1:1", 0.001, true);
      m.connectionDone?.("127.0.0.1:1", 1);
      const s = parseExposition(render(m, w));
      const listeners = new Set(
        s.filter((x) => x.name.startsWith("sluice_conn")).map((x) => x.labels.listener),
      );
      assert.deepEqual([...listeners], ["127.0.0.1:15432"]);
    } finally {
      m.close();
    }
  });

  it("counts provider updates and errors: from the provider when it counts, else from its status changes", () => {
    const m = createMetrics();
    try {
      const views: readonly ListenerView[] = [];
      let consul = fakeProvider({ name: "consul", kind: "consul", state: "waiting", services: 0 });
      const file = fakeProvider({ name: "file", updates: 3, errors: 1 });
      const read = () => parseExposition(m.render({ listeners: views, providers: [file, consul] }));
      let s = read();
      assert.equal(valueOf(s, "sluice_provider_updates_total", { provider: "file" }), 3);
      assert.equal(valueOf(s, "sluice_provider_errors_total", { provider: "file" }), 1);
      assert.equal(valueOf(s, "sluice_provider_updates_total", { provider: "consul" }), 0);
      assert.equal(valueOf(s, "sluice_provider_up", { provider: "consul" }), 0);

      consul = { ...consul, state: "ok", lastUpdate: "2024-05-01T10:00:00Z", services: 2 };
      s = read();
      assert.equal(valueOf(s, "sluice_provider_updates_total", { provider: "consul" }), 1);
      assert.equal(valueOf(s, "sluice_provider_up", { provider: "consul" }), 1);
      s = read(); // no change, no count
      assert.equal(valueOf(s, "sluice_provider_updates_total", { provider: "consul" }), 1);

      consul = { ...consul, state: "failing", lastError: "HTTP 500" };
      s = read();
      assert.equal(valueOf(s, "sluice_provider_errors_total", { provider: "consul" }), 1);
      consul = { ...consul, lastError: "connection refused" };
      s = read();
      assert.equal(valueOf(s, "sluice_provider_errors_total", { provider: "consul" }), 2);
      consul = { ...consul, state: "ok", lastUpdate: "2024-05-01T10:01:00Z" };
      s = read();
      assert.equal(valueOf(s, "sluice_provider_updates_total", { provider: "consul" }), 2);
      assert.equal(valueOf(s, "sluice_provider_errors_total", { provider: "consul" }), 2);
    } finally {
      m.close();
    }
  });

  it("reports plausible process figures", () => {
    const m = createMetrics();
    try {
      const s = parseExposition(m.render({ listeners: [], providers: [] }));
      assert.ok(valueOf(s, "process_resident_memory_bytes") > 1_000_000);
      assert.ok(valueOf(s, "process_cpu_seconds_total") > 0);
      assert.ok(valueOf(s, "process_open_fds") >= 3);
      const start = valueOf(s, "process_start_time_seconds");
      assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600);
      assert.ok(valueOf(s, "sluice_event_loop_lag_seconds") >= 0);
    } finally {
      m.close();
    }
  });

  it("GET /metrics over HTTP is accepted by promtool and matches the view", {
    skip: PROMTOOL ? false : "promtool not installed",
  }, async () => {
    const w = world();
    const admin = await startTestAdmin({ listeners: w.engine.state, providers: w.providers });
    try {
      const r = await admin.get("/metrics");
      const text = await r.text();
      const check = await promtoolCheck(text);
      assert.equal(check.code, 0, check.output);
      const s = parseExposition(text);
      assert.equal(
        valueOf(s, "sluice_listener_connections_total", { listener: "127.0.0.1:15432" }),
        127,
      );
      assert.equal(valueOf(s, "sluice_provider_updates_total", { provider: "file" }), 3);
    } finally {
      await admin.close();
    }
  });
});
