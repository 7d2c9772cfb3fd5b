// The Consul provider: services tagged `<tag>` become routes (SPEC section 4), discovered with
// blocking queries as the protocol reference describes (sections 1, 2, 7).
//
// Discovery, on purpose:
// - The list is `/v1/health/state/passing?filter=ServiceTags contains "<tag>"`, blocking. Its
//   index is the checks table's, so a check flipping anywhere wakes it: health changes reach the
//   routes within one round. A service needs at least one service check to be found this way
//   (pitfall 2, as with dill); the emulator gives every registration one by default.
// - Each listed name is then read from `/v1/health/service/<name>?passing`, and routing is
//   decided from each instance's own `Service.Tags` (the check's denormalised copy may be stale,
//   pitfall 5). Instances with a non-empty `Kind` (connect proxies, gateways) are skipped.
// - A service whose every instance fails its checks drops out of the list, so its listener
//   closes (connections drain) and reopens when an instance passes again (pitfall 3): a client
//   gets a quick refusal rather than a port that accepts and closes.
// - A detail read that fails keeps that service's previous instances (pitfall 6).
import { errorMessage, SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ConsulProviderConfig } from "../config/types.ts";
import type { Runtime, TlsClientOptions } from "../runtime/types.ts";
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
import type { TaggedInstance } from "./tags.ts";
import type { Provider } from "./types.ts";

/** Consul holds a blocking query at most 10 minutes (max_query_time). */
const CONSUL_MAX_WAIT_MS = 600_000;

export interface ConsulProviderOptions {
  rt: Pick<Runtime, "httpClient">;
  config: ConsulProviderConfig;
  log: Logger;
  /** [0, 1), for backoff jitter. @default Math.random */
  random?: () => number;
  /** The list loop's token bucket. @default { burst: 5, refillMs: 1000 } */
  bucket?: { burst: number; refillMs: number };
  /** Backoff and timeouts; tests shrink them. */
  pacing?: Omit<PacingOptions, "bucket">;
  /** @default "consul" */
  name?: string;
}

/** The TLS options of a provider's `tls.*` keys, or undefined when none is set. */
export function tlsOptions(tls: ConsulProviderConfig["tls"]): TlsClientOptions | undefined {
  const o: TlsClientOptions = {};
  if (tls.ca) o.ca = [tls.ca];
  if (tls.cert) o.cert = tls.cert;
  if (tls.key) o.key = tls.key;
  if (tls.insecure) o.insecure = true;
  return Object.keys(o).length ? o : undefined;
}

