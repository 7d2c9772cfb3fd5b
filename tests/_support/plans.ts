// Builds routing tables directly (without documents) for engine tests.
import type {
  BackendPlan,
  ListenerPlan,
  RoutingTable,
  ServiceSettings,
} from "../../src/routing/types.ts";

export const SETTINGS: ServiceSettings = {
  balance: "round_robin",
  hashKey: { kind: "client_ip" },
  connectTimeoutMs: 2000,
  connectAttempts: 3,
  connectBudgetMs: 15_000,
  idleTimeoutMs: 0,
  maxConnections: 0,
  proxyProtocol: "",
  health: undefined,
};

export function backend(port: number, o: Partial<BackendPlan> = {}): BackendPlan {
  const address = `127.0.0.1:${port}`;
  return {
    key: address,
    address,
    host: "127.0.0.1",
    port,
    weight: 1,
    tier: 0,
    drain: false,
    service: "svc",
    ...o,
  };
}

export function listener(
  port: number,
  backends: BackendPlan[],
  settings: Partial<ServiceSettings> = {},
): ListenerPlan {
  return {
    key: `127.0.0.1:${port}`,
    label: "local",
    host: "127.0.0.1",
    port,
    services: ["svc"],
    settings: { ...SETTINGS, ...settings },
    accept: { acceptProxyProtocol: false, trustedProxies: [] },
    backends,
  };
}

export function table(...plans: ListenerPlan[]): RoutingTable {
  return { listeners: new Map(plans.map((p) => [p.key, p])) };
}
