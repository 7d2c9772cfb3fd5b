// selectBackends: which backends a new connection tries, in order. Drained and disabled never;
// the lowest tier with an eligible (healthy, undrained) backend first, then the higher tiers
// (so connect_attempts fails over when a whole tier refuses). With no eligible backend at all
// the pool fails open: its undrained but unhealthy backends are tried rather than refusing the
// client outright (disabled ones stay out), because health checks can be wrong (a check path broken while the service
// still serves) and a refused connection is certain failure. The caller logs `failOpen`.
import type { Candidate, ClientInfo, Strategy } from "./types.ts";

/** Groups by tier ascending and lets the strategy order each tier. */
function byTier<C extends Candidate>(
  list: readonly C[],
  strategy: Strategy,
  client: ClientInfo,
): C[] {
  // The common pool has one tier: no grouping, no sort (this runs for every connection).
  const first = list[0]?.tier;
  let oneTier = true;
  for (let i = 1; i < list.length && oneTier; i++) oneTier = list[i]!.tier === first;
  if (oneTier) return strategy.order(list, client);
  const tiers = new Map<number, C[]>();
  for (const c of list) {
    const t = tiers.get(c.tier);
    if (t) t.push(c);
    else tiers.set(c.tier, [c]);
  }
  const out: C[] = [];
  for (const tier of [...tiers.keys()].sort((a, b) => a - b)) {
    out.push(...strategy.order(tiers.get(tier)!, client));
  }
  return out;
}

export function selectBackends<C extends Candidate>(
  candidates: readonly C[],
  strategy: Strategy,
  client: ClientInfo,
): { order: C[]; failOpen: boolean } {
  // The common case, every backend healthy and undrained: the pool as it is, no copies.
  let all = true;
  for (let i = 0; i < candidates.length && all; i++) {
    all = candidates[i]!.healthy && !candidates[i]!.drained && !candidates[i]!.disabled;
  }
  if (all && candidates.length > 0) {
    return { order: byTier(candidates, strategy, client), failOpen: false };
  }
  const eligible: C[] = [];
  const unhealthy: C[] = [];
  for (const c of candidates) {
    if (c.drained || c.disabled) continue;
    if (c.healthy) eligible.push(c);
    else unhealthy.push(c);
  }
  if (eligible.length > 0) return { order: byTier(eligible, strategy, client), failOpen: false };
  if (unhealthy.length === 0) return { order: [], failOpen: false };
  return { order: byTier(unhealthy, strategy, client), failOpen: true };
}
