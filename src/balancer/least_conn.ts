// least_conn: fewest active connections per unit of weight first; ties are broken at random
// (not always the first listed, which would pile every burst onto one backend).
import type { Candidate, ClientInfo, Strategy, StrategyDeps } from "./types.ts";
import { load, shuffle } from "./load.ts";

export function createLeastConn(deps: StrategyDeps): Strategy {
  return {
    name: "least_conn",
    order<C extends Candidate>(candidates: readonly C[], _client: ClientInfo): C[] {
      // Shuffle, then a stable sort: equal loads keep their random order.
      return shuffle(candidates, deps.random)
        .map((c) => ({ c, l: load(c) }))
        .sort((a, b) => a.l === b.l ? 0 : a.l < b.l ? -1 : 1)
        .map((x) => x.c);
    },
  };
}
