// One listener's plan from the services placed on it: settings from the service whose name sorts
// first (a warning for each other service that differs), the backends of every member pooled.
import { buildSniPlan } from "./sni_plan.ts";
import {
  differingFields,
  type Member,
  poolBackends,
  resolveAccept,
  resolveSettings,
  SETTING_FIELDS,
} from "./plan_parts.ts";
import type { ListenerPlan, RouteProblem, ServiceSettings } from "./types.ts";

export type { Member } from "./plan_parts.ts";

const ALL_SETTINGS = Object.keys(SETTING_FIELDS) as (keyof ServiceSettings)[];

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
  if (members.some((m) => m.spec.sni !== undefined)) {
    return buildSniPlan(key, host, port, members, defaults);
  }
  const problems: RouteProblem[] = [];
  const first = members[0] as Member;
  const settings = resolveSettings(first.spec, defaults);
  const accept = resolveAccept(first.spec);
  const warned = new Set<string>();
  for (const m of members.slice(1)) {
    const mine = resolveSettings(m.spec, defaults);
    const myAccept = resolveAccept(m.spec);
    const differing = differingFields(mine, settings, myAccept, accept, ALL_SETTINGS);
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
  const backends = poolBackends(members, port);
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
