// Passive ejection: threshold, doubling capped back-off, retry after it, reset on success.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createEjector } from "../../src/health/passive.ts";

function clock() {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
}

describe("createEjector", () => {
  it("ejects only after `threshold` consecutive failures", () => {
    const c = clock();
    const e = createEjector({ threshold: 3, baseMs: 100, now: c.now });
    e.failure();
    e.failure();
    assert.equal(e.ejected(), false);
    e.failure();
    assert.equal(e.ejected(), true);
    assert.equal(e.until, c.t + 100);
  });

  it("a success in between starts the count again", () => {
    const c = clock();
    const e = createEjector({ threshold: 3, baseMs: 100, now: c.now });
    e.failure();
    e.failure();
    e.success();
    e.failure();
    e.failure();
    assert.equal(e.ejected(), false);
  });

  it("lets the backend be tried again once the back-off has passed", () => {
    const c = clock();
    const e = createEjector({ threshold: 1, baseMs: 100, now: c.now });
    e.failure();
    c.t += 99;
    assert.equal(e.ejected(), true);
    c.t += 1;
    assert.equal(e.ejected(), false);
  });

  it("doubles the back-off for each ejection in a row, up to the cap", () => {
    const c = clock();
    const e = createEjector({ threshold: 2, baseMs: 100, maxMs: 1000, now: c.now });
    e.failure();
    e.failure();
    const lengths: number[] = [];
    for (let i = 0; i < 7; i++) {
      lengths.push(e.until - c.t);
      c.t = e.until;
      assert.equal(e.ejected(), false);
      // One failed retry is enough to eject again.
      e.failure();
      assert.equal(e.ejected(), true);
    }
    assert.deepEqual(lengths, [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.equal(e.ejections, 8);
  });

  it("does not escalate on failures reported while already ejected", () => {
    const c = clock();
    const e = createEjector({ threshold: 1, baseMs: 100, now: c.now });
    e.failure();
    const until = e.until;
    for (let i = 0; i < 10; i++) e.failure();
    assert.equal(e.until, until);
    assert.equal(e.ejections, 1);
  });

  it("a success clears the ejection and the back-off", () => {
    const c = clock();
    const e = createEjector({ threshold: 1, baseMs: 100, now: c.now });
    e.failure();
    c.t = e.until;
    e.failure();
    assert.equal(e.until - c.t, 200);
    e.success();
    assert.equal(e.ejected(), false);
    assert.equal(e.until, 0);
    e.failure();
    assert.equal(e.until - c.t, 100);
  });

  it("has sane defaults: 3 failures, 1s doubling to 30s", () => {
    const c = clock();
    const e = createEjector({ now: c.now });
    e.failure();
    e.failure();
    e.failure();
    assert.equal(e.until - c.t, 1000);
    for (let i = 0; i < 10; i++) {
      c.t = e.until;
      e.failure();
    }
    assert.equal(e.until - c.t, 30_000);
  });
});
