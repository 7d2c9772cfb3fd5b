// The test helpers' own promises, where a broken one would make other tests flaky.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { freePort, runtime } from "./_support/helpers.ts";
import { whenDone } from "./_support/cleanup.ts";

describe("freePort", () => {
  it("never hands out the same port twice in one process", async () => {
    // 300 random picks from 12,000 ports repeat one 97 % of the time when nothing prevents it
    // (a test that took 24 ports bound only 23 listeners, 1 run in 30).
    const rt = await runtime();
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort(rt));
    assert.equal(new Set(ports).size, ports.length);
    assert.ok(ports.every((p) => p >= 20_000 && p < 32_000), "below the ephemeral range");
  });
});

describe("whenDone", () => {
  // Deno 2.9 never runs a t.after() of an it() inside describe(): servers and temp dirs stayed.
  const ran: string[] = [];
  it("registers a cleanup", (t) => {
    whenDone(t, () => void ran.push("sync"));
    whenDone(t, async () => {
      await Promise.resolve();
      ran.push("async");
    });
    assert.deepEqual(ran, [], "not before the test ends");
  });
  it("has run it once the test ended, once each", () => {
    assert.deepEqual(ran, ["sync", "async"]);
  });
});
