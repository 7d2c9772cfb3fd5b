// Consistent hashing by rendezvous: stable, shared-nothing, minimal movement.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createStrategy } from "../../src/balancer/create.ts";
import { murmur3 } from "../../src/balancer/hash.ts";
import { assertShares, cand, seeded, tally } from "./_fixtures.ts";

const IP = { kind: "client_ip" } as const;
const enc = new TextEncoder();
const ips = Array.from(
  { length: 10000 },
  (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
);

function owners(
  pool: ReturnType<typeof cand>[],
  s = createStrategy("hash", { hashKey: IP }),
): string[] {
  return ips.map((ip) => s.order(pool, { ip })[0]!.key);
}

function pool(n: number) {
  return Array.from({ length: n }, (_, i) => cand(`10.1.0.${i + 1}:5432`));
}

describe("murmur3", () => {
  it("matches the reference MurmurHash3 x86_32 vectors", () => {
    assert.equal(murmur3(enc.encode(""), 0), 0);
    assert.equal(murmur3(enc.encode(""), 1), 0x514e28b7);
    assert.equal(murmur3(enc.encode("The quick brown fox jumps over the lazy dog"), 0), 0x2e4ff723);
    assert.equal(murmur3(enc.encode("Hello, world!"), 1234), 0xfaf6cdb3);
    assert.equal(murmur3(enc.encode("abc"), 0), 0xb3dd93fa);
  });
});

describe("hash", () => {
  it("sends the same client to the same backend every time", () => {
    const s = createStrategy("hash", { hashKey: IP });
    const p = pool(5);
    for (const ip of ips.slice(0, 200)) {
      const first = s.order(p, { ip })[0]!.key;
      for (let i = 0; i < 3; i++) assert.equal(s.order(p, { ip })[0]!.key, first);
    }
  });

  it("two independent instances agree, whatever order the candidates come in", () => {
    const p = pool(7);
    const a = owners(p, createStrategy("hash", { hashKey: IP }));
    const shuffled = [...p].reverse();
    const b = owners(shuffled, createStrategy("hash", { hashKey: IP }));
    assert.deepEqual(a, b);
  });

  it("returns the whole ranking, and failover goes to the next-ranked backend", () => {
    const s = createStrategy("hash", { hashKey: IP });
    const p = pool(5);
    for (const ip of ips.slice(0, 500)) {
      const full = s.order(p, { ip }).map((c) => c.key);
      const without = s.order(p.filter((c) => c.key !== full[0]), { ip }).map((c) => c.key);
      assert.deepEqual(without, full.slice(1));
    }
  });

  it("spreads clients evenly over equal backends", () => {
    const counts = tally(
      ips.length,
      (() => {
        let i = 0;
        const s = createStrategy("hash", { hashKey: IP });
        const p = pool(4);
        return () => s.order(p, { ip: ips[i++]! })[0]!.key;
      })(),
    );
    assertShares(counts, Object.fromEntries(pool(4).map((c) => [c.key, 1])), 0.02);
  });

  it("spreads clients in proportion to weight", () => {
    const p = [cand("a", { weight: 1 }), cand("b", { weight: 2 }), cand("c", { weight: 5 })];
    const counts = tally(
      ips.length,
      (() => {
        let i = 0;
        const s = createStrategy("hash", { hashKey: IP });
        return () => s.order(p, { ip: ips[i++]! })[0]!.key;
      })(),
    );
    assertShares(counts, { a: 1, b: 2, c: 5 }, 0.02);
  });

  it("removing one of N backends moves only that backend's clients (about 1/N)", () => {
    for (const n of [3, 5, 10]) {
      const p = pool(n);
      const before = owners(p);
      const gone = p[1]!.key;
      const after = owners(p.filter((c) => c.key !== gone));
      let moved = 0;
      for (let i = 0; i < ips.length; i++) {
        if (before[i] !== after[i]) {
          moved++;
          assert.equal(before[i], gone, "a client of a remaining backend moved");
        }
      }
      assert.ok(moved / ips.length <= 1 / n + 0.03, `n=${n}: moved ${moved}`);
    }
  });

  it("adding a backend moves clients only onto the new one", () => {
    const p = pool(4);
    const before = owners(p);
    const added = [...p, cand("10.1.0.99:5432")];
    const after = owners(added);
    let moved = 0;
    for (let i = 0; i < ips.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        assert.equal(after[i], "10.1.0.99:5432");
      }
    }
    assert.ok(moved / ips.length <= 1 / 5 + 0.03, `moved ${moved}`);
  });

  it("hashes the first-bytes slice when the key is first_bytes", () => {
    const s = createStrategy("hash", { hashKey: { kind: "first_bytes", start: 0, end: 4 } });
    const p = pool(8);
    // The same bytes from different IPs: same backend.
    const key = enc.encode("user");
    const picks = new Set(ips.slice(0, 100).map((ip) => s.order(p, { ip, keyBytes: key })[0]!.key));
    assert.equal(picks.size, 1);
    // Different bytes from one IP: spread.
    const spread = new Set(
      Array.from(
        { length: 200 },
        (_, i) => s.order(p, { ip: "10.0.0.1", keyBytes: enc.encode(`k${i}`) })[0]!.key,
      ),
    );
    assert.ok(spread.size >= 6, `only ${spread.size} backends used`);
  });

  it("falls back to the client IP when the first-bytes slice is empty", () => {
    const fb = createStrategy("hash", { hashKey: { kind: "first_bytes", start: 0, end: 4 } });
    const ip = createStrategy("hash", { hashKey: IP });
    const p = pool(6);
    for (const a of ips.slice(0, 100)) {
      assert.equal(
        fb.order(p, { ip: a, keyBytes: new Uint8Array(0) })[0]!.key,
        ip.order(p, { ip: a })[0]!.key,
      );
    }
  });

  it("ranks weight 0 last", () => {
    const s = createStrategy("hash", { hashKey: IP });
    const p = [cand("z", { weight: 0 }), ...pool(3)];
    for (const a of ips.slice(0, 300)) assert.equal(s.order(p, { ip: a }).at(-1)!.key, "z");
  });

  it("property: the ranking is a permutation independent of input order", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 8 }),
        fc.string(),
        fc.integer({ min: 0, max: 1000 }),
        (keys, ip, seed) => {
          const p = keys.map((k) => cand(k, { weight: 1 + (k.length % 3) }));
          const r = seeded(seed);
          const shuffled = [...p].sort(() => r() - 0.5);
          const a = createStrategy("hash", { hashKey: IP }).order(p, { ip }).map((c) => c.key);
          const b = createStrategy("hash", { hashKey: IP }).order(shuffled, { ip }).map((c) =>
            c.key
          );
          assert.deepEqual(a, b);
          assert.deepEqual([...a].sort(), [...keys].sort());
        },
      ),
      { numRuns: 200 },
    );
  });
});
