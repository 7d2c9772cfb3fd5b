// A fake EngineControl built from plain, mutable ListenerView objects: admin only reads views and
// calls setDrain, so tests change counters in place and watch the API, metrics and dashboard follow.
import type {
  BackendCounters,
  BackendView,
  EngineControl,
  HealthState,
  ListenerCounters,
  ListenerState,
  ListenerView,
  SniView,
} from "../../src/proxy/types.ts";
import type { ListenerPlan } from "../../src/routing/types.ts";
import type { ProviderStatus } from "../../src/providers/types.ts";

export interface FakeBackend {
  key: string;
  address: string;
  via?: string;
  service: string;
  weight: number;
  tier: number;
  health: HealthState;
  drain: boolean;
  drainOverride: boolean;
  ejected: boolean;
  /** drain set by routing (kept apart so undrain restores it) */
  routingDrain: boolean;
  counters: BackendCounters;
}

export interface FakeListener {
  key: string;
  label: string;
  host: string;
  port: number;
  state: ListenerState;
  error?: string;
  services: string[];
  balance: ListenerView["balance"];
  plan: ListenerPlan;
  counters: ListenerCounters;
  backends: FakeBackend[];
  sni?: SniView;
}

export function fakeBackend(address: string, o: Partial<FakeBackend> = {}): FakeBackend {
  return {
    key: o.via ? `${o.via} ➤ ${address}` : address,
    address,
    service: "db",
    weight: 1,
    tier: 0,
    health: "unknown",
    drain: false,
    drainOverride: false,
    ejected: false,
    routingDrain: o.drain ?? false,
    counters: { active: 0, total: 0, connectFailures: 0, bytesDown: 0, bytesUp: 0 },
    ...o,
  };
}

export function fakeListener(
  key: string,
  backends: FakeBackend[],
  o: Partial<FakeListener> = {},
): FakeListener {
  const m = /^(?:\[(.+)\]|(.+)):(\d+)$/.exec(key);
  const host = m?.[1] ?? m?.[2] ?? "127.0.0.1";
  const port = Number(m?.[3] ?? 0);
  return {
    key,
    label: "local",
    host,
    port,
    state: "listening",
    services: ["db"],
    balance: "round_robin",
    // Admin never reads the plan; the engine's own tests cover it.
    plan: {} as ListenerPlan,
    counters: { active: 0, total: 0, refused: 0, bytesUp: 0, bytesDown: 0 },
    backends,
    ...o,
  };
}

export interface FakeEngine extends EngineControl {
  readonly state: FakeListener[];
  readonly drainCalls: { listener: string; backend: string; drain: boolean }[];
}

export function createFakeEngine(listeners: FakeListener[]): FakeEngine {
  const drainCalls: FakeEngine["drainCalls"] = [];
  return {
    state: listeners,
    drainCalls,
    listeners(): readonly ListenerView[] {
      return [...listeners].sort((a, b) => (a.key < b.key ? -1 : 1)) as readonly ListenerView[];
    },
    setDrain(listener, backend, drain) {
      drainCalls.push({ listener, backend, drain });
      const l = listeners.find((x) => x.key === listener);
      const b = l?.backends.find((x) => x.address === backend || x.key === backend);
      if (!b) return false;
      b.drainOverride = drain;
      b.drain = drain || b.routingDrain;
      return true;
    },
  };
}

/** A BackendView type check: the fake's objects satisfy the contract. */
export const _typeCheck: (b: FakeBackend) => BackendView = (b) => b;

export function fakeProvider(o: Partial<ProviderStatus> & { name: string }): ProviderStatus {
  return { kind: "file", state: "ok", services: 1, ...o };
}
