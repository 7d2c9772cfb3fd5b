// Merges every provider's services into the listener table: labels resolved, ports checked,
// defaults applied, services on the same listener sharing one pool. Pure and deterministic.
import { isDeepStrictEqual } from "node:util";
import type { Config } from "../config/types.ts";
import { formatHostPort } from "./address.ts";
import { formatProxyUrl } from "./proxy_url.ts";
import type {
  AcceptSettings,
  BackendPlan,
  ListenerPlan,
  ProviderRoutes,
  RouteProblem,
  RoutingTable,
  ServiceSettings,
  ServiceSpec,
  TableConfig,
} from "./types.ts";

export const DEFAULT_ACCEPT: AcceptSettings = { acceptProxyProtocol: false, trustedProxies: [] };

/** The part of the main config the table builder needs. */
export function tableConfigFrom(config: Config): TableConfig {
  return {
    allowed: config.listeners.allowed,
    portMin: config.listeners.portMin,
    portMax: config.listeners.portMax,
    defaults: config.defaults,
  };
}

/** The identity of a backend inside a listener: via + address. */
export function backendKey(address: string, proxy: BackendPlan["proxy"]): string {
  return (proxy ? formatProxyUrl(proxy) + " ➤ " : "") + address;
}

/** A service's settings with `defaults` filling what it leaves unset. */
export function resolveSettings(spec: ServiceSpec, defaults: ServiceSettings): ServiceSettings {
  return { ...defaults, ...spec.settings };
}

function resolveAccept(spec: ServiceSpec): AcceptSettings {
  return { ...DEFAULT_ACCEPT, ...spec.accept };
}

interface Member {
  readonly provider: string;
  readonly spec: ServiceSpec;
  readonly label: string;
}

const SETTING_FIELDS: Record<keyof ServiceSettings, string> = {
  balance: "balance",
  hashKey: "hash_key",
  connectTimeoutMs: "connect_timeout",
  connectAttempts: "connect_attempts",
  idleTimeoutMs: "idle_timeout",
  maxConnections: "max_connections",
  proxyProtocol: "proxy_protocol",
  health: "health",
};
const ACCEPT_FIELDS: Record<keyof AcceptSettings, string> = {
  acceptProxyProtocol: "accept_proxy_protocol",
  trustedProxies: "trusted_proxies",
};

function compareMembers(a: Member, b: Member): number {
  if (a.spec.name !== b.spec.name) return a.spec.name < b.spec.name ? -1 : 1;
  if (a.provider !== b.provider) return a.provider < b.provider ? -1 : 1;
  return 0;
}

function compareListeners(a: ListenerPlan, b: ListenerPlan): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return a.port - b.port;
}

/**
 * Builds the routing table from every provider's services. A listener ref with an unknown label
 * or a port outside [portMin, portMax] (inclusive) is dropped with a problem; the service's other
 * listeners still apply. Listener-level settings come from the service whose name sorts first;
 * each other service whose own settings differ gets a warning.
 */
export function buildTable(
  routes: readonly ProviderRoutes[],
  cfg: TableConfig,
): { table: RoutingTable; problems: RouteProblem[] } {
  const problems: RouteProblem[] = [];
  const groups = new Map<string, { host: string; port: number; members: Member[] }>();
  const labels = Object.keys(cfg.allowed).sort();

  for (const { provider, services } of routes) {
    for (const spec of services) {
      spec.listeners.forEach((ref, i) => {
        const field = spec.listeners.length === 1 ? "listener" : `listeners[${i}]`;
        const ip = Object.hasOwn(cfg.allowed, ref.label) ? cfg.allowed[ref.label] : undefined;
        if (ip === undefined) {
          problems.push({
            service: spec.name,
            field,
            reason: `label "${ref.label}" is not in listeners.allowed (known: ${
              labels.map((l) => `"${l}"`).join(", ") || "none"
            }); listener dropped`,
            source: provider,
          });
          return;
        }
        if (ref.port < cfg.portMin || ref.port > cfg.portMax) {
          problems.push({
            service: spec.name,
            field,
            reason:
              `port ${ref.port} is outside listeners.port_min..port_max (${cfg.portMin}..${cfg.portMax}, inclusive); listener dropped`,
            source: provider,
          });
          return;
        }
        const key = formatHostPort(ip, ref.port);
        let g = groups.get(key);
        if (!g) groups.set(key, g = { host: ip, port: ref.port, members: [] });
        // The same service naming the same address twice (two labels for one IP) counts once.
        if (!g.members.some((m) => m.spec === spec)) {
          g.members.push({ provider, spec, label: ref.label });
        }
      });
    }
  }

  const plans: ListenerPlan[] = [];
  for (const [key, g] of groups) {
    const members = [...g.members].sort(compareMembers);
    const first = members[0] as Member;
    const settings = resolveSettings(first.spec, cfg.defaults);
    const accept = resolveAccept(first.spec);
    const warned = new Set<string>();
    for (const m of members.slice(1)) {
      const mine = resolveSettings(m.spec, cfg.defaults);
      const myAccept = resolveAccept(m.spec);
      const differing = [
        ...(Object.keys(SETTING_FIELDS) as (keyof ServiceSettings)[])
          .filter((k) => !isDeepStrictEqual(mine[k], settings[k]))
          .map((k) => SETTING_FIELDS[k]),
        ...(Object.keys(ACCEPT_FIELDS) as (keyof AcceptSettings)[])
          .filter((k) => !isDeepStrictEqual(myAccept[k], accept[k]))
          .map((k) => ACCEPT_FIELDS[k]),
      ];
      const id = `${m.provider}\u0000${m.spec.name}\u0000${differing.join(",")}`;
      if (differing.length === 0 || warned.has(id)) continue;
      warned.add(id);
      problems.push({
        service: m.spec.name,
        field: differing.join(", "),
        reason: `differs from service "${first.spec.name}" on the shared listener ${key}; ` +
          `the listener uses the settings of "${first.spec.name}" (the name that sorts first)`,
        source: m.provider,
      });
    }
    const backends: BackendPlan[] = [];
    const seen = new Set<string>();
    for (const m of members) {
      for (const b of m.spec.backends) {
        const bkey = backendKey(b.address, m.spec.proxy);
        if (seen.has(bkey)) continue;
        seen.add(bkey);
        const plan: BackendPlan = {
          key: bkey,
          address: b.address,
          host: b.host,
          port: b.port,
          weight: b.weight,
          tier: b.tier,
          drain: b.drain,
          service: m.spec.name,
          ...(m.spec.proxy ? { proxy: m.spec.proxy } : {}),
        };
        backends.push(plan);
      }
    }
    plans.push({
      key,
      label: first.label,
      host: g.host,
      port: g.port,
      services: [...new Set(members.map((m) => m.spec.name))].sort(),
      settings,
      accept,
      backends,
    });
  }
  plans.sort(compareListeners);
  return { table: { listeners: new Map(plans.map((p) => [p.key, p])) }, problems };
}

/** An empty table (no listeners). */
export function emptyTable(): RoutingTable {
  return { listeners: new Map() };
}
