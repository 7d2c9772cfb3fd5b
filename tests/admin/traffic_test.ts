// Admin against the real engine: connections and bytes the test sends show up in /metrics and
// /api/v1/routing, and a drain through the API steers the next connection away.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Engine } from "../../src/proxy/engine.ts";
import { Routing } from "../../src/admin/schemas.ts";
import { configureLogging, logSink } from "../../src/log.ts";
import type { HttpHandle, Runtime } from "../../src/runtime/types.ts";
import {
  bytes,
  fetchBanner,
  freePort,
  readAll,
  runtime,
  startEchoServer,
  startNamedServer,
  type TestServer,
} from "../_support/helpers.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { parseExposition, PROMTOOL, promtoolCheck, valueOf } from "./_prom.ts";
import { waitFor } from "../_support/wait.ts";
import { startEngineAdmin } from "./_admin_server.ts";

describe("admin over the real engine", { timeout: 60_000 }, () => {
  let rt: Runtime;
  let engine: Engine;
  let admin: HttpHandle;
  const servers: TestServer[] = [];
  const logs: string[] = [];
  const stderrWrite = logSink.write;

  before(async () => {
    rt = await runtime();
    configureLogging({ level: "info", format: "json", write: (l) => logs.push(l) });
    ({ engine, admin } = await startEngineAdmin(rt));
  });

  after(async () => {
    await engine.shutdown();
    await admin.close({ force: true });
    for (const s of servers) s.close();
    configureLogging({ write: stderrWrite });
  });

  const get = (path: string, init?: RequestInit) =>
    fetch(`http://127.0.0.1:${admin.port}${path}`, { ...init, signal: AbortSignal.timeout(5000) });

  it("counts the connections and bytes the test sends, in /metrics and /api/v1/routing", async () => {
    const echo = startEchoServer(rt);
    servers.push(echo);
    const port = await freePort(rt);
    engine.apply(table(listener(port, [backend(echo.port)])));
    const key = `127.0.0.1:${port}`;
    await waitFor(() => engine.listeners().find((l) => l.key === key)?.state === "listening", {
      what: "the listener to open",
    });

    const payloads = ["hello", "x".repeat(10_000), "sluice admin"];
    for (const p of payloads) {
      const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 2000 });
      await c.write(bytes(p));
      await c.closeWrite();
      assert.equal(await readAll(c), p);
      c.close();
    }
    const sent = payloads.reduce((n, p) => n + p.length, 0);
    await waitFor(() => {
      const l = engine.listeners().find((x) => x.key === key);
      return l && l.counters.active === 0 && l.counters.total === payloads.length;
    }, { what: "the connections to end" });

    const text = await (await get("/metrics")).text();
    if (PROMTOOL) {
      const check = await promtoolCheck(text);
      assert.equal(check.code, 0, check.output);
    }
    const s = parseExposition(text);
    const L = { listener: key };
    const B = { ...L, backend: `127.0.0.1:${echo.port}` };
    assert.equal(valueOf(s, "sluice_listener_up", L), 1);
    assert.equal(valueOf(s, "sluice_listener_connections_total", L), 3);
    assert.equal(valueOf(s, "sluice_listener_active_connections", L), 0);
    assert.equal(valueOf(s, "sluice_bytes_total", { ...L, direction: "in" }), sent);
    assert.equal(valueOf(s, "sluice_bytes_total", { ...L, direction: "out" }), sent);
    assert.equal(valueOf(s, "sluice_backend_connections_total", B), 3);
    assert.equal(valueOf(s, "sluice_backend_connect_failures_total", B), 0);
    assert.equal(valueOf(s, "sluice_connect_duration_seconds_count", B), 3);
    assert.equal(valueOf(s, "sluice_connection_duration_seconds_count", L), 3);

    const routing = Routing.parse(await (await get("/api/v1/routing")).json());
    const l = routing.listeners.find((x) => x.address === key);
    assert.equal(l?.total_connections, 3);
    assert.equal(l?.bytes_up, sent);
    assert.equal(l?.backends[0]?.bytes_up, sent);
    assert.equal(l?.backends[0]?.bytes_down, sent);
  });

  it("a drain through the API sends the next connections to the other backend", async () => {
    const a = startNamedServer(rt, "alpha");
    const b = startNamedServer(rt, "beta");
    servers.push(a, b);
    const port = await freePort(rt);
    engine.apply(table(listener(port, [backend(a.port), backend(b.port)])));
    const key = `127.0.0.1:${port}`;
    await waitFor(() => engine.listeners().find((l) => l.key === key)?.state === "listening", {
      what: "the listener to open",
    });
    const r = await get("/api/v1/backends/drain", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ listener: key, backend: `127.0.0.1:${a.port}` }),
    });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await fetchBanner(rt, port));
    assert.deepEqual([...seen], ["beta"]);

    const s = parseExposition(await (await get("/metrics")).text());
    assert.equal(
      valueOf(s, "sluice_backend_drain", { listener: key, backend: `127.0.0.1:${a.port}` }),
      1,
    );

    const u = await get("/api/v1/backends/drain", {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ listener: key, backend: `127.0.0.1:${a.port}` }),
    });
    assert.equal(u.status, 200);
    await u.body?.cancel();
    seen.clear();
    for (let i = 0; i < 4; i++) seen.add(await fetchBanner(rt, port));
    assert.deepEqual([...seen].sort(), ["alpha", "beta"]);
  });
});
