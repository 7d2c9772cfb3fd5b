// Traffic control end to end: max_connections under a burst and idle_timeout, against
// sluice as a process.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conn } from "../../src/runtime/types.ts";
import { bytes } from "../_support/helpers.ts";
import { delay, waitFor, within } from "../_support/wait.ts";
import {
  dec,
  echoes,
  echoServiceSuite,
  ending,
  findListener,
  hostPort,
  LO4,
  rt,
} from "./_traffic.ts";

describe("max_connections under a burst", () => {
  const LIMIT = 50;
  const BURST = 500;
  const suite = echoServiceSuite("limited", `max_connections = ${LIMIT}`);

  it(`${BURST} concurrent clients: ${LIMIT} served, the rest closed at once, the served go on`, {
    timeout: 120_000,
  }, async () => {
    type Outcome = { kind: "served"; c: Conn } | { kind: "refused" | "hung" | "connect_failed" };
    const outcomes = await within(
      Promise.all(Array.from({ length: BURST }, async (): Promise<Outcome> => {
        let c: Conn;
        try {
          c = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 15_000 });
        } catch {
          return { kind: "connect_failed" };
        }
        try {
          await c.write(bytes("x"));
          const e = await c.read({ signal: AbortSignal.timeout(20_000) });
          if (e !== null && dec.decode(e) === "x") return { kind: "served", c };
          c.close();
          return { kind: "refused" };
        } catch (err) {
          c.close();
          return (err as { code?: string }).code === "ETIMEDOUT" ||
              (err as { code?: string }).code === "ABORTED"
            ? { kind: "hung" }
            : { kind: "refused" };
        }
      })),
      90_000,
      "every client of the burst to finish",
    );
    const served = outcomes.flatMap((o) => o.kind === "served" ? [o.c] : []);
    try {
      const count = (k: string) => outcomes.filter((o) => o.kind === k).length;
      assert.equal(count("hung"), 0, "no client waits without an answer");
      assert.equal(count("connect_failed"), 0);
      assert.equal(served.length, LIMIT);
      assert.equal(count("refused"), BURST - LIMIT);

      const l = findListener(await suite.fx.listeners(), hostPort(LO4, suite.port));
      assert.equal(l.active_connections, LIMIT);
      assert.equal(l.refused_connections, BURST - LIMIT);
      const metrics = await suite.fx.metrics();
      const m = metrics.match(
        new RegExp(
          `^sluice_listener_refused_total\\{[^}]*listener="${LO4}:${suite.port}"[^}]*\\} (\\d+)`,
          "m",
        ),
      );
      assert.ok(m, "sluice_listener_refused_total has a series for the listener");
      assert.equal(Number(m[1]), BURST - LIMIT);

      // The held connections still carry bytes both ways.
      await Promise.all(served.map((c, i) => echoes(c, `after-${i};`)));
    } finally {
      for (const c of served) c.close();
    }
    // Capacity comes back once they are gone.
    await waitFor(
      async () =>
        findListener(await suite.fx.listeners(), hostPort(LO4, suite.port)).active_connections ===
          0,
      {
        timeoutMs: 10_000,
        what: "the served connections to end",
      },
    );
    const again = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 5000 });
    try {
      await echoes(again, "room again");
    } finally {
      again.close();
    }
  });
});

describe("idle_timeout", () => {
  const suite = echoServiceSuite("idle", `idle_timeout = "500ms"`);

  it("closes a silent connection after about 500ms while a chatty one stays open", {
    timeout: 30_000,
  }, async () => {
    const idle = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 5000 });
    const chatty = await rt.connect({ host: LO4, port: suite.port, timeoutMs: 5000 });
    try {
      await echoes(idle, "a");
      await echoes(chatty, "a");
      const lastByte = Date.now();
      const idleEnd = (async () => {
        const e = await ending(idle, 5000);
        return { e, after: Date.now() - lastByte };
      })();
      const chattyRun = (async () => {
        // A byte every 100 ms for well past 1.5 s.
        for (let i = 0; Date.now() - lastByte < 1800 && i < 100; i++) {
          await delay(100);
          await echoes(chatty, "k");
        }
      })();
      const { e, after } = await idleEnd;
      assert.notEqual(e.kind, "open", "the idle connection is closed within 5 s");
      assert.ok(after >= 300, `closed after ${after} ms, not before 300 ms`);
      await chattyRun;
      assert.ok(Date.now() - lastByte >= 1500);
      await echoes(chatty, "still open");
    } finally {
      idle.close();
      chatty.close();
    }
    await suite.fx.sluice.waitForLine(/reason=idle/, 5000);
  });
});
