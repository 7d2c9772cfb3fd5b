// The Nomad provider: Nomad-native services tagged `<tag>` become routes (SPEC section 4),
// discovered with blocking queries on `/v1/services` (protocol reference section 4).
//
// - The list gives, per namespace, each service with the UNION of its registrations' tags, so
//   it only says which services might be routed; each registration's own tags decide (during a
//   deploy old and new allocations mix: T14).
// - `namespace = "*"` lists every namespace; each service is then read in its group's own
//   namespace, since `/v1/service/<name>?namespace=*` matches nothing (T15).
// - Nomad stores no health for its native services: every registered allocation is routed
//   until it is deregistered (nomad#23317). Use sluice's active health checks (`health`) when a
//   crashing-but-registered allocation must stop receiving traffic.
// - Service names are the Nomad names, prefixed with "NAMESPACE/" outside "default".
import { SluiceError } from "../errors.ts";
import type { NomadProviderConfig } from "../config/types.ts";
import {
  type BlockingSource,
  createBlockingProvider,
  type ListRound,
  listTimeoutMs,
  READ_TIMEOUT_MS,
} from "./blocking.ts";
import { createProviderFetch } from "./http_client.ts";
import type { JsonGet } from "./json_get.ts";
import {
  bareHost,
  queryString,
  readDetails,
  record,
  type SourceProviderOptions,
  stringList,
  validateSourceConfig,
} from "./source_common.ts";
import type { TaggedInstance } from "./tags.ts";
import type { Provider } from "./types.ts";

/** Nomad clamps `wait` to 5 minutes (MaxBlockingRPCQueryTime = 300 s). */
const NOMAD_MAX_WAIT_MS = 300_000;

export type NomadProviderOptions = SourceProviderOptions<NomadProviderConfig>;

/** The service name sluice shows: namespaced outside "default". */
export function nomadServiceName(namespace: string, name: string): string {
  return namespace === "default" || namespace === "" ? name : `${namespace}/${name}`;
}

/** (namespace, name) of each listed service whose tag union holds `tag`, sorted. */
export function nomadTaggedServices(
  body: unknown,
  tag: string | readonly string[],
): { ns: string; name: string }[] {
  const tagList = typeof tag === "string" ? [tag] : tag;
  if (!Array.isArray(body)) {
    throw new SluiceError("PROVIDER_GARBAGE", "nomad: /v1/services: expected a JSON list");
  }
  const out = new Map<string, { ns: string; name: string }>();
  for (const g of body) {
    const group = record(g);
    const ns = typeof group?.Namespace === "string" ? group.Namespace : "default";
    const services = Array.isArray(group?.Services) ? group.Services : [];
    for (const s of services) {
      const svc = record(s);
      if (typeof svc?.ServiceName !== "string") continue;
      const tags = stringList(svc.Tags);
      if (!tagList.some((t) => tags.includes(t))) continue;
      out.set(`${ns}\u0000${svc.ServiceName}`, { ns, name: svc.ServiceName });
    }
  }
  return [...out.keys()].sort().map((k) => out.get(k)!);
}

/** Registrations of one service read from `/v1/service/<name>`. */
export function nomadInstances(ns: string, name: string, body: unknown): TaggedInstance[] {
  if (!Array.isArray(body)) {
    throw new SluiceError("PROVIDER_GARBAGE", `nomad: /v1/service/${name}: expected a JSON list`);
  }
  const out: TaggedInstance[] = [];
  for (const r of body) {
    const reg = record(r);
    if (!reg || typeof reg.Address !== "string" || reg.Address === "") continue;
    if (typeof reg.Port !== "number") continue;
    out.push({
      service: nomadServiceName(ns, name),
      id: String(reg.ID ?? `${reg.AllocID ?? ""}`),
      host: bareHost(reg.Address),
      port: reg.Port,
      tags: stringList(reg.Tags),
    });
  }
  return out;
}

function createNomadSource(config: NomadProviderConfig, address: string): BlockingSource {
  const waitMs = Math.min(config.waitMs, NOMAD_MAX_WAIT_MS);
  const headers: Record<string, string> = { Accept: "application/json" };
  if (config.token) headers["X-Nomad-Token"] = config.token;
  const stale: [string, string][] = config.stale ? [["stale", "true"]] : [];

  return {
    kind: "nomad",
    tag: config.tag,
    ...(config.legacyTags ? { legacyTags: config.legacyTags } : {}),
    indexHeader: "X-Nomad-Index",
    headers,
    waitMs,
    secrets: config.token ? [config.token] : [],
    // Nomad's list carries no per-service index: every round reads every tagged service.
    async round(index: bigint, get: JsonGet): Promise<ListRound> {
      const q: [string, string | undefined][] = [];
      if (config.namespace) q.push(["namespace", config.namespace]);
      q.push(...stale);
      // The Go client sends wait in milliseconds too.
      if (index > 0n) q.push(["index", index.toString()], ["wait", `${waitMs}ms`]);
      const list = await get(`${address}/v1/services${queryString(q)}`, {
        timeoutMs: listTimeoutMs(index, waitMs),
        what: "nomad: /v1/services",
      });
      const tagged = nomadTaggedServices(list.body, [config.tag, ...(config.legacyTags ?? [])]);
      const { instances, failures } = await readDetails(
        tagged,
        ({ ns, name }) => nomadServiceName(ns, name),
        async ({ ns, name }) => {
          const dq = queryString([["namespace", ns], ...stale]);
          const d = await get(`${address}/v1/service/${encodeURIComponent(name)}${dq}`, {
            timeoutMs: READ_TIMEOUT_MS,
            what: `nomad: /v1/service/${name} (namespace ${ns})`,
          });
          return nomadInstances(ns, name, d.body);
        },
      );
      return { indexText: list.headers.get("x-nomad-index") ?? undefined, instances, failures };
    },
  };
}

/** The Nomad provider (SPEC section 4). Throws SluiceError("CONFIG") for a bad setting. */
export function createNomadProvider(o: NomadProviderOptions): Provider {
  const address = validateSourceConfig("nomad", o.config);
  return createBlockingProvider({
    name: o.name ?? "nomad",
    source: createNomadSource(o.config, address),
    fetch: createProviderFetch(o.rt, o.config.tls, "routing.nomad"),
    log: o.log,
    ...(o.config.maxBytes !== undefined ? { maxBytes: o.config.maxBytes } : {}),
    ...(o.random ? { random: o.random } : {}),
    pacing: { ...o.pacing, ...(o.bucket ? { bucket: o.bucket } : {}) },
  });
}