/** A query string where `undefined` values are bare flags (`?stale`), which Consul reads as set. */
export function queryString(params: readonly (readonly [string, string | undefined])[]): string {
  const parts = params.map(([k, v]) =>
    v === undefined ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`
  );
  return parts.length ? `?${parts.join("&")}` : "";
}

/** A Consul filter string literal: double quotes, with `\` and `"` escaped. */
function filterLiteral(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : undefined;
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : [];
}

function validateConfig(c: ConsulProviderConfig): string {
  const address = normaliseAddress(c.address, "routing.consul.address");
  if (!Number.isFinite(c.waitMs) || c.waitMs <= 0) {
    throw new SluiceError("CONFIG", `routing.consul.wait: expected a duration above 0`);
  }
  if (!["stale", "consistent", "leader"].includes(c.consistencyMode)) {
    throw new SluiceError(
      "CONFIG",
      `routing.consul.consistency_mode: expected "stale", "consistent" or "leader", got "${c.consistencyMode}"`,
    );
  }
  if (typeof c.tag !== "string" || c.tag === "") {
    throw new SluiceError("CONFIG", `routing.consul.tag: expected a non-empty tag`);
  }
  return address;
}

/** Reads instances from a `/v1/health/service/<name>` answer; skips non-empty `Kind`. */
export function consulInstances(name: string, body: unknown): TaggedInstance[] {
  if (!Array.isArray(body)) {
    throw new QueryFault("garbage", `consul: health/service/${name}: expected a JSON list`);
  }
  const out: TaggedInstance[] = [];
  for (const entry of body) {
    const e = record(entry);
    const svc = record(e?.Service);
    const node = record(e?.Node);
    if (!svc) continue;
    if (typeof svc.Kind === "string" && svc.Kind !== "") continue;
    // Doc (catalog): an empty service address means the node's address.
    const svcAddr = typeof svc.Address === "string" ? svc.Address : "";
    const host = svcAddr !== "" ? svcAddr : typeof node?.Address === "string" ? node.Address : "";
    const port = svc.Port;
    if (host === "" || typeof port !== "number") continue;
    const weights = record(svc.Weights);
    const inst: TaggedInstance = {
      service: name,
      id: `${typeof node?.Node === "string" ? node.Node : ""}/${String(svc.ID ?? "")}`,
      host: host.replace(/^\[(.*)\]$/, "$1"),
      port,
      tags: stringList(svc.Tags),
      ...(typeof weights?.Passing === "number" ? { defaultWeight: weights.Passing } : {}),
    };
    out.push(inst);
  }
  return out;
}

export function createConsulSource(config: ConsulProviderConfig, address: string): BlockingSource {
  const waitMs = Math.min(config.waitMs, CONSUL_MAX_WAIT_MS);
  const common: [string, string | undefined][] = [];
  if (config.datacenter) common.push(["dc", config.datacenter]);
  // CE rejects any `ns`, even "default" (reference 1.3): only when configured.
  if (config.namespace) common.push(["ns", config.namespace]);
  if (config.consistencyMode === "stale") common.push(["stale", undefined]);
  if (config.consistencyMode === "consistent") common.push(["consistent", undefined]);
  const headers: Record<string, string> = { Accept: "application/json" };
  if (config.token) headers["X-Consul-Token"] = config.token;
  const filter = [config.tag, ...(config.legacyTags ?? [])]
    .map((t) => `ServiceTags contains ${filterLiteral(t)}`).join(" or ");
  const readTimeoutMs = 15_000;

  return {
    kind: "consul",
    tag: config.tag,
    ...(config.legacyTags ? { legacyTags: config.legacyTags } : {}),
    indexHeader: "X-Consul-Index",
    headers,
    waitMs,
    secrets: config.token ? [config.token] : [],
    async round(index: bigint, get: JsonGet): Promise<ListRound> {
      const q: [string, string | undefined][] = [["filter", filter], ...common];
      if (index > 0n) q.push(["index", index.toString()], ["wait", `${waitMs}ms`]);
      const list = await get(`${address}/v1/health/state/passing${queryString(q)}`, {
        timeoutMs: index > 0n ? Math.ceil(waitMs + waitMs / 16 + 5000) : readTimeoutMs,
        what: "consul: health/state/passing",
      });
      if (!Array.isArray(list.body)) {
        throw new QueryFault("garbage", "consul: health/state/passing: expected a JSON list");
      }
      const names = [
        ...new Set(
          list.body
            .map((c) => record(c)?.ServiceName)
            .filter((n): n is string => typeof n === "string" && n !== ""),
        ),
      ].sort();
      const filtered = list.headers.get("x-consul-results-filtered-by-acls") === "true";
      const indexText = list.headers.get("x-consul-index") ?? undefined;
      const instances = new Map<string, TaggedInstance[]>();
      const failures: { service: string; fault: QueryFault }[] = [];
      await eachLimited(names, 4, async (name) => {
        const dq = queryString([["passing", "true"], ...common]);
        try {
          const d = await get(`${address}/v1/health/service/${encodeURIComponent(name)}${dq}`, {
            timeoutMs: readTimeoutMs,
            what: `consul: health/service/${name}`,
          });
          const found = consulInstances(name, d.body);
          if (
            found.length === 0 && d.headers.get("x-consul-results-filtered-by-acls") === "true"
          ) {
            throw new QueryFault(
              "forbidden",
              `consul: health/service/${name}: results filtered by ACLs (check node:read)`,
              { key: "acl_filtered_detail" },
            );
          }
          instances.set(name, found);
        } catch (err) {
          if (!(err instanceof QueryFault) || err.key === "stopped") throw err;
          failures.push({ service: name, fault: err });
        }
      });
      return {
        indexText,
        instances,
        failures,
        ...(filtered && names.length === 0 ? { aclFilteredEmpty: true } : {}),
      };
    },
  };
}

/** The Consul provider (SPEC section 4). Throws SluiceError("CONFIG") for a bad setting. */
export function createConsulProvider(o: ConsulProviderOptions): Provider {
  const address = validateConfig(o.config);
  const tls = tlsOptions(o.config.tls);
  let fetch;
  try {
    fetch = tls ? o.rt.httpClient(tls) : o.rt.httpClient();
  } catch (err) {
    throw new SluiceError(
      "CONFIG",
      `routing.consul.tls: cannot use the CA, certificate or key: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return createBlockingProvider({
    name: o.name ?? "consul",
    source: createConsulSource(o.config, address),
    fetch,
    log: o.log,
    ...(o.random ? { random: o.random } : {}),
    pacing: { ...o.pacing, ...(o.bucket ? { bucket: o.bucket } : {}) },
  });
}
