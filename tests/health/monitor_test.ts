// The health monitor keeps one checker per backend in step with routing and logs each change once.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHealthMonitor, type MonitoredBackend } from "../../src/health/monitor.ts";
import { configureLogging, createLogger, logSink } from "../../src/log.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import type { HealthState } from "../../src/proxy/types.ts";
import { freePort, runtime } from "../_support/helpers.ts";
import { delay, waitFor } from "../_support/wait.ts";
import { TCP } from "./_specs.ts";

let rt: Runtime;
const lines: string[] = [];
const saved = { ...logSink };

before(async () => {
  rt = await runtime();
  configureLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
});
after(() => configureLogging(saved));

function backend(key: string, port: number) {
  const states: HealthState[] = [];
  const b: MonitoredBackend & { states: HealthState[] } = {
    key,
    host: "127.0.0.1",
    port,
    states,
    setHealth: (s) => void states.push(s),
  };
  return b;
}

describe("createHealthMonitor", () => {
  it(
    "starts, keeps, restarts and stops checkers as routing changes",
    { timeout: 20_000 },
    async () => {
      const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
      const closed = await freePort(rt);
      const m = createHealthMonitor({ rt, log: createLogger("health") });
      try {
        const up = backend("up", l.addr.port);
        const down = backend("down", closed);
        m.sync("L1", TCP, [up, down]);
        assert.equal(m.size, 2);
        await waitFor(() => up.states.includes("up") && down.states.includes("down"), {
          timeoutMs: 5000,
          what: "first results",
        });

        // Let many checks run: the down backend is logged once, not per check.
        await delay(200);
        const downLines = lines.filter((x) =>
          x.includes("backend is down") && x.includes(`:${closed}`)
        );
        assert.equal(downLines.length, 1);
        assert.match(downLines[0]!, /"listener":"L1"/);
        assert.ok(lines.some((x) => x.includes("backend is up") && x.includes(`:${l.addr.port}`)));

        // The same plan again: nothing restarts (no "unknown" reported).
        const upCount = up.states.length;
        m.sync("L1", TCP, [up, down]);
        assert.deepEqual(up.states.slice(upCount), []);

        // A changed spec restarts: "unknown" first, then a new result.
        m.sync("L1", { ...TCP, intervalMs: 30 }, [up, down]);
        assert.equal(up.states.at(-1), "unknown");
        await waitFor(() => up.states.at(-1) === "up", {
          timeoutMs: 5000,
          what: "up after the restart",
        });

        // A removed backend stops being checked and goes back to unknown.
        m.sync("L1", TCP, [up]);
        assert.equal(m.size, 1);
        assert.equal(down.states.at(-1), "unknown");
        const before = down.states.length;
        await delay(100);
        assert.equal(down.states.length, before);

        // No spec: every checker stops.
        m.sync("L1", undefined, [up]);
        assert.equal(m.size, 0);
        assert.equal(up.states.at(-1), "unknown");
      } finally {
        m.close();
        l.close();
      }
    },
  );

  it("drop() and close() stop every checker of a listener", { timeout: 10_000 }, async () => {
    let accepted = 0;
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => {
      accepted++;
      c.close();
    });
    const m = createHealthMonitor({ rt, log: createLogger("health") });
    try {
      m.sync("A", TCP, [backend("a", l.addr.port)]);
      m.sync("B", TCP, [backend("b", l.addr.port)]);
      assert.equal(m.size, 2);
      m.drop("A");
      assert.equal(m.size, 1);
      m.close();
      assert.equal(m.size, 0);
      await delay(50);
      const n = accepted;
      await delay(150);
      assert.equal(accepted, n, "checks went on after close()");
    } finally {
      m.close();
      l.close();
    }
  });
});
