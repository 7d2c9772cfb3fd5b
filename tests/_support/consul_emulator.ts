// A Consul HTTP API emulator on loopback, following shared/reference/consul-nomad-protocol.md
// (section 8 checklist): health/state, health/service (?passing), catalog/services,
// catalog/service and status/leader, with blocking queries, ACL tokens, faults and a control
// API under /_emu/. Tests use startConsulEmulator(); people can run it by hand:
//
//   deno run -A tests/_support/consul_emulator.ts --port 8500      (or: bun tests/_support/consul_emulator.ts --port 8500)
//
//   # register a service sluice routes (tag "sluice"): local:5555 -> 127.0.0.1:9000
//   curl -X POST localhost:8500/_emu/register -d '{"id":"web-1","name":"web","address":"127.0.0.1","port":9000,"tags":["sluice","sluice.listener=local:5555"]}'
//   curl -X POST localhost:8500/_emu/check -d '{"id":"web-1","status":"critical"}'   # fail its check
//   curl -X POST localhost:8500/_emu/check -d '{"id":"web-1","status":"passing"}'
//   curl -X POST localhost:8500/_emu/deregister -d '{"id":"web-1"}'
//   curl localhost:8500/_emu/state                                                   # everything
//   curl 'localhost:8500/v1/health/service/web?passing'                              # as sluice reads it
//   # then: sluice with routing.consul.address = "http://127.0.0.1:8500"
//
// Other control routes (POST, JSON body): /_emu/node {name,address,status}, /_emu/fault (a Fault,
// see emulator_http.ts), /_emu/clear-faults, /_emu/restore {index} (snapshot restore: the index
// goes backwards), /_emu/leader {known}, /_emu/acl {enabled?, defaultPolicy?, token?, services?},
// /_emu/options {shuffle?, jitter?}, /_emu/drop (cut pending long polls),
// /_emu/maintenance {id, enable?, reason?} (service maintenance mode).
import process from "node:process";
import {
  applyFault,
  ChangeFeed,
  cliFlags,
  type Exchange,
  type Fault,
  JsonText,
  parseBlocking,
  parseGoBool,
  readJson,
  type RecordedRequest,
  runBlocking,
  sendJson,
  sendText,
  shuffled,
  startEmulatorServer,
  takeFault,
} from "./emulator_http.ts";
import { compileFilter } from "./consul_filter.ts";

export type CheckStatus = "passing" | "warning" | "critical";

export interface RegisterService {
  /** @default name, or name-N when taken */
  id?: string;
  name: string;
  /** @default "node-a" (created with address 127.0.0.1 when unknown) */
  node?: string;
  /** "" (the default) means "use the node's address" */
  address?: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
  weights?: { Passing: number; Warning: number };
  /** "" for a plain service; "connect-proxy" etc. */
  kind?: string;
  /** Status of the service check `service:<id>`; null = no service check. @default "passing" */
  check?: CheckStatus | null;
  /** Enterprise mode only. @default "default" */
  namespace?: string;
}

interface Node {
  name: string;
  address: string;
  id: string;
  createIndex: bigint;
  modifyIndex: bigint;
}

interface Service {
  id: string;
  name: string;
  node: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  weights: { Passing: number; Warning: number };
  kind: string;
  namespace: string;
  createIndex: bigint;
  modifyIndex: bigint;
}

interface Check {
  checkId: string;
  node: string;
  serviceId: string;
  name: string;
  status: CheckStatus;
  output: string;
  createIndex: bigint;
  modifyIndex: bigint;
}

/** ACL token: sees every service, or only the listed ones. */
export type TokenPolicy = "all" | string[];

