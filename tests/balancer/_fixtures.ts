// Shared fixtures of the balancer tests: candidates and a seeded random source.
import type { Candidate } from "../../src/balancer/types.ts";

export interface TestCandidate extends Candidate {
  active: number;
}

export function cand(key: string, o: Partial<Omit<Candidate, "key">> = {}): TestCandidate {
  return {
    key,
    weight: o.weight ?? 1,
    tier: o.tier ?? 0,
    active: o.active ?? 0,
    healthy: o.healthy ?? true,
    drained: o.drained ?? false,
    ...(o.disabled !== undefined ? { disabled: o.disabled } : {}),
    ...(o.hashId !== undefined ? { hashId: o.hashId } : {}),
  };
}

/** mulberry32: a small seeded PRNG, so distribution tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many times each key comes first over `n` calls of `pick`. */
export function tally(n: number, pick: () => string): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = pick();
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** Asserts each key's share of `total` is within `tol` (absolute) of its expected share. */
export function assertShares(
  counts: Map<string, number>,
  expected: Record<string, number>,
  tol: number,
): void {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const wsum = Object.values(expected).reduce((a, b) => a + b, 0);
  for (const [k, w] of Object.entries(expected)) {
    const share = (counts.get(k) ?? 0) / total;
    const want = w / wsum;
    if (Math.abs(share - want) > tol) {
      throw new Error(`share of ${k} is ${share.toFixed(4)}, expected ${want.toFixed(4)} ± ${tol}`);
    }
  }
}
