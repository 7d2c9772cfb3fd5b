// The pieces a listener's plan is made of, shared by plain listeners (plan.ts) and listeners
// that route by TLS server name (sni_plan.ts): members, resolved settings, pooled backends and
// the fields in which two services disagree.
import { isDeepStrictEqual } from "node:util";
import { formatProxyUrl } from "./proxy_url.ts";
import { formatHostPort } from "../net/host_port.ts";
import type { AcceptSettings, BackendPlan, ServiceSettings, ServiceSpec } from "./types.ts";

const DEFAULT_ACCEPT: AcceptSettings = { acceptProxyProtocol: false, trustedProxies: [] };

/** A service placed on a listener, with the provider that delivered it. */
export interface Member {
  readonly provider: string;
  readonly spec: ServiceSpec;
  readonly label: string;
}

export const SETTING_FIELDS: Readonly<Record<keyof ServiceSettings, string>> = {
  balance: "balance",
  hashKey: "hash_key",
  connectTimeoutMs: "connect_timeout",
  connectAttempts: "connect_attempts",
  connectBudgetMs: "connect_budget",
  idleTimeoutMs: "idle_timeout",
  maxConnections: "max_connections",
  proxyProtocol: "proxy_protocol",
  health: "health",
  stick: "stick",
};
const ACCEPT_FIELDS: Readonly<Record<keyof AcceptSettings, string>> = {
  acceptProxyProtocol: "accept_proxy_protocol",
  trustedProxies: "trusted_proxies",
};

/** The identity of a backend inside a pool: via + address. */
function backendKey(address: string, proxy: BackendPlan["proxy"]): string {
  return (proxy ? formatProxyUrl(proxy) + " ➤ " : "") + address;
}

/** A service's settings with `defaults` filling what it leaves unset. */
export function resolveSettings(spec: ServiceSpec, defaults: ServiceSettings): ServiceSettings {
  return { ...defaults, ...spec.settings };
}

export function resolveAccept(spec: ServiceSpec): AcceptSettings {
  return { ...DEFAULT_ACCEPT, ...spec.accept };
}

/** The config names of the fields (among `settings` keys and every accept key) that differ. */
export function differingFields(
  mine: ServiceSettings,
  theirs: ServiceSettings,
  myAccept: AcceptSettings,
  theirAccept: AcceptSettings,
  settings: readonly (keyof ServiceSettings)[],
): string[] {
  return [
    ...settings.filter((k) => !isDeepStrictEqual(mine[k], theirs[k])).map((k) => SETTING_FIELDS[k]),
    ...(Object.keys(ACCEPT_FIELDS) as (keyof AcceptSettings)[])
      .filter((k) => !isDeepStrictEqual(myAccept[k], theirAccept[k]))
      .map((k) => ACCEPT_FIELDS[k]),
  ];
}

/**
 * The backends of `members` pooled: first occurrence of each key wins, in member order. A
 * backend without a port (0) takes the listener's `port` (tcpffee's portmap = "IP").
 */
export function poolBackends(members: readonly Member[], port: number): BackendPlan[] {
  const backends: BackendPlan[] = [];
  const seen = new Set<string>();
  for (const m of members) {
    for (const b of m.spec.backends) {
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
  return backends;
}
