// The engine's and providers' read-only views turned into the admin API's JSON shapes.
// Byte directions as everywhere: bytes_up = client to backend, bytes_down = backend to client.
import type { BackendView, ListenerView } from "../proxy/types.ts";
import type { ProviderStatus } from "../providers/types.ts";
import type { Backend, Listener, Provider } from "./schemas.ts";

function backendJson(b: BackendView): Backend {
  const c = b.counters;
  return {
    key: b.key,
    address: b.address,
    via: b.via ?? null,
    service: b.service,
    weight: b.weight,
    tier: b.tier,
    health: b.health,
    drain: b.drain,
    drain_override: b.drainOverride,
    ...(b.disabled ? { disabled: true } : {}),
    ejected: b.ejected,
    active_connections: c.active,
    total_connections: c.total,
    connect_failures: c.connectFailures,
    bytes_up: c.bytesUp,
    bytes_down: c.bytesDown,
  };
}

export function listenerJson(l: ListenerView): Listener {
  const c = l.counters;
  return {
    address: l.key,
    label: l.label,
    host: l.host,
    port: l.port,
    state: l.state,
    error: l.error ?? null,
    services: [...l.services],
    balance: l.balance,
    active_connections: c.active,
    total_connections: c.total,
    refused_connections: c.refused,
    bytes_up: c.bytesUp,
    bytes_down: c.bytesDown,
    backends: l.backends.map(backendJson),
    sni: l.sni
      ? {
        timeout_ms: l.sni.timeoutMs,
        routes: l.sni.routes.map((r) => ({
          service: r.service,
          names: [...r.names],
          active_connections: r.active,
          total_connections: r.total,
        })),
        unmatched_connections: l.sni.unmatched,
        timeout_connections: l.sni.timeouts,
      }
      : null,
  };
}

export function providerJson(p: ProviderStatus): Provider {
  return {
    name: p.name,
    kind: p.kind,
    state: p.state,
    last_update: p.lastUpdate ?? null,
    last_error: p.lastError ?? null,
    index: p.index ?? null,
    services: p.services,
    updates: p.updates ?? null,
    errors: p.errors ?? null,
  };
}
