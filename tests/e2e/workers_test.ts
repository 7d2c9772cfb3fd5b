// runtime.workers = 2: two processes bind the same port with SO_REUSEPORT and the primary's
// admin API and /metrics report the group as one (src/cli/group.ts): 1,000 client connections
// spread over both processes add up to the client's count, a drain reaches both, and killing a
// worker by PID is logged, leaves the admin API answering, and the worker is restarted.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Conn, Runtime } from "../../src/runtime/types.ts";
import { freePort, runtime, startEchoServer, type TestServer } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import { type SluiceFixture, startSluiceFixture } from "./_sluice_fixture.ts";

const CONNECTIONS = 1000;

interface WorkerRow {
  worker: number;
  pid: number | null;
  up: boolean;
  restarts: number;
  active_connections: number;
  total_connections: number;
  drained: string[];
}

let rt: Runtime;
let echo: TestServer;
let port: number;
let s: SluiceFixture;
let adminBase: string;

async function workers(): Promise<WorkerRow[]> {
  const r = await fetch(`${adminBase}/api/v1/workers`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200);
  return ((await r.json()) as { workers: WorkerRow[] }).workers;
}

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

before(async () => {
  rt = await runtime();
  echo = startEchoServer(rt);
  port = await freePort(rt);
  s = await startSluiceFixture({
    rt,
    routing: `[[services]]
name = "echo"
listener = "local:${port}"
backends = ["127.0.0.1:${echo.port}"]
`,
    config: "\n[runtime]\nworkers = 2\n",
  });
  // The fixture picked the admin port; its config.toml names it.
  const m = /\[admin\]\s*listener = "(127\.0\.0\.1:\d+)"/.exec(
    await readFile(join(s.dir, "config.toml"), "utf8"),
  );
  adminBase = `http://${m![1]}`;
  await waitFor(async () => {
    const ws = await workers();
    return ws.length === 2 && ws.every((w) => w.up);
  }, { timeoutMs: 30_000, intervalMs: 200, what: "both processes answering" });
  await s.waitListening([`127.0.0.1:${port}`]);
});

after(async () => {
  await s?.stop();
  echo?.close();
});

describe("runtime.workers = 2 reports as one", { timeout: 180_000 }, () => {
  it(`counts ${CONNECTIONS} connections over both processes`, async () => {
    const conns: Conn[] = [];
    try {
      for (let i = 0; i < CONNECTIONS; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(50, CONNECTIONS - i) }, async () => {
            const c = await rt.connect({ host: "127.0.0.1", port, timeoutMs: 10_000 });
            await c.write(new Uint8Array([120]));
            const echoed = await c.read();
            assert.ok(echoed && echoed.length > 0, "the echo came back through sluice");
            return c;
          }),
        );
        conns.push(...batch);
      }
      const key = `127.0.0.1:${port}`;
      const listener = await waitFor(async () => {
        const l = (await s.listeners()).find((x) => x.address === key);
        return l && l.active_connections === CONNECTIONS ? l : undefined;
      }, { timeoutMs: 20_000, intervalMs: 200, what: "the group's active count" });
      assert.equal(listener.total_connections, CONNECTIONS);
      assert.equal(listener.backends[0]!.active_connections, CONNECTIONS);

      const ws = await workers();
      assert.equal(ws.reduce((n, w) => n + w.active_connections, 0), CONNECTIONS);
      for (const w of ws) assert.ok(w.active_connections > 0, `worker ${w.worker} took a share`);

      const text = await s.metrics();
      const l = `listener="${key}"`;
      assert.equal(metric(text, "sluice_listener_connections_total", l), CONNECTIONS);
      assert.equal(metric(text, "sluice_listener_active_connections", l), CONNECTIONS);
      assert.equal(metric(text, "sluice_listener_up", l), 1);
      const perWorker = [0, 1].map((w) =>
        metric(text, "sluice_worker_active_connections", `worker="${w}"`) ?? -1
      );
      assert.equal(perWorker[0]! + perWorker[1]!, CONNECTIONS);
    } finally {
      for (const c of conns) c.close();
    }
    await waitFor(async () => {
      const l = (await s.listeners()).find((x) => x.address === `127.0.0.1:${port}`);
      return l?.active_connections === 0;
    }, { timeoutMs: 20_000, intervalMs: 200, what: "every connection closed" });
    // Connection lifetimes are observed in the process that held each connection.
    await waitFor(async () =>
      metric(
        await s.metrics(),
        "sluice_connection_duration_seconds_count",
        `listener="127.0.0.1:${port}"`,
      ) === CONNECTIONS, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: "the group's connection-duration count",
    });
  });

  it("a drain from the admin API reaches both processes", async () => {
    const body = JSON.stringify({
      listener: `127.0.0.1:${port}`,
      backend: `127.0.0.1:${echo.port}`,
    });
    const r = await fetch(`${adminBase}/api/v1/backends/drain`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(r.status, 200);
    const pair = `127.0.0.1:${port} 127.0.0.1:${echo.port}`;
    await waitFor(async () => (await workers()).every((w) => w.drained.includes(pair)), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: "the drain in every process",
    });
    const l = (await s.listeners()).find((x) => x.address === `127.0.0.1:${port}`)!;
    assert.equal(l.backends[0]!.drain, true, "drained for the group");
    const un = await fetch(`${adminBase}/api/v1/backends/drain`, {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(un.status, 200);
    await waitFor(async () => (await workers()).every((w) => w.drained.length === 0), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: "the drain lifted in every process",
    });
  });

  it("a worker killed by PID is logged and restarted; the admin API stays up", async () => {
    const before = (await workers()).find((w) => w.worker === 1)!;
    assert.ok(before.pid !== null && before.pid !== s.sluice.pid);
    process.kill(before.pid, "SIGKILL");
    await s.sluice.waitForLine(/worker exited: restarting/, 10_000);
    const health = await fetch(`${adminBase}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(health.status, 200);
    assert.ok((await s.listeners()).length > 0, "the routing API still answers");
    const after = await waitFor(async () => {
      const w = (await workers()).find((x) => x.worker === 1);
      return w && w.up && w.restarts === 1 && w.pid !== before.pid ? w : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: "worker 1 restarted" });
    assert.equal(after.restarts, 1);
    const text = await s.metrics();
    assert.equal(metric(text, "sluice_worker_restarts_total", 'worker="1"'), 1);
    assert.equal(metric(text, "sluice_worker_up", 'worker="1"'), 1);
  });
});
