// The Consul provider: services tagged `<tag>` become routes (SPEC section 4), discovered with
// blocking queries as the protocol reference describes (sections 1, 2, 7).
//
// Discovery, on purpose:
// - The list is `/v1/health/state/any?filter=ServiceTags contains "<tag>" or ServiceID == ""`,
//   blocking: every check of a tagged service, in any state, and every node check. Its index is
//   the checks table's, so a check flipping anywhere wakes it: health changes reach the routes
//   within one round. A service needs at least one service check to be found this way
//   (pitfall 2, as with dill); the emulator gives every registration one by default.
// - Only the services whose checks changed since their last read (consul_changes.ts: status,
//   ModifyIndex, tags, a check added or removed, a node check of their nodes) are read again
//   from `/v1/health/service/<name>?passing`; the others keep the instances of their last read.
//   What the checks table does not show (an instance registered again with a new port and the
//   same checks) is caught by reading each detail again once it is fullReadEveryMs old, in the
//   background while the list waits, so that a change never waits for thousands of reads.
//   Routing is decided from each instance's own `Service.Tags` (the check's denormalised copy
//   may be stale, pitfall 5). Instances with a non-empty `Kind` (connect proxies, gateways) are
//   skipped.
// - A service whose every instance fails its checks has no instance left after `?passing`, so
//   its listener closes (connections drain) and reopens when an instance passes again
//   (pitfall 3): a client gets a quick refusal rather than a port that accepts and closes.
// - A detail read that fails keeps that service's previous instances (pitfall 6) and is tried
//   again next round.
import { SluiceError } from "../errors.ts";
import type { ConsulProviderConfig } from "../config/types.ts";
import {
  type BlockingSource,
  createBlockingProvider,
  type ListRound,
  listTimeoutMs,
  READ_TIMEOUT_MS,
  type RoundTime,
} from "./blocking.ts";
import { BodyBuffer, createProviderFetch } from "./http_client.ts";
import type { JsonGet } from "./json_get.ts";
import { createChangeTracker, createFingerprinter, summariseCheck } from "./consul_changes.ts";
import { createArrayReader } from "./json_array_reader.ts";
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

/** Details read in a round beyond the changed ones, when the background refresh is starved. */
const OVERDUE_PER_ROUND = 8;

/** Detail reads at once in a full round (the start, an index reset): thousands of them. */
const FULL_READ_PARALLEL = 16;

/** Consul holds a blocking query at most 10 minutes (max_query_time). */
const CONSUL_MAX_WAIT_MS = 600_000;

export type ConsulProviderOptions = SourceProviderOptions<ConsulProviderConfig>;

/** A Consul filter string literal: double quotes, with `\` and `"` escaped. */
function filterLiteral(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function validateConfig(c: ConsulProviderConfig): string {
  const address = validateSourceConfig("consul", c);
  if (!["stale", "consistent", "leader"].includes(c.consistencyMode)) {
    throw new SluiceError(
      "CONFIG",
      `routing.consul.consistency_mode: expected "stale", "consistent" or "leader", got "${c.consistencyMode}"`,
    );
  }
  return address;
}

const garbage = (what: string) =>
  new SluiceError("PROVIDER_GARBAGE", `consul: ${what}: expected a JSON list`);

/**
 * A reader of `/v1/health/state/<state>` answers (one element per check): their bytes become
 * fingerprints by service name (consul_changes.ts), whose keys are the listed services. It keeps
 * each check's bytes between answers and parses only the checks that changed
 * (json_array_reader.ts). Bytes that are not JSON throw a SyntaxError, JSON that is not a list
 * SluiceError("PROVIDER_GARBAGE").
 */
export function createConsulListReader(): (bytes: Uint8Array) => ReadonlyMap<string, number> {
  const read = createArrayReader(summariseCheck);
  const fingerprints = createFingerprinter();
  return (bytes) => {
    const checks = read(bytes);
    if (checks === undefined) throw garbage("health/state/any");
    return fingerprints(checks);
  };
}

/** Reads instances from a `/v1/health/service/<name>` answer; skips non-empty `Kind`. */
export function consulInstances(name: string, body: unknown): TaggedInstance[] {
  if (!Array.isArray(body)) throw garbage(`health/service/${name}`);
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
    out.push({
      service: name,
      id: `${typeof node?.Node === "string" ? node.Node : ""}/${String(svc.ID ?? "")}`,
      host: bareHost(host),
      port,
      tags: stringList(svc.Tags),
      ...(typeof weights?.Passing === "number" ? { defaultWeight: weights.Passing } : {}),
    });
  }
  return out;
}

