// watchAbort(): a late-added abort listener that still delivers every abort, once, and none
// after its watch ended.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { watchAbort } from "../../src/runtime/_abort_watch.ts";
import { delay, waitFor } from "../_support/wait.ts";

describe("watchAbort()", () => {
  it("delivers an abort that comes while the watch is young", async () => {
    const ac = new AbortController();
    let calls = 0;
    watchAbort(ac.signal, () => calls++);
    ac.abort();
    assert.ok(await waitFor(() => calls === 1, { timeoutMs: 2000 }), "called after the next tick");
    await delay(60);
    assert.equal(calls, 1);
  });

  it("delivers an abort that comes after the watch got its listener, to a method", async () => {
    const ac = new AbortController();
    const target = {
      calls: 0,
      onAbort() {
        this.calls++;
      },
    };
    watchAbort(ac.signal, target);
    await delay(80); // several ticks: the watch listens now
    ac.abort();
    assert.equal(target.calls, 1, "at once, through the listener");
    await delay(60);
    assert.equal(target.calls, 1);
  });

  it("never calls back after the watch ended, young or listening", async () => {
    const young = new AbortController();
    const old = new AbortController();
    let calls = 0;
    const youngWatch = watchAbort(young.signal, () => calls++);
    const oldWatch = watchAbort(old.signal, () => calls++);
    await delay(80);
    oldWatch.cancel();
    old.abort();
    const second = watchAbort(young.signal, () => calls++);
    youngWatch.cancel();
    second.cancel();
    young.abort();
    await delay(80);
    assert.equal(calls, 0);
  });
});
