// A table builder its caller owns: build() gives what buildTable() gives for the same arguments,
// but reuses the work of its own previous build. Providers hand unchanged services on as the same
// objects (see createDocumentParser), so when the input differs from the previous one by a few
// services, only the listeners those services touch are rebuilt: one edit in a 5,000-listener
// file costs microseconds, not a pass over every listener. Unchanged listeners keep their plan
// object (the engine skips them by identity), and the table names the keys where it differs
// from the previous one (RoutingTable.changedSince).
import { buildPlan, compareListeners, compareMembers, type Member } from "./plan.ts";
import {
  groupServices,
  type Placement,
  type Resolved,
  resolveService,
  sameConfig,
  sortPlans,
} from "./table.ts";
import type {
  BuiltTable,
  ListenerPlan,
  ProviderRoutes,
  RouteProblem,
  RoutingTable,
  ServiceSettings,
  ServiceSpec,
  TableConfig,
} from "./types.ts";

export interface TableBuilder {
  /** The table buildTable(routes, cfg) gives, built from this builder's previous build. */
  build(routes: readonly ProviderRoutes[], cfg: TableConfig): BuiltTable;
  /** How many builds took which path (tests and profiling look). */
  readonly stats: { readonly full: number; readonly incremental: number };
}

/** A listener's plan as built last time, with what it was built from. */
interface CachedPlan {
  readonly members: readonly Member[];
  readonly defaults: ServiceSettings;
  readonly plan: ListenerPlan;
  readonly problems: readonly RouteProblem[];
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

/** More changed services than this: a full build is as quick. */
const MAX_INCREMENTAL = 64;

function sameMembers(a: readonly Member[], b: readonly Placement[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]!.member) return false;
  return true;
}

function sameInputs(a: TableConfig, b: TableConfig): boolean {
  return sameConfig(a, b) && a.defaults === b.defaults;
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

/** A table that names its difference from `base` (weakly: see RoutingTable.changedSince). */
function based(
  base: RoutingTable,
  listeners: Map<string, ListenerPlan>,
  keys: readonly string[],
): RoutingTable {
  return { listeners, changedSince: { base: new WeakRef(base), keys } };
}

/** One builder per caller that rebuilds its table as its inputs change (the app holds one). */
export function createTableBuilder(): TableBuilder {
  /** Per service object; weak: a service no provider delivers any more takes its entry along. */
  const resolved = new WeakMap<ServiceSpec, Resolved>();
  /** The plan built when a placement last came first on its listener. */
  const cachedPlans = new WeakMap<Placement, CachedPlan>();
  let last: BuildState | undefined;
  const stats = { full: 0, incremental: 0 };

  function resolve(provider: string, spec: ServiceSpec, cfg: TableConfig): Resolved {
    const known = resolved.get(spec);
    if (known && known.provider === provider && sameConfig(known.cfg, cfg)) return known;
    const r = resolveService(provider, spec, cfg);
    resolved.set(spec, r);
    return r;
  }

  /** The plan of one listener's placements (sorted here), the cached one when nothing changed. */
  function planFor(
    key: string,
    g: Placement[],
    defaults: ServiceSettings,
  ): { plan: ListenerPlan; problems: readonly RouteProblem[] } {
    if (g.length > 1) g.sort((a, b) => compareMembers(a.member, b.member));
    const first = g[0]!;
    const cached = cachedPlans.get(first);
    if (cached && cached.defaults === defaults && sameMembers(cached.members, g)) return cached;
    const members = g.map((p) => p.member);
    const built = buildPlan(key, first.host, first.port, members, defaults);
    cachedPlans.set(first, { members, defaults, ...built });
    return built;
  }

  function fullBuild(routes: readonly ProviderRoutes[], cfg: TableConfig): BuiltTable {
    const { groups, specs, twice, problems } = groupServices(routes, cfg, resolve);
    const plans: ListenerPlan[] = [];
    for (const [key, g] of groups) {
      const built = planFor(key, g, cfg.defaults);
      plans.push(built.plan);
      for (const p of built.problems) problems.push(p);
    }
    const { sorted, listeners } = sortPlans(plans);
    const table: RoutingTable = { listeners };
    last = {
      cfg,
      routes: routes.map((r) => ({ provider: r.provider, services: r.services })),
      specs,
      groups,
      sorted,
      table,
      clean: problems.length === 0 && !twice,
    };
    return { table, problems };
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
  ): BuiltTable | undefined {
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
      const changes = removed.length + added.length + a.length + b.length - 2 * (head + tail);
      if (changes > MAX_INCREMENTAL) return undefined;
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
      const r = resolved.get(spec);
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

  return {
    build(routes, cfg) {
      const inc = last && incremental(last, routes, cfg);
      if (inc) {
        stats.incremental++;
        return inc;
      }
      stats.full++;
      return fullBuild(routes, cfg);
    },
    stats,
  };
}
