// least_conn: fewest active connections per unit of weight first; a tie goes to the heavier
// backend, then at random (not always the first listed, which would pile every burst onto one).
import type { Candidate, ClientInfo, Strategy, StrategyDeps } from "./types.ts";
import { load, shuffle } from "./load.ts";

export function createLeastConn(deps: StrategyDeps): Strategy {
  return {
    name: "least_conn",
    order<C extends Candidate>(candidates: readonly C[], _client: ClientInfo): C[] {
      // Shuffle, then a stable sort: equal loads and weights keep their random order.
      return shuffle(candidates, deps.random)
        .map((c) => ({ c, l: load(c) }))
        .sort((a, b) => a.l !== b.l ? (a.l < b.l ? -1 : 1) : b.c.weight - a.c.weight)
        .map((x) => x.c);
    },
  };
}
