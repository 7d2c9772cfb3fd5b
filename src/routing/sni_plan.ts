// The plan of a listener whose services route by TLS server name (`sni`): one route per service,
// each with its own settings and pool. What is read before a service is chosen is shared by the
// listener (accept_proxy_protocol, trusted_proxies, max_connections, sni_timeout): taken from
// the service whose name sorts first, with one warning per other service that differs. A name
// claimed twice, or a second service without `sni`, stays with the first service (by name) and
// gives one warning naming both; the rest of the listener applies.
import { DEFAULTS } from "../defaults.ts";
import { formatDuration } from "../text/duration.ts";
import {
  differingFields,
  type Member,
  poolBackends,
  resolveAccept,
  resolveSettings,
} from "./plan_parts.ts";
import type { ListenerPlan, RouteProblem, ServiceSettings, SniRoute } from "./types.ts";

/** The settings of `ServiceSettings` that an SNI listener shares (the rest are per service). */
const SHARED: readonly (keyof ServiceSettings)[] = ["maxConnections"];

/** The sni_timeout of the first member (by name) that sets one, else the default. */
function timeoutOf(members: readonly Member[]): number {
  for (const m of members) if (m.spec.sniTimeoutMs !== undefined) return m.spec.sniTimeoutMs;
  return DEFAULTS.sni.timeoutMs;
}

export function buildSniPlan(
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
  const timeoutMs = timeoutOf(members);
  const timeoutFrom = members.find((m) => m.spec.sniTimeoutMs !== undefined)?.spec.name;

  // Members of one name (from several providers) make one route; members come sorted by name.
  const byName = new Map<string, Member[]>();
  for (const m of members) {
    const g = byName.get(m.spec.name);
    if (g) g.push(m);
    else byName.set(m.spec.name, [m]);
  }

  const warned = new Set<string>();
  for (const m of members.slice(1)) {
    const differing = differingFields(
      resolveSettings(m.spec, defaults),
      settings,
      resolveAccept(m.spec),
      accept,
      SHARED,
    );
    if (m.spec.sniTimeoutMs !== undefined && m.spec.sniTimeoutMs !== timeoutMs) {
      differing.push("sni_timeout");
    }
    const id = `${m.provider}\u0000${m.spec.name}\u0000${differing.join(",")}`;
    if (differing.length === 0 || warned.has(id)) continue;
    warned.add(id);
    const owner = differing.length === 1 && differing[0] === "sni_timeout"
      ? timeoutFrom ?? first.spec.name
      : first.spec.name;
    problems.push({
      service: m.spec.name,
      field: differing.join(", "),
      reason: `differs from service "${owner}" on the shared listener ${key}, which routes by ` +
        `TLS server name: accept_proxy_protocol, trusted_proxies, max_connections and ` +
        `sni_timeout (${formatDuration(timeoutMs)}) are the listener's, taken from ` +
        `"${owner}" (the name that sorts first)`,
      source: m.provider,
    });
  }

  const routes: SniRoute[] = [];
  const claimed = new Map<string, string>();
  let fallback: string | undefined;
  for (const [name, group] of byName) {
    const spec = group[0]!.spec;
    const provider = group[0]!.provider;
    if (spec.sni === undefined) {
      if (fallback !== undefined) {
        problems.push({
          service: name,
          field: "sni",
          reason: `services "${fallback}" and "${name}" on the shared listener ${key} both ` +
            `set no sni (each would take the connections no name matches); "${fallback}" ` +
            `keeps them, "${name}" takes no connections there`,
          source: provider,
        });
        continue;
      }
      fallback = name;
      routes.push({
        service: name,
        names: [],
        settings: resolveSettings(spec, defaults),
        backends: poolBackends(group, port),
      });
      continue;
    }
    const names: string[] = [];
    const lost = new Map<string, string[]>(); // holder -> names this service lost to it
    for (const n of spec.sni) {
      const held = claimed.get(n);
      if (held === undefined) {
        claimed.set(n, name);
        names.push(n);
      } else if (held !== name) {
        const l = lost.get(held);
        if (l) l.push(n);
        else lost.set(held, [n]);
      }
    }
    for (const [held, ns] of lost) {
      problems.push({
        service: name,
        field: "sni",
        reason: `services "${held}" and "${name}" both claim ${
          ns.map((n) => `"${n}"`).join(", ")
        } on the shared listener ${key}; "${held}" keeps ${ns.length === 1 ? "it" : "them"}`,
        source: provider,
      });
    }
    if (names.length === 0) continue;
    routes.push({
      service: name,
      names,
      settings: resolveSettings(spec, defaults),
      backends: poolBackends(group, port),
    });
  }

  const plan: ListenerPlan = {
    key,
    label: first.label,
    host,
    port,
    services: [...byName.keys()],
    settings,
    accept,
    backends: routes.flatMap((r) => r.backends),
    sni: { timeoutMs, routes },
  };
  return { plan, problems };
}