function createConsulSource(config: ConsulProviderConfig, address: string): BlockingSource {
  const waitMs = Math.min(config.waitMs, CONSUL_MAX_WAIT_MS);
  const common: [string, string | undefined][] = [];
  if (config.datacenter) common.push(["dc", config.datacenter]);
  // CE rejects any `ns`, even "default" (reference 1.3): only when configured.
  if (config.namespace) common.push(["ns", config.namespace]);
  if (config.consistencyMode === "stale") common.push(["stale", undefined]);
  if (config.consistencyMode === "consistent") common.push(["consistent", undefined]);
  const headers: Record<string, string> = { Accept: "application/json" };
  if (config.token) headers["X-Consul-Token"] = config.token;
  // Node checks (ServiceID empty) come along: a node going critical changes its services.
  const filter = [config.tag, ...(config.legacyTags ?? [])]
    .map((t) => `ServiceTags contains ${filterLiteral(t)}`).join(" or ") + ` or ServiceID == ""`;
  const filtered = (h: Headers) => h.get("x-consul-results-filtered-by-acls") === "true";
  const tracker = createChangeTracker();
  const readList = createConsulListReader();
  const listBody = new BodyBuffer();
  const dq = queryString([["passing", "true"], ...common]);

  async function readService(get: JsonGet, name: string): Promise<TaggedInstance[]> {
    const d = await get(`${address}/v1/health/service/${encodeURIComponent(name)}${dq}`, {
      timeoutMs: READ_TIMEOUT_MS,
      what: `consul: health/service/${name}`,
    });
    const found = consulInstances(name, d.body);
    if (found.length === 0 && filtered(d.headers)) {
      throw new SluiceError(
        "PROVIDER_FORBIDDEN",
        `consul: health/service/${name}: results filtered by ACLs (check node:read)`,
        { key: "acl_filtered_detail" },
      );
    }
    return found;
  }

  /**
   * How long the list may wait: no longer than until the least recently read detail is due
   * again, so that a quiet cluster's next round starts reading it (a round reads again only
   * what is due when it starts).
   */
  function listWaitMs(time: RoundTime, oldest: number | undefined): number {
    if (oldest === undefined) return waitMs;
    const untilDue = oldest + time.refreshEveryMs - time.now;
    return untilDue > 0 ? Math.min(waitMs, Math.ceil(untilDue) + 10) : waitMs;
  }

  /**
   * While the list waits, reads again, one at a time and oldest first, the details last read
   * `refreshEveryMs` ago or more: what the checks table does not show (an instance registered
   * again with a new port and the same checks) is found without a round that reads thousands
   * of details while a change waits. stop() ends it at once; a read still under way then is
   * not used (the round has gone on). A failed read ends it for this round; a bug (anything but
   * a SluiceError) is thrown by stop().
   */
  function refreshWhileWaiting(get: JsonGet, time: RoundTime): { stop(): void } {
    let stopped = false;
    let bug: unknown;
    const due = tracker.readBefore(time.now - time.refreshEveryMs, Infinity);
    void (async () => {
      for (const name of due) {
        if (stopped) return;
        const fingerprint = tracker.fingerprintOf(name);
        if (fingerprint === undefined) continue;
        let found: TaggedInstance[];
        try {
          found = await readService(get, name);
        } catch (err) {
          if (!(err instanceof SluiceError)) bug ??= err;
          return;
        }
        if (stopped) return;
        tracker.read(name, fingerprint, tracker.sameAsRead(name, found), time.now);
      }
    })();
    return {
      stop() {
        stopped = true;
        if (bug !== undefined) throw bug;
      },
    };
  }

  return {
    kind: "consul",
    tag: config.tag,
    ...(config.legacyTags ? { legacyTags: config.legacyTags } : {}),
    indexHeader: "X-Consul-Index",
    headers,
    waitMs,
    secrets: config.token ? [config.token] : [],
    async round(index: bigint, get: JsonGet, full: boolean, time: RoundTime): Promise<ListRound> {
      const q: [string, string | undefined][] = [["filter", filter], ...common];
      // One pass over the reads at the start of a round: most rounds find nothing due.
      const oldest = tracker.oldestRead();
      const due = (age: number) => oldest !== undefined && oldest < time.now - age;
      if (index > 0n) {
        q.push(["index", index.toString()], ["wait", `${listWaitMs(time, oldest)}ms`]);
      }
      const refresh = index > 0n && !full && due(time.refreshEveryMs)
        ? refreshWhileWaiting(get, time)
        : undefined;
      let list;
      try {
        list = await get(`${address}/v1/health/state/any${queryString(q)}`, {
          timeoutMs: listTimeoutMs(index, waitMs),
          what: "consul: health/state/any",
          parse: readList,
          into: listBody,
        });
      } finally {
        refresh?.stop();
      }
      // The listed names are the fingerprints' keys: one pass over a list of thousands.
      const fingerprints = list.body;
      const toRead = tracker.changed(fingerprints, full);
      if (!full && due(2 * time.refreshEveryMs)) {
        // A list that never waits leaves no time to read again in the background: then a few
        // long overdue details a round.
        const changed = new Set(toRead);
        const overdue = tracker.readBefore(
          time.now - 2 * time.refreshEveryMs,
          OVERDUE_PER_ROUND + changed.size,
        );
        for (const name of overdue.filter((n) => !changed.has(n)).slice(0, OVERDUE_PER_ROUND)) {
          toRead.push(name);
        }
      }
      const fresh = await readDetails(
        toRead,
        (n) => n,
        (name) => readService(get, name),
        full ? FULL_READ_PARALLEL : undefined,
      );
      for (const [name, found] of fresh.instances) {
        tracker.read(name, fingerprints.get(name) ?? 0, tracker.sameAsRead(name, found), time.now);
      }
      for (const f of fresh.failures) tracker.forget(f.service);
      return {
        indexText: list.headers.get("x-consul-index") ?? undefined,
        instances: tracker.instancesOf(fingerprints.keys()),
        failures: fresh.failures,
        detailReads: toRead.length,
        ...(filtered(list.headers) && fingerprints.size === 0 ? { aclFilteredEmpty: true } : {}),
      };
    },
  };
}

/** The Consul provider (SPEC section 4). Throws SluiceError("CONFIG") for a bad setting. */
export function createConsulProvider(o: ConsulProviderOptions): Provider {
  const address = validateConfig(o.config);
  return createBlockingProvider({
    name: o.name ?? "consul",
    source: createConsulSource(o.config, address),
    fetch: createProviderFetch(o.rt, o.config.tls, "routing.consul"),
    log: o.log,
    ...(o.config.maxBytes !== undefined ? { maxBytes: o.config.maxBytes } : {}),
    ...(o.random ? { random: o.random } : {}),
    pacing: { ...o.pacing, ...(o.bucket ? { bucket: o.bucket } : {}) },
  });
}
