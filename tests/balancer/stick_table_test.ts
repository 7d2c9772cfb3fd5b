// The stick table: expiry by idle time on an injected clock, LRU bound, restore of saved entries.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStickTable } from "../../src/balancer/stick_table.ts";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("createStickTable()", () => {
  it("keeps a key while it is used and forgets it after `expiration` idle", () => {
    const c = clock();
    const t = createStickTable({ now: c.now });
    t.set("k", "10.0.0.1", 10_000);
    c.advance(9_000);
    assert.equal(t.get("k"), "10.0.0.1"); // a use restarts the idle time
    c.advance(9_000);
    assert.equal(t.get("k"), "10.0.0.1");
    c.advance(10_000);
    assert.equal(t.get("k"), undefined);
    assert.equal(t.size, 0);
  });

  it("touch() restarts the idle time; entries() drops the expired", () => {
    const c = clock();
    const t = createStickTable({ now: c.now });
    t.set("a", "x", 1000);
    t.set("b", "y", 1000);
    c.advance(900);
    t.touch("a");
    c.advance(200);
    assert.deepEqual(t.entries().map((e) => e.key), ["a"]);
  });

  it("evicts the least recently used past maxEntries", () => {
    const t = createStickTable({ maxEntries: 3, now: clock().now });
    for (const k of ["a", "b", "c"]) t.set(k, k, 60_000);
    t.get("a"); // a is now the most recent
    t.set("d", "d", 60_000);
    assert.deepEqual(t.entries().map((e) => e.key).sort(), ["a", "c", "d"]);
  });

  it("restores saved entries, skipping expired ones, and delete/clear work", () => {
    const c = clock();
    const a = createStickTable({ now: c.now });
    a.set("k1", "h1", 5000);
    a.set("k2", "h2", 60_000);
    const saved = JSON.parse(JSON.stringify(a.entries()));
    c.advance(6000);
    const b = createStickTable({ now: c.now });
    assert.equal(b.restore(saved), 1);
    assert.equal(b.get("k1"), undefined);
    assert.equal(b.get("k2"), "h2");
    assert.equal(b.delete("k2"), true);
    assert.equal(b.delete("k2"), false);
    b.set("x", "y", 1000);
    assert.equal(b.clear(), 1);
  });
});
