// What a listener routing by TLS server name shows: /metrics (a service label on backend
// series, the SNI counters), the /api/v1/routing JSON (valid against its schema) and peek.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createMetrics } from "../../src/admin/metrics.ts";
import { listenerJson } from "../../src/admin/views.ts";
import { Listener } from "../../src/admin/schemas.ts";
import { formatPeek } from "../../src/admin/peek.ts";
import type { SniView } from "../../src/proxy/types.ts";
import { createFakeEngine, fakeBackend, fakeListener } from "./_fake_engine.ts";
import { parseExposition, PROMTOOL, promtoolCheck, valueOf } from "./_prom.ts";

const SNI: SniView = {
  timeoutMs: 5000,
  routes: [
    { service: "apps", names: ["*.apps.test"], active: 1, total: 7 },
    { service: "db", names: ["db.test"], active: 0, total: 3 },
    { service: "web", names: [], active: 0, total: 2 },
  ],
  unmatched: 4,
  timeouts: 5,
};

function world() {
  return createFakeEngine([
    fakeListener("127.0.0.1:8443", [
      fakeBackend("10.0.0.1:443", { service: "apps", counters: c(7) }),
      fakeBackend("10.0.0.1:443", { service: "db", counters: c(3) }),
      fakeBackend("10.0.0.3:443", { service: "web", counters: c(2) }),
    ], { services: ["apps", "db", "web"], sni: SNI }),
    fakeListener("127.0.0.1:5432", [fakeBackend("10.0.0.9:5432", { counters: c(1) })]),
    fakeListener("127.0.0.1:6000", [
      fakeBackend("10.0.0.5:6000", { service: "x", counters: c(6) }),
      fakeBackend("10.0.0.6:6000", { service: "y", counters: c(8) }),
    ], { services: ["x", "y"] }),
  ]);
}

function c(total: number) {
  return { active: 0, total, connectFailures: 0, bytesUp: 0, bytesDown: 0 };
}

describe("a listener routing by server name", () => {
  it("metrics: a service label where a listener has several services; SNI counters", async () => {
    const m = createMetrics();
    try {
      const text = m.render({ listeners: world().listeners(), providers: [] });
      const s = parseExposition(text);
      const l = "127.0.0.1:8443";
      const name = "sluice_backend_connections_total";
      assert.equal(valueOf(s, name, { listener: l, service: "apps", backend: "10.0.0.1:443" }), 7);
      assert.equal(valueOf(s, name, { listener: l, service: "db", backend: "10.0.0.1:443" }), 3);
      assert.equal(valueOf(s, name, { listener: "127.0.0.1:5432", backend: "10.0.0.9:5432" }), 1);
      const shared = { listener: "127.0.0.1:6000", service: "y", backend: "10.0.0.6:6000" };
      assert.equal(valueOf(s, name, shared), 8);
      assert.equal(valueOf(s, "sluice_sni_unmatched_total", { listener: l }), 4);
      assert.equal(valueOf(s, "sluice_sni_timeouts_total", { listener: l }), 5);
      assert.equal(valueOf(s, "sluice_sni_connections_total", { listener: l, service: "web" }), 2);
      assert.ok(!s.some((x) => x.name.startsWith("sluice_sni_") && x.labels.listener !== l));
      if (PROMTOOL) {
        const r = await promtoolCheck(text);
        assert.equal(r.code, 0, r.output);
      }
    } finally {
      m.close();
    }
  });

  it("/api/v1/routing: the sni block, valid against the published schema; null elsewhere", () => {
    const [plain, , sni] = world().listeners().map(listenerJson);
    assert.equal(plain?.sni, null);
    assert.deepEqual(sni?.sni, {
      timeout_ms: 5000,
      routes: [
        { service: "apps", names: ["*.apps.test"], active_connections: 1, total_connections: 7 },
        { service: "db", names: ["db.test"], active_connections: 0, total_connections: 3 },
        { service: "web", names: [], active_connections: 0, total_connections: 2 },
      ],
      unmatched_connections: 4,
      timeout_connections: 5,
    });
    for (const j of [plain, sni]) assert.ok(Listener.safeParse(j).success);
  });

  it("peek: names, services and the default", () => {
    const text = formatPeek(world().listeners());
    assert.match(text, /├─ \*\.apps\.test ➤ apps \(1 active, 7 total\)/);
    assert.match(text, /├─ default ➤ web/);
    assert.match(text, /unmatched 4, timeouts 5/);
    assert.match(text, /10\.0\.0\.1:443 \[service db\]/);
  });
});
