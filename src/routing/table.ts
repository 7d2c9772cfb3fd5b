// Merges every provider's services into the listener table: labels resolved, ports checked,
// defaults applied, services on the same listener sharing one pool. Pure and deterministic:
// buildTable() depends on its arguments only. createTableBuilder() (table_builder.ts) gives the
// same tables while reusing the work of its previous build.
import { formatHostPort } from "../net/host_port.ts";
import { buildPlan, compareListeners, compareMembers, type Member } from "./plan.ts";
import type {
  BuiltTable,
  ListenerPlan,
  ProviderRoutes,
  RouteProblem,
  ServiceSettings,
  ServiceSpec,
  TableConfig,
} from "./types.ts";

/** One listener ref of a service, resolved against the config. */
export interface Placement {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly member: Member;
}

/** A service's listener refs, resolved: where it goes, and the refs dropped. */
export interface Resolved {
  readonly provider: string;
  readonly cfg: TableConfig;
  readonly placements: readonly Placement[];
  readonly problems: readonly RouteProblem[];
}

/** Whether two configs resolve listener refs alike (the defaults aside). */
export function sameConfig(a: TableConfig, b: TableConfig): boolean {
  return a === b ||
    (a.allowed === b.allowed && a.portMin === b.portMin && a.portMax === b.portMax);
}

/** Where a service's listener refs go under `cfg`; an unknown label or a port out of range is dropped. */
export function resolveService(provider: string, spec: ServiceSpec, cfg: TableConfig): Resolved {
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
    });
  });
  return { provider, cfg, placements, problems };
}

/** Every service's placements grouped by listener key (in first-seen order), and the problems. */
export interface Grouped {
  readonly groups: Map<string, Placement[]>;
  /** Every spec of the routes. */
  readonly specs: Set<ServiceSpec>;
  /** Whether a spec was listed twice. */
  readonly twice: boolean;
  readonly problems: RouteProblem[];
}

export function groupServices(
  routes: readonly ProviderRoutes[],
  cfg: TableConfig,
  resolve: (provider: string, spec: ServiceSpec, cfg: TableConfig) => Resolved,
): Grouped {
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
  return { groups, specs, twice, problems };
}

/** A group's plan: its placements sorted (in place) by member, then built. */
function planOf(
  key: string,
  g: Placement[],
  defaults: ServiceSettings,
): { plan: ListenerPlan; problems: readonly RouteProblem[] } {
  if (g.length > 1) g.sort((a, b) => compareMembers(a.member, b.member));
  const first = g[0]!;
  return buildPlan(key, first.host, first.port, g.map((p) => p.member), defaults);
}

/** The plans sorted as the table's map is, and that map. */
export function sortPlans(
  plans: ListenerPlan[],
): { sorted: ListenerPlan[]; listeners: Map<string, ListenerPlan> } {
  plans.sort(compareListeners);
  const listeners = new Map<string, ListenerPlan>();
  for (const p of plans) listeners.set(p.key, p);
  return { sorted: plans, listeners };
}

/**
 * Builds the routing table from every provider's services. A listener ref with an unknown label
 * or a port outside [portMin, portMax] (inclusive) is dropped with a problem; the service's other
 * listeners still apply. Listener-level settings come from the service whose name sorts first;
 * each other service whose own settings differ gets a warning. Pure: the same arguments give
 * an equal result, and nothing is remembered between calls.
 */
export function buildTable(routes: readonly ProviderRoutes[], cfg: TableConfig): BuiltTable {
  const { groups, problems } = groupServices(routes, cfg, resolveService);
  const plans: ListenerPlan[] = [];
  for (const [key, g] of groups) {
    const built = planOf(key, g, cfg.defaults);
    plans.push(built.plan);
    for (const p of built.problems) problems.push(p);
  }
  return { table: { listeners: sortPlans(plans).listeners }, problems };
}