export interface ConsulEmulatorOptions {
  port?: number;
  host?: string;
  /** Shuffle list orders (catalog tags, instance and check lists) to catch order-dependence. @default false */
  shuffle?: boolean;
  /** Add up to wait/16 to blocking timeouts, as Consul does. @default true */
  jitter?: boolean;
  /** For shuffle and jitter. @default Math.random */
  random?: () => number;
  /** "table": per-table and per-service indexes (spurious wake-ups possible); "global": one counter. @default "table" */
  indexMode?: "table" | "global";
  /** Accept `ns` (Enterprise). @default false: CE, which rejects any `ns` with 400 */
  enterprise?: boolean;
  /** @default "dc1" */
  datacenter?: string;
  /** The first index. @default 10 */
  startIndex?: bigint;
}

export interface ConsulEmulator {
  readonly url: string;
  readonly port: number;
  /** Every /v1 request, in arrival order. */
  readonly requests: RecordedRequest[];
  register(s: RegisterService): string;
  deregister(id: string): void;
  /** Sets a check's status; `id` is a service ID (its `service:<id>` check) or a check ID. */
  setCheck(id: string, status: CheckStatus, output?: string): void;
  /** Adds or updates a node; `status` is its serfHealth. */
  setNode(name: string, o: { address?: string; status?: CheckStatus }): void;
  /** Replaces a service's tags (as a re-registration would). */
  setTags(id: string, tags: string[]): void;
  /**
   * Service maintenance mode, as `PUT /v1/agent/service/maintenance/<id>?enable=` does: enabling
   * adds the critical check `_service_maintenance:<id>` (the instance's other checks are left
   * alone), disabling removes it.
   */
  maintenance(id: string, enable: boolean, reason?: string): void;
  fault(f: Fault): void;
  clearFaults(): void;
  /** A snapshot restore: every index drops to `index`; blocked queries wake and answer. */
  restore(index: bigint): void;
  /** Leader known or lost ("No cluster leader" for non-stale reads). */
  setLeader(known: boolean): void;
  /** Turns ACLs on/off and sets tokens; an unknown token gets 403 "ACL not found". */
  acl(
    o: {
      enabled?: boolean;
      defaultPolicy?: "allow" | "deny";
      tokens?: Record<string, TokenPolicy>;
    },
  ): void;
  setOptions(o: { shuffle?: boolean; jitter?: boolean }): void;
  /** Cuts pending long polls; returns how many. */
  dropPending(): number;
  /** Requests being answered now (blocked long polls included). */
  pending(): number;
  /** The current global index. */
  index(): bigint;
  close(): Promise<void>;
}

const FILTER_SELECTORS_STATE = [
  "CheckID",
  "Name",
  "Node",
  "Notes",
  "Output",
  "ServiceID",
  "ServiceName",
  "Status",
  "ServiceTags",
];
const FILTER_SELECTORS_SERVICE = [
  "Service.Tags",
  "Service.Service",
  "Service.ID",
  "Service.Address",
  "Service.Port",
  "Service.Meta",
  "Service.Kind",
  "Service.Weights",
  "Node.Node",
  "Node.Address",
  "Node.Meta",
  "Node.Datacenter",
  "Checks.Status",
  "Checks.CheckID",
];
const FILTER_SELECTORS_CATALOG = [
  "ServiceTags",
  "ServiceName",
  "ServiceID",
  "ServiceAddress",
  "ServicePort",
  "ServiceMeta",
  "ServiceKind",
  "Node",
  "Address",
  "NodeMeta",
];

