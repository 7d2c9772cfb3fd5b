// Merges every provider's services into the listener table: labels resolved, ports checked,
// defaults applied, services on the same listener sharing one pool. Pure and deterministic.
import { isDeepStrictEqual } from "node:util";
import type { Config } from "../config/types.ts";
import { formatHostPort } from "../net/host_port.ts";
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

/** What the last build was made of, so that the next one can redo only what changed. */
interface BuildState {
  readonly cfg: TableConfig;
  readonly routes: readonly {
    readonly provider: string;
    readonly services: readonly ServiceSpec[];
  }[];
  /** Every spec of `routes` (a spec listed twice disables the incremental path). */
  readonly specs: Set<ServiceSpec>;
  /** Placements by listener key, sorted by member. */
  readonly groups: Map<string, Placement[]>;
  /** The table's plans, sorted as its map is. */
  readonly sorted: ListenerPlan[];
  readonly table: RoutingTable;
  readonly clean: boolean;
}

/** The last build, of whichever caller; the incremental path checks that it applies. */
let last: BuildState | undefined;
/** How many builds took which path (tests and profiling look). */
export const buildCounts = { full: 0, incremental: 0 };
/** More changed services than this: a full build is as quick. */
const MAX_INCREMENTAL = 64;

/**
 * Builds the routing table from every provider's services. A listener ref with an unknown label
 * or a port outside [portMin, portMax] (inclusive) is dropped with a problem; the service's other
 * listeners still apply. Listener-level settings come from the service whose name sorts first;
 * each other service whose own settings differ gets a warning.
 *
 * When the input differs from the previous call's by a few services (the same objects
 * elsewhere, see validateServices), only the listeners those services touch are rebuilt:
 * one edit in a 5,000-listener file costs microseconds, not a pass over every listener. The
 * result is the same as a full build's (tests/routing/incremental_test.ts compares them).
 */
export function buildTable(
  routes: readonly ProviderRoutes[],
  cfg: TableConfig,
): { table: RoutingTable; problems: RouteProblem[] } {
  const inc = last && incremental(last, routes, cfg);
  if (inc) {
    buildCounts.incremental++;
    return inc;
  }
  buildCounts.full++;
  return fullBuild(routes, cfg);
}

function sameInputs(a: TableConfig, b: TableConfig): boolean {
  return sameConfig(a, b) && a.defaults === b.defaults;
}

/** buildTable() without the incremental path and without remembering this build (for tests). */
export function buildTableFresh(
  routes: readonly ProviderRoutes[],
  cfg: TableConfig,
): { table: RoutingTable; problems: RouteProblem[] } {
  const keep = last;
  try {
    return fullBuild(routes, cfg);
  } finally {
    last = keep;
  }
}

