// round_robin: each call starts one position further along the candidate list, one rotation
// per tier so that the per-tier calls of selectBackends do not advance each other's cursor.
import type { Candidate, ClientInfo, Strategy } from "./types.ts";

/** Rotates `list` so that it starts at index `start % length`. */
function rotate<C>(list: readonly C[], start: number): C[] {
  const n = list.length;
  if (n === 0) return [];
  const s = ((start % n) + n) % n;
  // One array, not two slices and their concatenation: this runs for every connection.
  const out = new Array<C>(n);
  for (let i = 0; i < n; i++) out[i] = list[(s + i) % n]!;
  return out;
}

/** A cursor per tier: the candidates of one order() call normally share a tier. */
function createTierCursor(): (candidates: readonly Candidate[]) => number {
  const cursors = new Map<number, number>();
  return (candidates) => {
    const tier = candidates[0]?.tier ?? 0;
    const c = cursors.get(tier) ?? 0;
    // Stays a small integer: wraps long before it could lose precision.
    cursors.set(tier, (c + 1) % 0x40000000);
    return c;
  };
}

export function createRoundRobin(): Strategy {
  const next = createTierCursor();
  return {
    name: "round_robin",
    order<C extends Candidate>(candidates: readonly C[], _client: ClientInfo): C[] {
      if (candidates.length === 0) return [];
      return rotate(candidates, next(candidates));
    },
  };
}
