// Issue 12, bug 3: a removed listener is forgotten once its last connection is gone, in the
// engine's view, the admin API's routing view and /metrics (no "[draining]" phantoms).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEngine, type Engine } from "../../src/proxy/engine.ts";
import { startAdmin } from "../../src/admin/server.ts";
import { createMetrics } from "../../src/admin/metrics.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import type { Conn, HttpHandle, Runtime } from "../../src/runtime/types.ts";
import { bytes, freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { backend, listener, table } from "../_support/plans.ts";
import { waitFor, within } from "../_support/wait.ts";

const LISTENERS = 24;
const ROUNDS = 5;
/** Listeners (by index) that carry a live connection when they are removed. */
const BUSY = new Set([0, 5, 11, 17]);

let rt: Runtime;
let echo: TestServer;
let e: Engine;
let admin: HttpHandle;
let ports: number[];

before(async () => {
  rt = await runtime();
  configureLogging({ level: "error", format: "json", write: () => {} });
  echo = startEchoServer(rt);
  // A long drain timeout: only the connections' own end may retire the busy listeners.
  e = createEngine({ rt, log: createLogger("test"), drainTimeoutMs: 60_000, bindRetryMs: 200 });
  admin = await startAdmin({
    rt,
    listener: "127.0.0.1:0",
    deps: {
      engine: e,
      providers: () => [],
      metrics: createMetrics(),
      token: "",
      version: "0.0.0-test",
      runtime: `${rt.name} ${rt.version}`,
    },
  });
  ports = [];
  for (let i = 0; i < LISTENERS; i++) ports.push(await freePort(rt));
});

after(async () => {
  // Bounded: with the bug, shutdown would wait for phantoms that never finish.
  await within(e.shutdown(), 10_000, "engine shutdown").catch(() => {});
  await admin.close({ force: true });
  echo.close();
});

async function adminGet(path: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${admin.port}${path}`, {
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(r.status, 200);
  return await r.text();
}

async function echoOnce(c: Conn, s: string): Promise<void> {
  await c.write(bytes(s));
  const got = await c.read({ signal: AbortSignal.timeout(5000) });
  assert.equal(got && new TextDecoder().decode(got), s);
}

describe("retired listeners", () => {
  it("are forgotten by the engine, /api/v1/routing and /metrics once their connections end", async () => {
    const all = table(...ports.map((p) => listener(p, [backend(echo.port)])));
    for (let round = 0; round < ROUNDS; round++) {
      e.apply(all);
      await waitFor(
        () => e.listeners().filter((l) => l.state === "listening").length === LISTENERS,
        { what: "every listener to bind", timeoutMs: 10_000 },
      );
      const open: Conn[] = [];
      for (const i of BUSY) {
        const c = await rt.connect({ host: "127.0.0.1", port: ports[i]!, timeoutMs: 5000 });
        open.push(c);
        await echoOnce(c, `r${round}`);
      }
      e.apply(table());

      // Idle listeners are gone at once; busy ones drain while their connection lives.
      const draining = e.listeners();
      assert.equal(
        draining.length,
        BUSY.size,
        `only listeners with a connection remain: ${
          JSON.stringify(draining.map((l) => [l.key, l.state, l.counters.active]))
        }`,
      );
      assert.ok(draining.every((l) => l.state === "draining"));
      const routing = JSON.parse(await adminGet("/api/v1/routing")) as {
        listeners: { address: string; state: string }[];
      };
      assert.deepEqual(
        routing.listeners.map((l) => l.address).sort(),
        [...BUSY].map((i) => `127.0.0.1:${ports[i]}`).sort(),
      );
      // The drained connection still flows.
      await echoOnce(open[0]!, "still");

      for (const c of open) c.close();
      await waitFor(() => e.listeners().length === 0, {
        what: "the busy listeners to retire after their connections closed",
        timeoutMs: 10_000,
      });
    }
    const routing = JSON.parse(await adminGet("/api/v1/routing")) as { listeners: unknown[] };
    assert.deepEqual(routing.listeners, []);
    const metrics = await adminGet("/metrics");
    assert.match(metrics, /^sluice_routing_listeners 0$/m);
    assert.doesNotMatch(metrics, /sluice_listener_info\{/);
    assert.doesNotMatch(metrics, /draining/);
  });
});
