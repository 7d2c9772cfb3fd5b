// createStrategy: the balancing strategy for a listener's `balance` setting.
import type { BalanceName } from "../routing/types.ts";
import type { Strategy, StrategyDeps, StrategyOptions } from "./types.ts";
import { createRoundRobin } from "./round_robin.ts";

export function createStrategy(
  name: BalanceName,
  _o: StrategyOptions,
  deps: Partial<StrategyDeps> = {},
): Strategy {
  const _d: StrategyDeps = { random: deps.random ?? Math.random };
  switch (name) {
    default:
      return createRoundRobin();
  }
}
