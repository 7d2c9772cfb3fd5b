// The balancer contract: a strategy orders the candidates a connection should try.
// Pure: clock and randomness come in through StrategyDeps.
import type { BalanceName, HashKey } from "../routing/types.ts";

/** One backend as the balancer sees it. */
export interface Candidate {
  /** Stable identity (BackendPlan.key) */
  readonly key: string;
  readonly weight: number;
  readonly tier: number;
  /** Connections open right now */
  readonly active: number;
  /** Passed its health checks (or has none) and is not passively ejected */
  readonly healthy: boolean;
  /** Drained by routing or at runtime: never takes a new connection */
  readonly drained: boolean;
  /** Disabled by routing or a failed check: takes no connection at all, not even fail-open */
  readonly disabled?: boolean;
  /** What the hash strategy ranks by (the backend's group); `key` when absent */
  readonly hashId?: string | undefined;
}

export interface ClientInfo {
  /** Normalised client IP (after an accepted PROXY header) */
  readonly ip: string;
  /** The slice of the first bytes, for hash_key = "first_bytes:..." (or client_ip+first_bytes) */
  readonly keyBytes?: Uint8Array;
}

export interface Strategy {
  readonly name: BalanceName;
  /** All of `candidates` worth trying, best first; empty when none. May keep state (rr cursor). */
  order<C extends Candidate>(candidates: readonly C[], client: ClientInfo): C[];
}

export interface StrategyDeps {
  /** [0, 1) */
  readonly random: () => number;
}

export interface StrategyOptions {
  readonly hashKey: HashKey;
}
