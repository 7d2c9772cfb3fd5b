// Several checks per pool with fall actions, and a checker that starts from a restored state.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { combineChecks, createHealthMonitor } from "../../src/health/monitor.ts";
import { createHealthChecker } from "../../src/health/checker.ts";
import { configureLogging, createLogger } from "../../src/log.ts";
import type { HealthSpec } from "../../src/routing/types.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import type { HealthState } from "../../src/health/types.ts";
import { freePort, runtime } from "../_support/helpers.ts";
import { waitFor } from "../_support/wait.ts";
import { TCP } from "./_specs.ts";

let rt: Runtime;
before(async () => {
  rt = await runtime();
  configureLogging({ level: "warn", format: "json", write: () => {} });
});

describe("combineChecks()", () => {
  const drain = { ...TCP, fallAction: "drain" as const };
  const disable = { ...TCP, fallAction: "disable" as const };
  const ignore = { ...TCP, fallAction: "ignore" as const };
  const cases: [string, HealthSpec[], (boolean | undefined)[], HealthState, boolean][] = [
    ["all pass", [drain, disable], [true, true], "up", false],
    ["a drain check fails", [drain, disable], [false, true], "down", false],
    ["a disable check fails", [drain, disable], [true, false], "down", true],
    ["an ignored check fails", [drain, ignore], [true, false], "up", false],
    ["no result yet", [drain, disable], [true, undefined], "unknown", false],
    ["no fall_action is drain", [TCP], [false], "down", false],
  ];
  for (const [name, specs, results, state, disabled] of cases) {
    it(name, () => assert.deepEqual(combineChecks(specs, results), { state, disabled }));
  }
});

describe("monitor with several checks", () => {
  it("disables a backend whose disable check fails, ignores an ignored one", {
    timeout: 20_000,
  }, async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    const closed = await freePort(rt);
    const m = createHealthMonitor({ rt, log: createLogger("health") });
    try {
      const states: HealthState[] = [];
      let disabled = false;
      const b = {
        key: "b",
        host: "127.0.0.1",
        port: l.addr.port,
        setHealth: (s: HealthState) => void states.push(s),
        setDisabled: (on: boolean) => void (disabled = on),
      };
      // The tcp check passes; the http one fails (the server closes without a status line).
      m.sync("L", [
        { ...TCP, fallAction: "drain" },
        { ...TCP, type: "http", fallAction: "disable" },
      ], [b]);
      assert.equal(m.size, 2);
      await waitFor(() => disabled, { what: "disabled by the failing http check" });
      assert.equal(states.at(-1), "down");

      // The same failing check, ignored: the backend is up.
      const c = { ...b, key: "c", setDisabled: (on: boolean) => void (disabled = on) };
      disabled = false;
      m.sync("L", [
        { ...TCP, fallAction: "drain" },
        { ...TCP, type: "http", fallAction: "ignore" },
      ], [c]);
      await waitFor(() => states.at(-1) === "up", { what: "up despite the ignored check" });
      assert.equal(disabled, false);

      // A restored "down" starts down (not unknown) and needs its checks to pass.
      const d = {
        key: "d",
        host: "127.0.0.1",
        port: closed,
        initial: { state: "down" as const, disabled: false },
        setHealth: (s: HealthState) => void states.push(s),
      };
      states.length = 0;
      m.sync("L2", TCP, [d]);
      assert.deepEqual(states, ["down"]);
    } finally {
      m.close();
      l.close();
    }
  });
});

describe("createHealthChecker({ initial: false })", () => {
  it("stays down until `rise` checks pass", { timeout: 20_000 }, async () => {
    const l = rt.listen({ host: "127.0.0.1", port: 0 }, (c) => c.close());
    const events: boolean[] = [];
    const c = createHealthChecker({
      rt,
      spec: { ...TCP, rise: 3 },
      target: { host: "127.0.0.1", port: l.addr.port },
      initial: false,
      onChange: (h) => void events.push(h),
    });
    try {
      await waitFor(() => events.length > 0, { what: "a change" });
      assert.deepEqual(events, [true]);
      assert.ok(c.streak >= 3, `came up after ${c.streak} passes`);
    } finally {
      c.stop();
      l.close();
    }
  });
});
