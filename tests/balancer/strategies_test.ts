// Distribution of every strategy over thousands of simulated picks, randomness injected.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStrategy } from "../../src/balancer/create.ts";
import type { BalanceName } from "../../src/routing/types.ts";
import { assertShares, cand, seeded, tally } from "./_fixtures.ts";

const IP = { kind: "client_ip" } as const;
const client = { ip: "192.0.2.1" };

describe("createStrategy", () => {
  it("returns a strategy named after every balance setting", () => {
    const names: BalanceName[] = ["round_robin", "weighted", "least_conn", "random", "p2c", "hash"];
    for (const n of names) assert.equal(createStrategy(n, { hashKey: IP }).name, n);
  });

  it("every strategy returns each candidate exactly once, and nothing for an empty pool", () => {
    const pool = [
      cand("a", { weight: 3 }),
      cand("b", { weight: 0 }),
      cand("c", { active: 4 }),
      cand("d", { weight: 2 }),
    ];
    for (const n of ["round_robin", "weighted", "least_conn", "random", "p2c", "hash"] as const) {
      const s = createStrategy(n, { hashKey: IP }, { random: seeded(1) });
      for (let i = 0; i < 50; i++) {
        const o = s.order(pool, { ip: `10.0.0.${i}` });
        assert.deepEqual(o.map((c) => c.key).sort(), ["a", "b", "c", "d"], n);
      }
      assert.deepEqual(s.order([], client), [], n);
    }
  });
});

