// selectBackends: drain, health, tiers and failing open.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { selectBackends } from "../../src/balancer/select.ts";
import { createStrategy } from "../../src/balancer/create.ts";
import { cand } from "./_fixtures.ts";

const client = { ip: "192.0.2.7" };

/** A fresh round robin starts at the first of each tier, so the order within a tier is as listed. */
function select(pool: ReturnType<typeof cand>[]) {
  const s = createStrategy("round_robin", { hashKey: { kind: "client_ip" } });
  const r = selectBackends(pool, s, client);
  return { keys: r.order.map((c) => c.key), failOpen: r.failOpen };
}

describe("selectBackends", () => {
  const cases: {
    name: string;
    pool: ReturnType<typeof cand>[];
    keys: string[];
    failOpen: boolean;
  }[] = [
    {
      name: "all healthy in one tier: all, in strategy order",
      pool: [cand("a"), cand("b")],
      keys: ["a", "b"],
      failOpen: false,
    },
    {
      name: "a drained backend is never offered",
      pool: [cand("a", { drained: true }), cand("b")],
      keys: ["b"],
      failOpen: false,
    },
    {
      name: "an unhealthy backend is skipped while another is healthy",
      pool: [cand("a", { healthy: false }), cand("b")],
      keys: ["b"],
      failOpen: false,
    },
    {
      name: "the lowest tier goes first, higher tiers follow for failover",
      pool: [cand("t1", { tier: 1 }), cand("t0"), cand("t2", { tier: 2 })],
      keys: ["t0", "t1", "t2"],
      failOpen: false,
    },
    {
      name: "a tier whose backends are all down is passed over",
      pool: [cand("t0", { healthy: false }), cand("t1", { tier: 1 })],
      keys: ["t1"],
      failOpen: false,
    },
    {
      name: "a tier whose backends are all drained is passed over",
      pool: [cand("t0", { drained: true }), cand("t1", { tier: 1 }), cand("t5", { tier: 5 })],
      keys: ["t1", "t5"],
      failOpen: false,
    },
    {
      name: "nothing eligible: fail open to the undrained unhealthy ones, by tier",
      pool: [
        cand("a", { tier: 1, healthy: false }),
        cand("b", { healthy: false }),
        cand("c", { healthy: false, drained: true }),
      ],
      keys: ["b", "a"],
      failOpen: true,
    },
    {
      name: "every backend drained: nothing",
      pool: [cand("a", { drained: true }), cand("b", { drained: true, healthy: false })],
      keys: [],
      failOpen: false,
    },
    { name: "an empty pool: nothing", pool: [], keys: [], failOpen: false },
    {
      name: "negative tiers sort numerically",
      pool: [cand("p", { tier: 10 }), cand("n", { tier: -1 }), cand("z", { tier: 2 })],
      keys: ["n", "z", "p"],
      failOpen: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(select(c.pool), { keys: c.keys, failOpen: c.failOpen }));
  }

  it("fails back to the lower tier as soon as it has a healthy backend again", () => {
    const s = createStrategy("round_robin", { hashKey: { kind: "client_ip" } });
    const t0 = cand("t0", { healthy: false });
    const t1 = cand("t1", { tier: 1 });
    const pool = [t0, t1];
    assert.equal(selectBackends(pool, s, client).order[0]!.key, "t1");
    (t0 as { healthy: boolean }).healthy = true;
    assert.equal(selectBackends(pool, s, client).order[0]!.key, "t0");
  });

  it("rotates within the first tier across connections", () => {
    const s = createStrategy("round_robin", { hashKey: { kind: "client_ip" } });
    const pool = [
      cand("a"),
      cand("b"),
      cand("x", { tier: 1 }),
      cand("y", { tier: 1 }),
      cand("z", { tier: 1 }),
    ];
    const firsts = Array.from({ length: 6 }, () => selectBackends(pool, s, client).order[0]!.key);
    assert.deepEqual(firsts, ["a", "b", "a", "b", "a", "b"]);
  });

  it("returns the candidates themselves, not copies", () => {
    const pool = [cand("a")];
    assert.equal(select(pool).keys[0], "a");
    const s = createStrategy("least_conn", { hashKey: { kind: "client_ip" } });
    assert.equal(selectBackends(pool, s, client).order[0], pool[0]);
  });
});