function fullBuild(
  routes: readonly ProviderRoutes[],
  cfg: TableConfig,
): { table: RoutingTable; problems: RouteProblem[] } {
  const problems: RouteProblem[] = [];
  const groups = new Map<string, Placement[]>();
  const specs = new Set<ServiceSpec>();
  let twice = false;
  for (const { provider, services } of routes) {
    for (const spec of services) {
      if (specs.has(spec)) twice = true;
      specs.add(spec);
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
    const built = planFor(key, g, cfg.defaults);
    plans.push(built.plan);
    for (const p of built.problems) problems.push(p);
  }
  plans.sort(compareListeners);
  const listeners = new Map<string, ListenerPlan>();
  for (const p of plans) listeners.set(p.key, p);
  const table: RoutingTable = { listeners };
  last = {
    cfg,
    routes: routes.map((r) => ({ provider: r.provider, services: r.services })),
    specs,
    groups,
    sorted: plans,
    table,
    clean: problems.length === 0 && !twice,
  };
  return { table, problems };
}

/** The plan of one listener's placements (sorted here), the cached one when nothing changed. */
function planFor(
  key: string,
  g: Placement[],
  defaults: ServiceSettings,
): { plan: ListenerPlan; problems: readonly RouteProblem[] } {
  if (g.length > 1) g.sort((a, b) => compareMembers(a.member, b.member));
  const first = g[0]!;
  const cached = first.last;
  if (cached && cached.defaults === defaults && sameMembers(cached.members, g)) return cached;
  const members = g.map((p) => p.member);
  const built = buildPlan(key, first.host, first.port, members, defaults);
  first.last = { members, defaults, ...built };
  return built;
}

/**
 * A table that names its difference from `base`. The base forgets its own base here: a chain
 * of every table ever built would never be freed.
 */
function based(
  base: RoutingTable,
  listeners: Map<string, ListenerPlan>,
  keys: readonly string[],
): RoutingTable {
  delete (base as { changedSince?: unknown }).changedSince;
  return { listeners, changedSince: { base, keys } };
}

/** Index of the first plan in `sorted` that does not sort before `p`. */
function lowerBound(sorted: readonly ListenerPlan[], p: ListenerPlan): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareListeners(sorted[mid]!, p) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The table after a few services changed since `prev`, or undefined when that does not apply:
 * other config, other providers, many changes, or a case the full build decides (problems,
 * a spec listed twice, two same-named services of one provider on one listener).
 */
function incremental(
  prev: BuildState,
  routes: readonly ProviderRoutes[],
  cfg: TableConfig,
): { table: RoutingTable; problems: RouteProblem[] } | undefined {
  if (!prev.clean || !sameInputs(prev.cfg, cfg) || routes.length !== prev.routes.length) {
    return undefined;
  }
  const removed: ServiceSpec[] = [];
  const added: { provider: string; spec: ServiceSpec }[] = [];
  for (let i = 0; i < routes.length; i++) {
    const now = routes[i]!;
    const before = prev.routes[i]!;
    if (now.provider !== before.provider) return undefined;
    const a = before.services;
    const b = now.services;
    if (a === b) continue;
    const n = Math.min(a.length, b.length);
    let head = 0;
    while (head < n && a[head] === b[head]) head++;
    let tail = 0;
    while (tail < n - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
    if (removed.length + added.length + a.length + b.length - 2 * (head + tail) > MAX_INCREMENTAL) {
      return undefined;
    }
    for (let k = head; k < a.length - tail; k++) removed.push(a[k]!);
    for (let k = head; k < b.length - tail; k++) {
      added.push({ provider: now.provider, spec: b[k]! });
    }
  }
  if (removed.length === 0 && added.length === 0) {
    const table = based(prev.table, new Map(prev.table.listeners), []);
    last = { ...prev, cfg, table };
    return { table, problems: [] };
  }

  // Everything below only reads until the new groups are known to be clean.
  const gone = new Set(removed);
  const fresh = new Set<ServiceSpec>();
  for (const { spec } of added) {
    if (fresh.has(spec) || (prev.specs.has(spec) && !gone.has(spec))) return undefined;
    fresh.add(spec);
  }
  const next = new Map<string, Placement[]>();
  const touch = (key: string): Placement[] => {
    let g = next.get(key);
    if (!g) next.set(key, g = [...(prev.groups.get(key) ?? [])]);
    return g;
  };
  for (const spec of removed) {
    const r = resolvedCache.get(spec);
    if (!r || !sameConfig(r.cfg, cfg)) return undefined;
    for (const p of r.placements) {
      const g = touch(p.key);
      const i = g.findIndex((x) => x.member.spec === spec);
      if (i >= 0) g.splice(i, 1);
    }
  }
  for (const { provider, spec } of added) {
    const r = resolve(provider, spec, cfg);
    if (r.problems.length) return undefined;
    for (const p of r.placements) {
      const g = touch(p.key);
      if (g.some((x) => x.member.spec === spec)) continue;
      // Ties between same-named services of one provider follow input order: full build.
      if (g.some((x) => x.member.spec.name === spec.name && x.member.provider === provider)) {
        return undefined;
      }
      g.push(p);
    }
  }
  const plans = new Map<string, ListenerPlan | undefined>();
  for (const [key, g] of next) {
    if (g.length === 0) {
      plans.set(key, undefined);
      continue;
    }
    const built = planFor(key, g, cfg.defaults);
    if (built.problems.length) return undefined;
    plans.set(key, built.plan);
  }

  // Commit.
  const lastKept = prev.sorted[prev.sorted.length - 1];
  for (const spec of removed) prev.specs.delete(spec);
  for (const spec of fresh) prev.specs.add(spec);
  const sorted = prev.sorted;
  let keysChanged = false;
  for (const [key, plan] of plans) {
    const old = prev.table.listeners.get(key);
    if (old) {
      const i = lowerBound(sorted, old);
      if (plan) sorted[i] = plan;
      else {
        sorted.splice(i, 1);
        keysChanged = true;
      }
    } else if (plan) {
      sorted.splice(lowerBound(sorted, plan), 0, plan);
      keysChanged = true;
    }
    const g = next.get(key)!;
    if (g.length) prev.groups.set(key, g);
    else prev.groups.delete(key);
  }
  // A new map in sorted order; copying the old one keeps its order, so a copy serves when keys
  // only went away or the new ones sort last (as in a growing table), a rebuild otherwise.
  const old = prev.table.listeners;
  let appendable = true;
  for (const [key, plan] of plans) {
    if (plan && !old.has(key) && lastKept && compareListeners(plan, lastKept) < 0) {
      appendable = false;
    }
  }
  let listeners: Map<string, ListenerPlan>;
  if (keysChanged && !appendable) {
    listeners = new Map();
    for (const p of sorted) listeners.set(p.key, p);
  } else {
    listeners = new Map(old);
    const addedKeys: ListenerPlan[] = [];
    for (const [key, plan] of plans) {
      if (!plan) listeners.delete(key);
      else if (old.has(key)) listeners.set(key, plan);
      else addedKeys.push(plan);
    }
    addedKeys.sort(compareListeners);
    for (const p of addedKeys) listeners.set(p.key, p);
  }
  const table = based(prev.table, listeners, [...plans.keys()]);
  last = {
    ...prev,
    cfg,
    routes: routes.map((r) => ({ provider: r.provider, services: r.services })),
    table,
  };
  return { table, problems: [] };
}

/** An empty table (no listeners). */
export function emptyTable(): RoutingTable {
  return { listeners: new Map() };
}
