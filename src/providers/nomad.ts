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
import { errorMessage, SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { NomadProviderConfig } from "../config/types.ts";
import type { Runtime } from "../runtime/types.ts";
import {
  type BlockingSource,
  createBlockingProvider,
  eachLimited,
  type JsonGet,
  type ListRound,
  normaliseAddress,
  type PacingOptions,
  QueryFault,
} from "./blocking.ts";
import { queryString, tlsOptions } from "./consul.ts";
import type { TaggedInstance } from "./tags.ts";
import type { Provider } from "./types.ts";

/** Nomad clamps `wait` to 5 minutes (MaxBlockingRPCQueryTime = 300 s). */
const NOMAD_MAX_WAIT_MS = 300_000;

export interface NomadProviderOptions {
  rt: Pick<Runtime, "httpClient">;
  config: NomadProviderConfig;
  log: Logger;
  /** [0, 1), for backoff jitter. @default Math.random */
  random?: () => number;
  /** The list loop's token bucket. @default { burst: 5, refillMs: 1000 } */
  bucket?: { burst: number; refillMs: number };
  /** Backoff and timeouts; tests shrink them. */
  pacing?: Omit<PacingOptions, "bucket">;
  /** @default "nomad" */
  name?: string;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : undefined;
}

function stringList(v: unknown): string[] {
  // Nomad sends `null` for no tags (a Go nil slice).
  return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : [];
}

function validateConfig(c: NomadProviderConfig): string {
  const address = normaliseAddress(c.address, "routing.nomad.address");
  if (!Number.isFinite(c.waitMs) || c.waitMs <= 0) {
    throw new SluiceError("CONFIG", `routing.nomad.wait: expected a duration above 0`);
  }
  if (typeof c.tag !== "string" || c.tag === "") {
    throw new SluiceError("CONFIG", `routing.nomad.tag: expected a non-empty tag`);
  }
  return address;
}

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
    throw new QueryFault("garbage", "nomad: /v1/services: expected a JSON list");
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
    throw new QueryFault("garbage", `nomad: /v1/service/${name}: expected a JSON list`);
  }
  const out: TaggedInstance[] = [];
  for (const r of body) {
    const reg = record(r);
    if (!reg || typeof reg.Address !== "string" || reg.Address === "") continue;
    if (typeof reg.Port !== "number") continue;
    out.push({
      service: nomadServiceName(ns, name),
      id: String(reg.ID ?? `${reg.AllocID ?? ""}`),
      host: reg.Address.replace(/^\[(.*)\]$/, "$1"),
      port: reg.Port,
      tags: stringList(reg.Tags),
    });
  }
  return out;
}

export function createNomadSource(config: NomadProviderConfig, address: string): BlockingSource {
  const waitMs = Math.min(config.waitMs, NOMAD_MAX_WAIT_MS);
  const headers: Record<string, string> = { Accept: "application/json" };
  if (config.token) headers["X-Nomad-Token"] = config.token;
  const stale: [string, string][] = config.stale ? [["stale", "true"]] : [];
  const readTimeoutMs = 15_000;

  return {
    kind: "nomad",
    tag: config.tag,
    ...(config.legacyTags ? { legacyTags: config.legacyTags } : {}),
    indexHeader: "X-Nomad-Index",
    headers,
    waitMs,
    secrets: config.token ? [config.token] : [],
    async round(index: bigint, get: JsonGet): Promise<ListRound> {
      const q: [string, string | undefined][] = [];
      if (config.namespace) q.push(["namespace", config.namespace]);
      q.push(...stale);
      // The Go client sends wait in milliseconds too.
      if (index > 0n) q.push(["index", index.toString()], ["wait", `${waitMs}ms`]);
      const list = await get(`${address}/v1/services${queryString(q)}`, {
        timeoutMs: index > 0n ? Math.ceil(waitMs + waitMs / 16 + 5000) : readTimeoutMs,
        what: "nomad: /v1/services",
      });
      const tagged = nomadTaggedServices(list.body, [config.tag, ...(config.legacyTags ?? [])]);
      const indexText = list.headers.get("x-nomad-index") ?? undefined;
      const instances = new Map<string, TaggedInstance[]>();
      const failures: { service: string; fault: QueryFault }[] = [];
      await eachLimited(tagged, 4, async ({ ns, name }) => {
        const key = nomadServiceName(ns, name);
        const dq = queryString([["namespace", ns], ...stale]);
        try {
          const d = await get(`${address}/v1/service/${encodeURIComponent(name)}${dq}`, {
            timeoutMs: readTimeoutMs,
            what: `nomad: /v1/service/${name} (namespace ${ns})`,
          });
          instances.set(key, nomadInstances(ns, name, d.body));
        } catch (err) {
          if (!(err instanceof QueryFault) || err.key === "stopped") throw err;
          failures.push({ service: key, fault: err });
        }
      });
      return { indexText, instances, failures };
    },
  };
}

/** The Nomad provider (SPEC section 4). Throws SluiceError("CONFIG") for a bad setting. */
export function createNomadProvider(o: NomadProviderOptions): Provider {
  const address = validateConfig(o.config);
  const tls = tlsOptions(o.config.tls);
  let fetch;
  try {
    fetch = tls ? o.rt.httpClient(tls) : o.rt.httpClient();
  } catch (err) {
    throw new SluiceError(
      "CONFIG",
      `routing.nomad.tls: cannot use the CA, certificate or key: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return createBlockingProvider({
    name: o.name ?? "nomad",
    source: createNomadSource(o.config, address),
    fetch,
    log: o.log,
    ...(o.random ? { random: o.random } : {}),
    pacing: { ...o.pacing, ...(o.bucket ? { bucket: o.bucket } : {}) },
  });
}
