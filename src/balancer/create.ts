// createStrategy: the balancing strategy for a listener's `balance` setting.
// Weights: round_robin ignores them; the others share traffic in proportion to weight, and
// weight 0 makes a backend a last resort within its tier (tried only after the weighted ones).
import type { BalanceName } from "../routing/types.ts";
import type { Strategy, StrategyDeps, StrategyOptions } from "./types.ts";
import { createRoundRobin } from "./round_robin.ts";
import { createWeighted } from "./weighted.ts";
import { createLeastConn } from "./least_conn.ts";
import { createRandom } from "./random.ts";
import { createP2c } from "./p2c.ts";
import { createHash } from "./hash.ts";

export function createStrategy(
  name: BalanceName,
  o: StrategyOptions,
  deps: Partial<StrategyDeps> = {},
): Strategy {
  const d: StrategyDeps = { random: deps.random ?? Math.random };
  switch (name) {
    case "round_robin":
      return createRoundRobin();
    case "weighted":
      return createWeighted();
    case "least_conn":
      return createLeastConn(d);
    case "random":
      return createRandom(d);
    case "p2c":
      return createP2c(d);
    case "hash":
      return createHash({ hashKey: o.hashKey });
  }
}
