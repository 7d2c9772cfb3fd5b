// random: a weighted random order (Efraimidis-Spirakis: each candidate draws an exponential key
// scaled by 1/weight, smallest first), so the first pick is proportional to weight and the
// failover order is a weighted draw without replacement. Weight 0 goes last, shuffled.
import type { Candidate, ClientInfo, Strategy, StrategyDeps } from "./types.ts";
import { shuffle } from "./load.ts";

/** A weighted random order of `candidates` (weight 0 last). */
export function weightedShuffle<C extends Candidate>(
  candidates: readonly C[],
  random: () => number,
): C[] {
  const keyed: { c: C; k: number }[] = [];
  const zero: C[] = [];
  for (const c of candidates) {
    if (c.weight > 0) keyed.push({ c, k: -Math.log(1 - random()) / c.weight });
    else zero.push(c);
  }
  keyed.sort((a, b) => a.k - b.k);
  return [...keyed.map((x) => x.c), ...shuffle(zero, random)];
}

export function createRandom(deps: StrategyDeps): Strategy {
  return {
    name: "random",
    order<C extends Candidate>(candidates: readonly C[], _client: ClientInfo): C[] {
      return weightedShuffle(candidates, deps.random);
    },
  };
}
