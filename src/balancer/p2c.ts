// p2c: power of two choices. Two candidates are drawn at random (weighted by weight) and the
// less loaded one (active connections per unit of weight) goes first, the other second; the
// rest follow least loaded first, as failover. Cheap, and it avoids herding onto the single
// least loaded backend that several sluice instances would all pick at once.
import type { Candidate, ClientInfo, Strategy, StrategyDeps } from "./types.ts";
import { weightedShuffle } from "./random.ts";
import { load } from "./load.ts";

export function createP2c(deps: StrategyDeps): Strategy {
  return {
    name: "p2c",
    order<C extends Candidate>(candidates: readonly C[], _client: ClientInfo): C[] {
      const drawn = weightedShuffle(candidates, deps.random);
      if (drawn.length < 2) return drawn;
      const [a, b] = drawn as [C, C];
      // Equal load: keep the draw order, so idle pools are shared in proportion to weight.
      const pair = load(b) < load(a) ? [b, a] : [a, b];
      const rest = drawn.slice(2)
        .map((c) => ({ c, l: load(c) }))
        .sort((x, y) => x.l === y.l ? 0 : x.l < y.l ? -1 : 1)
        .map((x) => x.c);
      return [...pair, ...rest];
    },
  };
}
