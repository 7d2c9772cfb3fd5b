// One listener's plan from the services placed on it: settings from the service whose name sorts
// first (a warning for each other service that differs), the backends of every member pooled.
import { isDeepStrictEqual } from "node:util";
import { formatProxyUrl } from "./proxy_url.ts";
import { formatHostPort } from "../net/host_port.ts";
import type {
  AcceptSettings,
  BackendPlan,
  ListenerPlan,
  RouteProblem,
  ServiceSettings,
  ServiceSpec,
} from "./types.ts";

const DEFAULT_ACCEPT: AcceptSettings = { acceptProxyProtocol: false, trustedProxies: [] };

/** A service placed on a listener, with the provider that delivered it. */
export interface Member {
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
  stick: "stick",
};
const ACCEPT_FIELDS: Record<keyof AcceptSettings, string> = {
  acceptProxyProtocol: "accept_proxy_protocol",
  trustedProxies: "trusted_proxies",
};

/** The identity of a backend inside a listener: via + address. */
function backendKey(address: string, proxy: BackendPlan["proxy"]): string {
  return (proxy ? formatProxyUrl(proxy) + " ➤ " : "") + address;
}

/** A service's settings with `defaults` filling what it leaves unset. */
function resolveSettings(spec: ServiceSpec, defaults: ServiceSettings): ServiceSettings {
  return { ...defaults, ...spec.settings };
}

function resolveAccept(spec: ServiceSpec): AcceptSettings {
  return { ...DEFAULT_ACCEPT, ...spec.accept };
}

/** Members by service name, then provider (the order that picks a listener's settings). */
export function compareMembers(a: Member, b: Member): number {
  if (a.spec.name !== b.spec.name) return a.spec.name < b.spec.name ? -1 : 1;
  if (a.provider !== b.provider) return a.provider < b.provider ? -1 : 1;
  return 0;
}

/** Listeners by host, then port (the table's order). */
export function compareListeners(a: ListenerPlan, b: ListenerPlan): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return a.port - b.port;
}

/** One listener's plan from its members (sorted by name), with the warnings it raises. */
export function buildPlan(
  key: string,
  host: string,
  port: number,
  members: readonly Member[],
  defaults: ServiceSettings,
): { plan: ListenerPlan; problems: RouteProblem[] } {
  const problems: RouteProblem[] = [];
  const first = members[0] as Member;
  const settings = resolveSettings(first.spec, defaults);
  const accept = resolveAccept(first.spec);
  const warned = new Set<string>();
  for (const m of members.slice(1)) {
    const mine = resolveSettings(m.spec, defaults);
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
      // No port: the port of this listener (tcpffee's portmap = "IP").
      const bport = b.port === 0 ? port : b.port;
      const address = b.port === 0 ? formatHostPort(b.host, port) : b.address;
      const bkey = backendKey(address, m.spec.proxy);
      if (seen.has(bkey)) continue;
      seen.add(bkey);
      const plan: BackendPlan = {
        key: bkey,
        address,
        host: b.host,
        port: bport,
        weight: b.weight,
        tier: b.tier,
        drain: b.drain,
        ...(b.disabled ? { disabled: true } : {}),
        ...(b.group !== undefined ? { group: b.group } : {}),
        service: m.spec.name,
        ...(m.spec.proxy ? { proxy: m.spec.proxy } : {}),
      };
      backends.push(plan);
    }
  }
  const plan: ListenerPlan = {
    key,
    label: first.label,
    host,
    port,
    services: members.length === 1
      ? [first.spec.name]
      : [...new Set(members.map((m) => m.spec.name))].sort(),
    settings,
    accept,
    backends,
  };
  return { plan, problems };
}
