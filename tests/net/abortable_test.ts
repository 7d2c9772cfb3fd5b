// The one timeout/abort idiom: abortable() and deadline().
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { abortable, deadline } from "../../src/net/abortable.ts";

describe("abortable()", () => {
  it("passes the promise's value through when the signal stays quiet", async () => {
    const ac = new AbortController();
    assert.equal(await abortable(Promise.resolve(7), ac.signal), 7);
  });
  it("passes a rejection through", async () => {
    await assert.rejects(abortable(Promise.reject(new Error("boom")), undefined), /boom/);
  });
  it("rejects with the signal's reason when it aborts first, the promise still pending", async () => {
    const ac = new AbortController();
    const never = new Promise<number>(() => {});
    const p = abortable(never, ac.signal);
    ac.abort(new Error("stop"));
    await assert.rejects(p, /stop/);
  });
  it("rejects at once for a signal already aborted", async () => {
    await assert.rejects(
      abortable(Promise.resolve(1), AbortSignal.abort(new Error("gone"))),
      /gone/,
    );
  });
  it("handles a later rejection of the promise when the signal was already aborted", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      let fail!: (e: Error) => void;
      const late = new Promise<number>((_, reject) => fail = reject);
      const p = abortable(late, AbortSignal.abort(new Error("gone")));
      await assert.rejects(p, /gone/);
      fail(new Error("late failure"));
      // Two macrotasks: enough for either runtime to report an unhandled rejection.
      for (let i = 0; i < 2; i++) await new Promise((resolve) => setTimeout(resolve, 0));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});

describe("deadline()", () => {
  it("aborts after its time with the given reason and says it expired", async () => {
    const dl = deadline(1, { reason: () => new Error("too slow") });
    await new Promise<void>((resolve) => dl.signal.addEventListener("abort", () => resolve()));
    assert.equal(dl.expired, true);
    assert.match(String(dl.signal.reason), /too slow/);
    dl.clear();
  });
  it("follows its parent without counting as expired", () => {
    const parent = new AbortController();
    const dl = deadline(60_000, { signal: parent.signal });
    parent.abort(new Error("caller gave up"));
    assert.equal(dl.signal.aborted, true);
    assert.equal(dl.expired, false);
    assert.match(String(dl.signal.reason), /caller gave up/);
    dl.clear();
  });
  it("starts aborted under a parent that already is", () => {
    const dl = deadline(60_000, { signal: AbortSignal.abort() });
    assert.equal(dl.signal.aborted, true);
    dl.clear();
  });
  it("never fires once cleared", async () => {
    const dl = deadline(1);
    dl.clear();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(dl.signal.aborted, false);
    assert.equal(dl.expired, false);
  });
});