describe("round_robin", () => {
  it("cycles through the backends in turn, ignoring weights", () => {
    const s = createStrategy("round_robin", { hashKey: IP });
    const pool = [cand("a", { weight: 5 }), cand("b"), cand("c")];
    const firsts = Array.from({ length: 9 }, () => s.order(pool, client)[0]!.key);
    assert.deepEqual(firsts, ["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
  });

  it("orders the rest after the pick, for failover", () => {
    const s = createStrategy("round_robin", { hashKey: IP });
    const pool = [cand("a"), cand("b"), cand("c")];
    s.order(pool, client);
    assert.deepEqual(s.order(pool, client).map((c) => c.key), ["b", "c", "a"]);
  });

  it("keeps one rotation per tier, so ordering another tier does not skip backends", () => {
    const s = createStrategy("round_robin", { hashKey: IP });
    const t0 = [cand("a"), cand("b")];
    const t1 = [cand("x", { tier: 1 }), cand("y", { tier: 1 }), cand("z", { tier: 1 })];
    const firsts: string[] = [];
    for (let i = 0; i < 4; i++) {
      firsts.push(s.order(t0, client)[0]!.key);
      s.order(t1, client);
    }
    assert.deepEqual(firsts, ["a", "b", "a", "b"]);
  });
});

describe("weighted (smooth weighted round robin)", () => {
  it("gives each backend exactly its weight's share over a full cycle", () => {
    const s = createStrategy("weighted", { hashKey: IP });
    const pool = [cand("a", { weight: 5 }), cand("b", { weight: 2 }), cand("c", { weight: 1 })];
    const counts = tally(8000, () => s.order(pool, client)[0]!.key);
    assert.deepEqual(Object.fromEntries(counts), { a: 5000, b: 2000, c: 1000 });
  });

  it("interleaves instead of sending bursts (5:1:1 is a a b a c a a)", () => {
    const s = createStrategy("weighted", { hashKey: IP });
    const pool = [cand("a", { weight: 5 }), cand("b", { weight: 1 }), cand("c", { weight: 1 })];
    const seq = Array.from({ length: 7 }, () => s.order(pool, client)[0]!.key).join("");
    assert.equal(seq, "aabacaa");
  });

  it("never sends a backend more consecutive picks than its weight allows", () => {
    const s = createStrategy("weighted", { hashKey: IP });
    const pool = [
      cand("a", { weight: 3 }),
      cand("b", { weight: 3 }),
      cand("c", { weight: 2 }),
      cand("d", { weight: 1 }),
    ];
    let run = 0;
    let prev = "";
    let longest = 0;
    for (let i = 0; i < 9000; i++) {
      const k = s.order(pool, client)[0]!.key;
      run = k === prev ? run + 1 : 1;
      prev = k;
      longest = Math.max(longest, run);
    }
    // Plain weighted round robin would give runs of 3; smooth never repeats here.
    assert.equal(longest, 1);
  });

  it("puts weight 0 last and never first while a weighted backend exists", () => {
    const s = createStrategy("weighted", { hashKey: IP });
    const pool = [cand("z", { weight: 0 }), cand("a"), cand("b")];
    for (let i = 0; i < 100; i++) assert.equal(s.order(pool, client).at(-1)!.key, "z");
  });
});

describe("random", () => {
  it("picks in proportion to weight", () => {
    const s = createStrategy("random", { hashKey: IP }, { random: seeded(7) });
    const pool = [cand("a", { weight: 1 }), cand("b", { weight: 2 }), cand("c", { weight: 5 })];
    assertShares(tally(20000, () => s.order(pool, client)[0]!.key), { a: 1, b: 2, c: 5 }, 0.015);
  });

  it("is uniform with equal weights", () => {
    const s = createStrategy("random", { hashKey: IP }, { random: seeded(8) });
    const pool = [cand("a"), cand("b"), cand("c"), cand("d")];
    assertShares(
      tally(20000, () => s.order(pool, client)[0]!.key),
      { a: 1, b: 1, c: 1, d: 1 },
      0.015,
    );
  });

  it("follows the injected random source", () => {
    const pool = [cand("a"), cand("b"), cand("c")];
    const one = createStrategy("random", { hashKey: IP }, { random: seeded(42) });
    const two = createStrategy("random", { hashKey: IP }, { random: seeded(42) });
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(one.order(pool, client), two.order(pool, client));
    }
  });
});

describe("least_conn", () => {
  it("puts the backend with the fewest connections first", () => {
    const s = createStrategy("least_conn", { hashKey: IP }, { random: seeded(3) });
    const pool = [cand("a", { active: 5 }), cand("b", { active: 1 }), cand("c", { active: 3 })];
    assert.deepEqual(s.order(pool, client).map((c) => c.key), ["b", "c", "a"]);
  });

  it("breaks ties at random rather than always taking the first", () => {
    const s = createStrategy("least_conn", { hashKey: IP }, { random: seeded(4) });
    const pool = [cand("busy", { active: 9 }), cand("a"), cand("b"), cand("c")];
    const counts = tally(9000, () => s.order(pool, client)[0]!.key);
    assert.equal(counts.get("busy"), undefined);
    assertShares(counts, { a: 1, b: 1, c: 1 }, 0.02);
  });

  it("spreads a burst of long connections evenly when each pick is counted", () => {
    const s = createStrategy("least_conn", { hashKey: IP }, { random: seeded(5) });
    const pool = [cand("a", { active: 10 }), cand("b"), cand("c")];
    for (let i = 0; i < 20; i++) s.order(pool, client)[0]!.active++;
    assert.deepEqual(pool.map((c) => c.active), [10, 10, 10]);
  });

  it("weighs connections by weight", () => {
    const s = createStrategy("least_conn", { hashKey: IP }, { random: seeded(6) });
    const pool = [cand("a", { weight: 3 }), cand("b", { weight: 1 })];
    for (let i = 0; i < 400; i++) s.order(pool, client)[0]!.active++;
    assert.deepEqual(pool.map((c) => c.active), [300, 100]);
  });
});

describe("p2c", () => {
  it("never sends to the busiest of several backends when others are idle", () => {
    const s = createStrategy("p2c", { hashKey: IP }, { random: seeded(9) });
    const pool = [cand("busy", { active: 50 }), cand("a"), cand("b"), cand("c")];
    const counts = tally(6000, () => s.order(pool, client)[0]!.key);
    assert.equal(counts.get("busy"), undefined);
    assertShares(counts, { a: 1, b: 1, c: 1 }, 0.02);
  });

  it("prefers the idle one of two", () => {
    const s = createStrategy("p2c", { hashKey: IP }, { random: seeded(10) });
    const pool = [cand("a", { active: 2 }), cand("b", { active: 1 })];
    for (let i = 0; i < 200; i++) assert.equal(s.order(pool, client)[0]!.key, "b");
  });

  it("shares an idle pool in proportion to weight", () => {
    const s = createStrategy("p2c", { hashKey: IP }, { random: seeded(11) });
    const pool = [cand("a", { weight: 1 }), cand("b", { weight: 3 })];
    assertShares(tally(20000, () => s.order(pool, client)[0]!.key), { a: 1, b: 3 }, 0.015);
  });

  it("keeps a burst of counted connections balanced", () => {
    const s = createStrategy("p2c", { hashKey: IP }, { random: seeded(12) });
    const pool = Array.from({ length: 5 }, (_, i) => cand(`b${i}`));
    for (let i = 0; i < 5000; i++) s.order(pool, client)[0]!.active++;
    const act = pool.map((c) => c.active);
    assert.ok(Math.max(...act) - Math.min(...act) <= 20, `actives ${act.join(",")}`);
  });
});
