// Shared helpers of the load-aware strategies (least_conn, p2c): load per unit of weight and
// a seeded shuffle for unbiased tie-breaking.
import type { Candidate } from "./types.ts";

/**
 * Active connections per unit of weight, the one measure of load of least_conn and p2c: under
 * steady load actives settle proportional to weight. Weight 0 is a last resort. Strategies
 * differ only in how they break ties (least_conn: heavier first; p2c: the weighted draw).
 */
export function load(c: Candidate): number {
  return c.weight > 0 ? c.active / c.weight : Infinity;
}

/** Fisher-Yates with the injected random source. */
export function shuffle<C>(list: readonly C[], random: () => number): C[] {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}
