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

/** A listener's plan as built last time, with what it was built from. */
interface CachedPlan {
  readonly members: readonly Member[];
  readonly defaults: ServiceSettings;
  readonly plan: ListenerPlan;
  readonly problems: readonly RouteProblem[];
}

/** One listener ref of a service, resolved against the config. */
interface Placement {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly member: Member;
  /** The plan built when this member last came first on its listener. */
  last: CachedPlan | undefined;
}

/** A service's listener refs, resolved: where it goes, and the refs dropped. */
interface Resolved {
  readonly provider: string;
  readonly cfg: TableConfig;
  readonly placements: readonly Placement[];
  readonly problems: readonly RouteProblem[];
}

/**
 * Per service object. Providers hand unchanged services on as the same objects (see
 * validateServices), so an unchanged listener gets the very same plan object back: the engine
 * skips it by identity, and a 5,000-listener table with one edit builds one plan. Weak: a
 * service no provider delivers any more takes its entries with it.
 */
const resolvedCache = new WeakMap<ServiceSpec, Resolved>();

function sameConfig(a: TableConfig, b: TableConfig): boolean {
  return a === b ||
    (a.allowed === b.allowed && a.portMin === b.portMin && a.portMax === b.portMax);
}

function resolve(provider: string, spec: ServiceSpec, cfg: TableConfig): Resolved {
  const known = resolvedCache.get(spec);
  if (known && known.provider === provider && sameConfig(known.cfg, cfg)) return known;
  const placements: Placement[] = [];
  const problems: RouteProblem[] = [];
  spec.listeners.forEach((ref, i) => {
    const field = spec.listeners.length === 1 ? "listener" : `listeners[${i}]`;
    const ip = Object.hasOwn(cfg.allowed, ref.label) ? cfg.allowed[ref.label] : undefined;
    if (ip === undefined) {
      const labels = Object.keys(cfg.allowed).sort();
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
    placements.push({
      key: formatHostPort(ip, ref.port),
      host: ip,
      port: ref.port,
      member: { provider, spec, label: ref.label },
      last: undefined,
    });
  });
  const r: Resolved = { provider, cfg, placements, problems };
  resolvedCache.set(spec, r);
  return r;
}

function sameMembers(a: readonly Member[], b: readonly Placement[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]!.member) return false;
  return true;
}

/** One listener's plan from its members (sorted by name), with the warnings it raises. */
function buildPlan(
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
  const groups = new Map<string, Placement[]>();
  for (const { provider, services } of routes) {
    for (const spec of services) {
      const r = resolve(provider, spec, cfg);
      for (const p of r.problems) problems.push(p);
      for (const p of r.placements) {
        const g = groups.get(p.key);
        if (!g) groups.set(p.key, [p]);
        // The same service naming the same address twice (two labels for one IP) counts once.
        else if (!g.some((x) => x.member.spec === spec)) g.push(p);
      }
    }
  }

  const plans: ListenerPlan[] = [];
  for (const [key, g] of groups) {
    if (g.length > 1) g.sort((a, b) => compareMembers(a.member, b.member));
    const first = g[0]!;
    const last = first.last;
    if (last && last.defaults === cfg.defaults && sameMembers(last.members, g)) {
      plans.push(last.plan);
      for (const p of last.problems) problems.push(p);
      continue;
    }
    const members = g.map((p) => p.member);
    const built = buildPlan(key, first.host, first.port, members, cfg.defaults);
    first.last = { members, defaults: cfg.defaults, ...built };
    plans.push(built.plan);
    for (const p of built.problems) problems.push(p);
  }
  plans.sort(compareListeners);
  return { table: { listeners: new Map(plans.map((p) => [p.key, p])) }, problems };
}

/** An empty table (no listeners). */
export function emptyTable(): RoutingTable {
  return { listeners: new Map() };
}