export async function startConsulEmulator(o: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
  const random = o.random ?? Math.random;
  let shuffle = o.shuffle ?? false;
  let jitter = o.jitter ?? true;
  const indexMode = o.indexMode ?? "table";
  const datacenter = o.datacenter ?? "dc1";
  const feed = new ChangeFeed();
  const faults: Fault[] = [];

  const nodes = new Map<string, Node>();
  const services = new Map<string, Service>();
  const checks = new Map<string, Check>();
  let globalIndex = o.startIndex ?? 10n;
  let servicesIndex = globalIndex;
  let checksIndex = globalIndex;
  const serviceIndex = new Map<string, bigint>();

  let leaderKnown = true;
  let leaderLostAt = 0;
  let aclEnabled = false;
  let defaultPolicy: "allow" | "deny" = "allow";
  const tokens = new Map<string, TokenPolicy>();

  function bump(o: { services?: boolean; checks?: boolean; names?: Iterable<string> }): bigint {
    globalIndex++;
    if (o.services) servicesIndex = globalIndex;
    if (o.checks) checksIndex = globalIndex;
    for (const n of o.names ?? []) serviceIndex.set(n, globalIndex);
    feed.notify();
    return globalIndex;
  }

  function namesOnNode(node: string): string[] {
    return [...services.values()].filter((s) => s.node === node).map((s) => s.name);
  }

  function ensureNode(name: string, address = "127.0.0.1"): Node {
    let n = nodes.get(name);
    if (!n) {
      const idx = bump({ checks: true });
      n = {
        name,
        address,
        id: crypto.randomUUID(),
        createIndex: idx,
        modifyIndex: idx,
      };
      nodes.set(name, n);
      checks.set(`${name}\u0000serfHealth`, {
        checkId: "serfHealth",
        node: name,
        serviceId: "",
        name: "Serf Health Status",
        status: "passing",
        output: "Agent alive and reachable",
        createIndex: idx,
        modifyIndex: idx,
      });
    }
    return n;
  }

  ensureNode("node-a");

  const api: Omit<
    ConsulEmulator,
    "url" | "port" | "requests" | "dropPending" | "pending" | "close"
  > = {
    register(s) {
      const node = ensureNode(s.node ?? "node-a");
      let id = s.id ?? s.name;
      if (!s.id) {
        for (let i = 2; services.has(id) && services.get(id)!.node !== node.name; i++) {
          id = `${s.name}-${i}`;
        }
      }
      const old = services.get(id);
      const idx = bump({
        services: true,
        checks: true,
        names: [s.name, ...(old ? [old.name] : [])],
      });
      services.set(id, {
        id,
        name: s.name,
        node: node.name,
        address: s.address ?? "",
        port: s.port,
        tags: [...(s.tags ?? [])],
        meta: { ...(s.meta ?? {}) },
        weights: s.weights ?? { Passing: 1, Warning: 1 },
        kind: s.kind ?? "",
        namespace: s.namespace ?? "default",
        createIndex: old?.createIndex ?? idx,
        modifyIndex: idx,
      });
      const checkKey = `${node.name}\u0000service:${id}`;
      if (s.check === null) {
        checks.delete(checkKey);
      } else {
        const prev = checks.get(checkKey);
        checks.set(checkKey, {
          checkId: `service:${id}`,
          node: node.name,
          serviceId: id,
          name: `Service '${s.name}' check`,
          status: s.check ?? prev?.status ?? "passing",
          output: "",
          createIndex: prev?.createIndex ?? idx,
          modifyIndex: idx,
        });
      }
      return id;
    },
    deregister(id) {
      const s = services.get(id);
      if (!s) return;
      services.delete(id);
      for (const [k, c] of checks) if (c.serviceId === id) checks.delete(k);
      bump({ services: true, checks: true, names: [s.name] });
    },
    setCheck(id, status, output = "") {
      let found: Check | undefined;
      for (const c of checks.values()) {
        if (c.serviceId === id && c.checkId === `service:${id}`) found = c;
      }
      if (!found) { for (const c of checks.values()) if (c.checkId === id) found = c; }
      if (!found) throw new Error(`no check for "${id}"`);
      const svc = found.serviceId ? services.get(found.serviceId) : undefined;
      const names = svc ? [svc.name] : namesOnNode(found.node);
      found.status = status;
      found.output = output;
      found.modifyIndex = bump({ checks: true, names });
    },
    setNode(name, n) {
      const node = ensureNode(name, n.address);
      if (n.address) node.address = n.address;
      const serf = checks.get(`${name}\u0000serfHealth`);
      if (serf && n.status) serf.status = n.status;
      node.modifyIndex = bump({ services: true, checks: true, names: namesOnNode(name) });
      if (serf) serf.modifyIndex = node.modifyIndex;
    },
    setTags(id, tags) {
      const s = services.get(id);
      if (!s) throw new Error(`no service "${id}"`);
      s.tags = [...tags];
      s.modifyIndex = bump({ services: true, checks: true, names: [s.name] });
    },
    maintenance(id, enable, reason = "") {
      const s = services.get(id);
      if (!s) throw new Error(`no service "${id}"`);
      const key = `${s.node}\u0000_service_maintenance:${id}`;
      if (!enable) {
        if (checks.delete(key)) bump({ checks: true, names: [s.name] });
        return;
      }
      if (checks.has(key)) return;
      const idx = bump({ checks: true, names: [s.name] });
      checks.set(key, {
        checkId: `_service_maintenance:${id}`,
        node: s.node,
        serviceId: id,
        name: "Service Maintenance Mode",
        status: "critical",
        output: reason || "Maintenance mode is enabled for this service, but no reason was " +
            "provided. This is a default message.",
        createIndex: idx,
        modifyIndex: idx,
      });
    },
    fault(f) {
      faults.push({ ...f });
    },
    clearFaults() {
      faults.length = 0;
    },
    restore(index) {
      globalIndex = index;
      servicesIndex = index < servicesIndex ? index : servicesIndex;
      checksIndex = index < checksIndex ? index : checksIndex;
      for (const [k, v] of serviceIndex) if (v > index) serviceIndex.set(k, index);
      feed.notify(true);
    },
    setLeader(known) {
      if (known === leaderKnown) return;
      leaderKnown = known;
      leaderLostAt = Date.now();
      feed.notify();
    },
    acl(a) {
      if (a.enabled !== undefined) aclEnabled = a.enabled;
      if (a.defaultPolicy) defaultPolicy = a.defaultPolicy;
      for (const [t, p] of Object.entries(a.tokens ?? {})) tokens.set(t, p);
    },
    setOptions(opts) {
      if (opts.shuffle !== undefined) shuffle = opts.shuffle;
      if (opts.jitter !== undefined) jitter = opts.jitter;
    },
    index: () => globalIndex,
  };

  // ---- reads -------------------------------------------------------------------------------

  function idx(kind: "services" | "checks" | { service: string }): bigint {
    let v: bigint;
    if (indexMode === "global") v = globalIndex;
    else if (kind === "services") v = servicesIndex;
    else if (kind === "checks") v = checksIndex;
    else v = serviceIndex.get(kind.service) ?? servicesIndex;
    return v < 1n ? 1n : v; // Consul never answers 0
  }

  function order<T>(items: T[]): T[] {
    return shuffle ? shuffled(items, random) : items;
  }

  /**
   * A check's JSON and its text, kept while nothing it shows changes: a list of 5,000 checks is
   * then a join of kept texts, so the emulator answers a churn benchmark's rounds in a few ms
   * (its Go original spends little more) instead of rebuilding 1.6 MB every round.
   */
  interface CachedCheck {
    readonly svc: Service | undefined;
    readonly tags: readonly string[] | undefined;
    readonly modifyIndex: bigint;
    readonly status: string;
    readonly output: string;
    readonly json: CheckJson;
    readonly text: string;
    /** The last filter this check was tested against, and the result. */
    filter?: string | undefined;
    pass?: boolean;
  }
  const checkCache = new WeakMap<Check, CachedCheck>();
  function cachedCheck(c: Check): CachedCheck {
    const svc = c.serviceId ? services.get(c.serviceId) : undefined;
    const hit = checkCache.get(c);
    if (
      hit && !shuffle && hit.svc === svc && hit.tags === svc?.tags &&
      hit.modifyIndex === c.modifyIndex && hit.status === c.status && hit.output === c.output
    ) return hit;
    const json = checkJson(c);
    const entry: CachedCheck = {
      svc,
      tags: svc?.tags,
      modifyIndex: c.modifyIndex,
      status: c.status,
      output: c.output,
      json,
      text: JSON.stringify(json),
    };
    checkCache.set(c, entry);
    return entry;
  }

  type CheckJson = ReturnType<typeof checkJson>;
  function checkJson(c: Check) {
    const svc = c.serviceId ? services.get(c.serviceId) : undefined;
    return {
      Node: c.node,
      CheckID: c.checkId,
      Name: c.name,
      Status: c.status,
      Notes: "",
      Output: c.output,
      ServiceID: c.serviceId,
      ServiceName: svc?.name ?? "",
      ServiceTags: order([...(svc?.tags ?? [])]),
      Type: c.serviceId ? "tcp" : "",
      Interval: c.serviceId ? "10s" : "",
      Timeout: c.serviceId ? "2s" : "",
      ExposedPort: 0,
      Definition: {},
      CreateIndex: Number(c.createIndex),
      ModifyIndex: Number(c.modifyIndex),
    };
  }

  function nodeJson(n: Node) {
    return {
      ID: n.id,
      Node: n.name,
      Address: n.address,
      Datacenter: datacenter,
      TaggedAddresses: { lan: n.address, lan_ipv4: n.address, wan: n.address, wan_ipv4: n.address },
      Meta: { "consul-network-segment": "" },
      CreateIndex: Number(n.createIndex),
      ModifyIndex: Number(n.modifyIndex),
    };
  }

  function serviceJson(s: Service) {
    const addr = s.address || nodes.get(s.node)?.address || "";
    return {
      ...(s.kind ? { Kind: s.kind } : {}),
      ID: s.id,
      Service: s.name,
      Tags: [...s.tags],
      Address: s.address,
      TaggedAddresses: {
        lan: { address: addr, port: s.port },
        wan: { address: addr, port: s.port },
      },
      Meta: Object.keys(s.meta).length ? { ...s.meta } : null,
      Port: s.port,
      Weights: { ...s.weights },
      EnableTagOverride: false,
      ...(o.enterprise ? { Namespace: s.namespace } : {}),
      CreateIndex: Number(s.createIndex),
      ModifyIndex: Number(s.modifyIndex),
    };
  }

  function checksOf(s: Service): Check[] {
    return [...checks.values()].filter((c) =>
      c.node === s.node && (c.serviceId === "" || c.serviceId === s.id)
    );
  }

  interface Caller {
    /** undefined = everything visible */
    visible: Set<string> | undefined;
    /** A non-empty token was sent (the filtered header is only sent then). */
    hadToken: boolean;
  }

  // ---- HTTP --------------------------------------------------------------------------------

  async function control(x: Exchange): Promise<void> {
    const { res } = x;
    const route = x.url.pathname.slice("/_emu/".length);
    try {
      if (route === "state" && x.req.method === "GET") {
        return sendJson(res, 200, {
          index: globalIndex.toString(),
          leaderKnown,
          aclEnabled,
          nodes: [...nodes.values()].map(nodeJson),
          services: [...services.values()].map((s) => ({
            ...serviceJson(s),
            Node: s.node,
            Checks: checksOf(s).map(checkJson),
          })),
          faults,
        });
      }
      if (x.req.method !== "POST") return sendText(res, 405, "use POST");
      const b = await readJson(x.req);
      switch (route) {
        case "register":
          return sendJson(res, 200, { id: api.register(b as unknown as RegisterService) });
        case "deregister": {
          const id = typeof b.id === "string" ? b.id : undefined;
          if (id) api.deregister(id);
          else if (typeof b.name === "string") {
            for (const s of [...services.values()]) if (s.name === b.name) api.deregister(s.id);
          } else return sendText(res, 400, 'expected {"id": "..."} or {"name": "..."}');
          return sendJson(res, 200, { ok: true });
        }
        case "check":
          api.setCheck(String(b.id), b.status as CheckStatus, String(b.output ?? ""));
          return sendJson(res, 200, { ok: true });
        case "node":
          api.setNode(String(b.name), b as { address?: string; status?: CheckStatus });
          return sendJson(res, 200, { ok: true });
        case "tags":
          api.setTags(String(b.id), (b.tags as string[]) ?? []);
          return sendJson(res, 200, { ok: true });
        case "maintenance":
          api.maintenance(String(b.id), b.enable !== false, String(b.reason ?? ""));
          return sendJson(res, 200, { ok: true });
        case "fault":
          api.fault(b as unknown as Fault);
          return sendJson(res, 200, { ok: true });
        case "clear-faults":
          api.clearFaults();
          return sendJson(res, 200, { ok: true });
        case "restore":
          api.restore(BigInt(String(b.index ?? 1)));
          return sendJson(res, 200, { ok: true });
        case "leader":
          api.setLeader(b.known !== false);
          return sendJson(res, 200, { ok: true });
        case "acl": {
          const tokensIn: Record<string, TokenPolicy> = {};
          if (typeof b.token === "string") {
            tokensIn[b.token] = Array.isArray(b.services) ? b.services as string[] : "all";
          }
          api.acl({
            ...(typeof b.enabled === "boolean" ? { enabled: b.enabled } : {}),
            ...(b.defaultPolicy === "deny" || b.defaultPolicy === "allow"
              ? { defaultPolicy: b.defaultPolicy }
              : {}),
            tokens: tokensIn,
          });
          return sendJson(res, 200, { ok: true });
        }
        case "options":
          api.setOptions(b as { shuffle?: boolean; jitter?: boolean });
          return sendJson(res, 200, { ok: true });
        case "drop":
          return sendJson(res, 200, { dropped: server.dropPending() });
      }
      return sendText(res, 404, `unknown control route /_emu/${route}`);
    } catch (err) {
      return sendText(res, 400, String((err as Error)?.message ?? err));
    }
  }

  function caller(x: Exchange): Caller | "ACL not found" {
    const h = x.record.headers;
    let token = x.query.token ?? h["x-consul-token"] ?? "";
    if (!token && h.authorization?.startsWith("Bearer ")) token = h.authorization.slice(7).trim();
    if (!aclEnabled) return { visible: undefined, hadToken: token !== "" };
    if (token === "") {
      return { visible: defaultPolicy === "allow" ? undefined : new Set(), hadToken: false };
    }
    const p = tokens.get(token);
    if (!p) return "ACL not found";
    return { visible: p === "all" ? undefined : new Set(p), hadToken: true };
  }

  async function v1(x: Exchange): Promise<void> {
    const { res, query, record } = x;
    const path = x.url.pathname;
    const fault = takeFault(faults, path);
    const f = await applyFault(fault, x);
    if (f.done || x.closed.aborted) return;
    if (record.method !== "GET") {
      res.writeHead(405, { Allow: "GET", "Content-Type": "text/plain; charset=utf-8" });
      res.end("method not allowed");
      return;
    }

    // Request validation, in Consul's order (parseWait, parseConsistency, parseDC, ns).
    const blocking = parseBlocking(query);
    if (typeof blocking === "string") return sendText(res, 400, blocking);
    const stale = "stale" in query;
    const consistent = "consistent" in query;
    if (stale && consistent) {
      return sendText(res, 400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
    }
    const ns = query.ns ?? record.headers["x-consul-namespace"] ?? "";
    if (ns !== "" && !o.enterprise) {
      return sendText(
        res,
        400,
        'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature',
      );
    }
    const namespace = ns || "default";
    if (query.dc !== undefined && query.dc !== "" && query.dc !== datacenter) {
      return sendText(res, 500, "No path to datacenter");
    }
    if (!leaderKnown && !stale) return sendText(res, 500, "No cluster leader");
    const who = caller(x);
    if (who === "ACL not found") return sendText(res, 403, "ACL not found");

    let filter: ((v: unknown) => boolean) | undefined;
    const compile = (sel: string[]) => {
      if (query.filter === undefined || query.filter === "") return true;
      try {
        filter = compileFilter(query.filter, sel);
        return true;
      } catch (err) {
        sendText(
          res,
          500,
          `Failed to create boolean expression evaluator: ${(err as Error).message}`,
        );
        return false;
      }
    };
    const canSee = (name: string) => who.visible === undefined || who.visible.has(name);
    const inNs = (s: Service) => !o.enterprise || s.namespace === namespace;

    let m: RegExpExecArray | null;
    let q: () => { index: bigint; value: { body: unknown; filtered: boolean } };
    if ((m = /^\/v1\/health\/state\/([^/]*)$/.exec(path))) {
      const state = decodeURIComponent(m[1]!);
      if (state === "") return sendText(res, 400, "Missing check state");
      if (!compile(FILTER_SELECTORS_STATE)) return;
      q = () => {
        let filtered = false;
        const out = [];
        for (const c of checks.values()) {
          if (state !== "any" && c.status !== state) continue;
          const svc = c.serviceId ? services.get(c.serviceId) : undefined;
          if (svc && !inNs(svc)) continue;
          const visible = svc ? canSee(svc.name) : who.visible === undefined;
          if (!visible) {
            filtered = true;
            continue;
          }
          const cc = cachedCheck(c);
          if (filter) {
            if (cc.filter !== query.filter) {
              cc.filter = query.filter;
              cc.pass = filter(cc.json);
            }
            if (!cc.pass) continue;
          }
          out.push(cc.text);
        }
        const body = new JsonText(`[${order(out).join(",")}]`);
        return { index: idx("checks"), value: { body, filtered } };
      };
    } else if ((m = /^\/v1\/health\/service\/(.*)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      if (name === "") return sendText(res, 400, "Missing service name");
      let passing = false;
      if ("passing" in query) {
        const v = query.passing === "" ? true : parseGoBool(query.passing!);
        if (v === undefined) return sendText(res, 400, "Invalid value for ?passing");
        passing = v;
      }
      if (!compile(FILTER_SELECTORS_SERVICE)) return;
      q = () => {
        let filtered = false;
        const out = [];
        for (const s of services.values()) {
          if (s.name !== name || !inNs(s)) continue;
          if (!canSee(s.name)) {
            filtered = true;
            continue;
          }
          const cs = checksOf(s);
          // filterNonPassing: any check not exactly "passing" drops the instance.
          if (passing && cs.some((c) => c.status !== "passing")) continue;
          const node = nodes.get(s.node)!;
          const j = {
            Node: nodeJson(node),
            Service: serviceJson(s),
            Checks: order(cs.map(checkJson)),
          };
          if (filter && !filter(j)) continue;
          out.push(j);
        }
        return { index: idx({ service: name }), value: { body: order(out), filtered } };
      };
    } else if (path === "/v1/catalog/services") {
      if (!compile(FILTER_SELECTORS_CATALOG)) return;
      q = () => {
        let filtered = false;
        const out: Record<string, string[]> = {};
        for (const s of order([...services.values()])) {
          if (!inNs(s)) continue;
          if (!canSee(s.name)) {
            filtered = true;
            continue;
          }
          if (filter && !filter(catalogJson(s))) continue;
          const tags = new Set(out[s.name] ?? []);
          for (const t of s.tags) tags.add(t);
          out[s.name] = order([...tags]);
        }
        return { index: idx("services"), value: { body: out, filtered } };
      };
    } else if ((m = /^\/v1\/catalog\/service\/(.*)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      if (name === "") return sendText(res, 400, "Missing service name");
      if (!compile(FILTER_SELECTORS_CATALOG)) return;
      q = () => {
        let filtered = false;
        const out = [];
        for (const s of services.values()) {
          if (s.name !== name || !inNs(s)) continue;
          if (!canSee(s.name)) {
            filtered = true;
            continue;
          }
          const j = catalogJson(s);
          if (filter && !filter(j)) continue;
          out.push(j);
        }
        return { index: idx({ service: name }), value: { body: order(out), filtered } };
      };
    } else if (path === "/v1/status/leader") {
      return sendJson(res, 200, leaderKnown ? "127.0.0.1:8300" : "");
    } else {
      return sendText(res, 404, "Invalid URL path: not a recognized HTTP API endpoint");
    }

    const r = await runBlocking({
      params: blocking,
      maxMs: 600_000,
      defaultMs: 300_000,
      jitter,
      random,
      feed,
      closed: x.closed,
      query: q,
    });
    if (x.closed.aborted) return;
    // Faults may have been injected while this query was blocked.
    if (!leaderKnown && !stale) return sendText(res, 500, "No cluster leader");
    const headers: Record<string, string> = {
      "X-Consul-Default-Acl-Policy": defaultPolicy,
      "X-Consul-Effective-Consistency": stale ? "stale" : consistent ? "consistent" : "leader",
      "X-Consul-Knownleader": String(leaderKnown),
      "X-Consul-Lastcontact": leaderKnown ? "0" : String(Date.now() - leaderLostAt),
    };
    if (f.shape === "index_zero") headers["X-Consul-Index"] = "0";
    else if (f.shape !== "no_index") headers["X-Consul-Index"] = r.index.toString();
    if (r.value.filtered && who.hadToken) headers["X-Consul-Results-Filtered-By-Acls"] = "true";
    sendJson(res, 200, r.value.body, headers);
  }

  function catalogJson(s: Service) {
    const n = nodes.get(s.node)!;
    return {
      ID: n.id,
      Node: n.name,
      Address: n.address,
      Datacenter: datacenter,
      TaggedAddresses: { lan: n.address, wan: n.address },
      NodeMeta: { "consul-network-segment": "" },
      ServiceKind: s.kind,
      ServiceID: s.id,
      ServiceName: s.name,
      ServiceTags: [...s.tags],
      ServiceAddress: s.address,
      ServiceWeights: { ...s.weights },
      ServiceMeta: { ...s.meta },
      ServicePort: s.port,
      ServiceEnableTagOverride: false,
      ServiceProxy: {},
      ServiceConnect: {},
      CreateIndex: Number(s.createIndex),
      ModifyIndex: Number(s.modifyIndex),
    };
  }

  const server = await startEmulatorServer({
    ...(o.host ? { host: o.host } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    handle(x) {
      if (x.url.pathname.startsWith("/_emu/")) return control(x);
      if (x.url.pathname.startsWith("/v1/")) return v1(x);
      return sendText(x.res, 404, "Not found");
    },
  });

  return {
    ...api,
    url: server.url,
    port: server.port,
    requests: server.requests,
    dropPending: () => server.dropPending(),
    pending: () => server.pending(),
    async close() {
      feed.notify();
      await server.close();
    },
  };
}

// Run by hand: deno run -A tests/_support/consul_emulator.ts --port 8500
if (import.meta.main) {
  const flags = cliFlags(process.argv.slice(2));
  const emu = await startConsulEmulator({
    port: Number(flags.port ?? 8500),
    host: flags.host ?? "127.0.0.1",
    shuffle: flags.shuffle === "true",
  });
  process.stderr.write(
    `consul emulator on ${emu.url}\n` +
      `register:   curl -X POST ${emu.url}/_emu/register -d '{"id":"web-1","name":"web","address":"127.0.0.1","port":9000,"tags":["sluice","sluice.listener=local:5555"]}'\n` +
      `fail check: curl -X POST ${emu.url}/_emu/check -d '{"id":"web-1","status":"critical"}'\n` +
      `deregister: curl -X POST ${emu.url}/_emu/deregister -d '{"id":"web-1"}'\n` +
      `state:      curl ${emu.url}/_emu/state\n`,
  );
  const stop = async () => {
    await emu.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
