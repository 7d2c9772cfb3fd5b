// A Nomad native-service-discovery emulator on loopback, following
// shared/reference/consul-nomad-protocol.md (sections 4 and 8): /v1/services (union tags,
// namespace=*) and /v1/service/:name (literal namespace), blocking with X-Nomad-Index, ACL
// tokens per namespace, faults, optional HTTPS with a required client certificate, and a control
// API under /_emu/. Tests use startNomadEmulator(); people can run it by hand:
//
//   deno run -A tests/_support/nomad_emulator.ts --port 4646      (or: bun tests/_support/nomad_emulator.ts --port 4646)
//
//   # register an allocation's service sluice routes (tag "sluice"): local:5556 -> 127.0.0.1:9001
//   curl -X POST localhost:4646/_emu/register -d '{"id":"api-1","name":"api","address":"127.0.0.1","port":9001,"tags":["sluice","sluice.listener=local:5556"]}'
//   curl -X POST localhost:4646/_emu/deregister -d '{"id":"api-1"}'
//   curl localhost:4646/_emu/state
//   curl 'localhost:4646/v1/services?namespace=*'                     # as sluice reads it
//   # then: sluice with routing.nomad.address = "http://127.0.0.1:4646"
//
// Other control routes (POST, JSON body): /_emu/fault (a Fault, see emulator_http.ts),
// /_emu/clear-faults, /_emu/restore {index}, /_emu/leader {known},
// /_emu/acl {enabled?, token?, namespaces?: string[] | "*"}, /_emu/options {shuffle?, jitter?},
// /_emu/drop (cut pending long polls).
import process from "node:process";
import {
  applyFault,
  ChangeFeed,
  cliFlags,
  type Exchange,
  type Fault,
  parseBlocking,
  readJson,
  type RecordedRequest,
  runBlocking,
  sendJson,
  sendText,
  shuffled,
  startEmulatorServer,
} from "./emulator_http.ts";
import { takeFault } from "./emulator_http.ts";

export interface RegisterNomadService {
  /** @default "_nomad-task-<alloc>-<name>" */
  id?: string;
  name: string;
  /** @default "default" */
  namespace?: string;
  address: string;
  port: number;
  /** null is sent as JSON null, as Nomad does for a nil slice. @default [] */
  tags?: string[] | null;
  /** @default "example" */
  jobId?: string;
  /** @default a random UUID */
  allocId?: string;
}

interface Registration {
  id: string;
  name: string;
  namespace: string;
  nodeId: string;
  jobId: string;
  allocId: string;
  tags: string[] | null;
  address: string;
  port: number;
  createIndex: bigint;
  modifyIndex: bigint;
}

export interface NomadEmulatorOptions {
  port?: number;
  host?: string;
  /** Shuffle groups, services, tags and registrations. @default false */
  shuffle?: boolean;
  /** Add up to wait/16 to blocking timeouts, as Nomad does. @default true */
  jitter?: boolean;
  random?: () => number;
  /** HTTPS (PEM text); `requireClientCert` makes it mutual TLS, as `verify_https_client`. */
  tls?: { key: string; cert: string; ca?: string; requireClientCert?: boolean };
  /** The first index. @default 1 */
  startIndex?: bigint;
}

export interface NomadEmulator {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  register(r: RegisterNomadService): string;
  deregister(id: string): void;
  setTags(id: string, tags: string[] | null): void;
  fault(f: Fault): void;
  clearFaults(): void;
  restore(index: bigint): void;
  setLeader(known: boolean): void;
  /** ACLs: a token reads the listed namespaces ("*" = all); an unknown one gets 403 "ACL token not found". */
  acl(o: { enabled?: boolean; tokens?: Record<string, string[] | "*"> }): void;
  setOptions(o: { shuffle?: boolean; jitter?: boolean }): void;
  dropPending(): number;
  pending(): number;
  index(): bigint;
  close(): Promise<void>;
}

export async function startNomadEmulator(o: NomadEmulatorOptions = {}): Promise<NomadEmulator> {
  const random = o.random ?? Math.random;
  let shuffle = o.shuffle ?? false;
  let jitter = o.jitter ?? true;
  const feed = new ChangeFeed();
  const faults: Fault[] = [];
  const regs = new Map<string, Registration>();
  let tableIndex = o.startIndex ?? 1n;
  let leaderKnown = true;
  let leaderLostAt = 0;
  let aclEnabled = false;
  const tokens = new Map<string, string[] | "*">();
  const nodeId = crypto.randomUUID();

  function bump(): bigint {
    tableIndex++;
    feed.notify();
    return tableIndex;
  }

  const order = <T>(a: T[]): T[] => (shuffle ? shuffled(a, random) : a);

  const api: Omit<
    NomadEmulator,
    "url" | "port" | "requests" | "dropPending" | "pending" | "close"
  > = {
    register(r) {
      const allocId = r.allocId ?? crypto.randomUUID();
      const id = r.id ?? `_nomad-task-${allocId}-${r.name}`;
      const old = regs.get(id);
      const idx = bump();
      regs.set(id, {
        id,
        name: r.name,
        namespace: r.namespace ?? "default",
        nodeId,
        jobId: r.jobId ?? "example",
        allocId,
        tags: r.tags === null ? null : [...(r.tags ?? [])],
        address: r.address,
        port: r.port,
        createIndex: old?.createIndex ?? idx,
        modifyIndex: idx,
      });
      return id;
    },
    deregister(id) {
      if (regs.delete(id)) bump();
    },
    setTags(id, tags) {
      const r = regs.get(id);
      if (!r) throw new Error(`no registration "${id}"`);
      r.tags = tags === null ? null : [...tags];
      r.modifyIndex = bump();
    },
    fault(f) {
      faults.push({ ...f });
    },
    clearFaults() {
      faults.length = 0;
    },
    restore(index) {
      tableIndex = index;
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
      for (const [t, n] of Object.entries(a.tokens ?? {})) tokens.set(t, n);
    },
    setOptions(opts) {
      if (opts.shuffle !== undefined) shuffle = opts.shuffle;
      if (opts.jitter !== undefined) jitter = opts.jitter;
    },
    index: () => tableIndex,
  };

  function regJson(r: Registration) {
    return {
      ID: r.id,
      ServiceName: r.name,
      Namespace: r.namespace,
      NodeID: r.nodeId,
      Datacenter: "dc1",
      JobID: r.jobId,
      AllocID: r.allocId,
      Tags: r.tags === null ? null : order([...r.tags]),
      Address: r.address,
      Port: r.port,
      CreateIndex: Number(r.createIndex),
      ModifyIndex: Number(r.modifyIndex),
    };
  }

  async function control(x: Exchange): Promise<void> {
    const { res } = x;
    const route = x.url.pathname.slice("/_emu/".length);
    try {
      if (route === "state" && x.req.method === "GET") {
        return sendJson(res, 200, {
          index: tableIndex.toString(),
          leaderKnown,
          aclEnabled,
          registrations: [...regs.values()].map(regJson),
          faults,
        });
      }
      if (x.req.method !== "POST") return sendText(res, 405, "use POST");
      const b = await readJson(x.req);
      switch (route) {
        case "register":
          return sendJson(res, 200, { id: api.register(b as unknown as RegisterNomadService) });
        case "deregister":
          if (typeof b.id === "string") api.deregister(b.id);
          else if (typeof b.name === "string") {
            for (const r of [...regs.values()]) if (r.name === b.name) api.deregister(r.id);
          } else return sendText(res, 400, 'expected {"id": "..."} or {"name": "..."}');
          return sendJson(res, 200, { ok: true });
        case "tags":
          api.setTags(String(b.id), (b.tags as string[] | null) ?? null);
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
        case "acl":
          api.acl({
            ...(typeof b.enabled === "boolean" ? { enabled: b.enabled } : {}),
            tokens: typeof b.token === "string"
              ? { [b.token]: Array.isArray(b.namespaces) ? b.namespaces as string[] : "*" }
              : {},
          });
          return sendJson(res, 200, { ok: true });
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

  /** The namespaces the caller may read ("*" = all), or the 403 text. */
  function readable(x: Exchange): string[] | "*" | "ACL token not found" {
    const h = x.record.headers;
    let token = h["x-nomad-token"] ?? "";
    if (!token && /^bearer /i.test(h.authorization ?? "")) token = h.authorization!.slice(7).trim();
    if (!aclEnabled) return "*";
    if (token === "") return []; // the anonymous policy reads nothing here
    const p = tokens.get(token);
    if (!p) return "ACL token not found";
    return p;
  }

  async function v1(x: Exchange): Promise<void> {
    const { res, query, record } = x;
    const path = x.url.pathname;
    const f = await applyFault(takeFault(faults, path), x);
    if (f.done || x.closed.aborted) return;
    if (record.method !== "GET") return sendText(res, 405, "Invalid method");

    const blocking = parseBlocking(query);
    if (typeof blocking === "string") return sendText(res, 400, blocking);
    let stale = false;
    if ("stale" in query) {
      if (query.stale === "" || query.stale === "true") stale = true;
      else if (query.stale !== "false") {
        return sendText(res, 400, "Expect `true` or `false` for `stale` query string parameter");
      }
    }
    if (!leaderKnown && !stale) return sendText(res, 500, "No cluster leader");
    const who = readable(x);
    if (who === "ACL token not found") return sendText(res, 403, "ACL token not found");
    const ns = query.namespace === undefined || query.namespace === ""
      ? "default"
      : query.namespace;
    const can = (n: string) => who === "*" || who.includes(n);

    let q: () => { index: bigint; value: unknown };
    let m: RegExpExecArray | null;
    if (path === "/v1/services") {
      // Only the list honours "*": readable namespaces, the others silently skipped.
      if (ns !== "*" && !can(ns)) return sendText(res, 403, "Permission denied");
      q = () => {
        const groups = new Map<string, Map<string, Set<string>>>();
        for (const r of regs.values()) {
          if (ns === "*" ? !can(r.namespace) : r.namespace !== ns) continue;
          let g = groups.get(r.namespace);
          if (!g) groups.set(r.namespace, g = new Map());
          let tags = g.get(r.name);
          if (!tags) g.set(r.name, tags = new Set());
          for (const t of r.tags ?? []) tags.add(t);
        }
        const body = order([...groups.keys()].sort()).map((n) => ({
          Namespace: n,
          Services: order([...groups.get(n)!.keys()].sort()).map((name) => ({
            ServiceName: name,
            Tags: order([...groups.get(n)!.get(name)!]),
          })),
        }));
        return { index: tableIndex < 1n ? 1n : tableIndex, value: body };
      };
    } else if ((m = /^\/v1\/service\/(.*)$/.exec(path))) {
      const name = decodeURIComponent(m[1]!);
      if (name === "" || name.includes("/")) return sendText(res, 400, "missing service name");
      if (ns !== "*" && !can(ns)) return sendText(res, 403, "Permission denied");
      q = () => {
        // A literal (namespace, name) match: "*" matches nothing here.
        const body = [...regs.values()]
          .filter((r) => r.name === name && r.namespace === ns)
          .map(regJson);
        return { index: tableIndex < 1n ? 1n : tableIndex, value: order(body) };
      };
    } else {
      return sendText(res, 404, "Not found");
    }

    const r = await runBlocking({
      params: blocking,
      maxMs: 300_000,
      defaultMs: 300_000,
      jitter,
      random,
      feed,
      closed: x.closed,
      query: q,
    });
    if (x.closed.aborted) return;
    if (!leaderKnown && !stale) return sendText(res, 500, "No cluster leader");
    const headers: Record<string, string> = {
      "X-Nomad-Knownleader": String(leaderKnown),
      "X-Nomad-Lastcontact": leaderKnown ? "0" : String(Date.now() - leaderLostAt),
    };
    if (f.shape === "index_zero") headers["X-Nomad-Index"] = "0";
    else if (f.shape !== "no_index") headers["X-Nomad-Index"] = r.index.toString();
    sendJson(res, 200, r.value, headers);
  }

  const server = await startEmulatorServer({
    ...(o.host ? { host: o.host } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
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

// Run by hand: deno run -A tests/_support/nomad_emulator.ts --port 4646
if (import.meta.main) {
  const flags = cliFlags(process.argv.slice(2));
  const emu = await startNomadEmulator({
    port: Number(flags.port ?? 4646),
    host: flags.host ?? "127.0.0.1",
    shuffle: flags.shuffle === "true",
  });
  process.stderr.write(
    `nomad emulator on ${emu.url}\n` +
      `register:   curl -X POST ${emu.url}/_emu/register -d '{"id":"api-1","name":"api","address":"127.0.0.1","port":9001,"tags":["sluice","sluice.listener=local:5556"]}'\n` +
      `deregister: curl -X POST ${emu.url}/_emu/deregister -d '{"id":"api-1"}'\n` +
      `state:      curl ${emu.url}/_emu/state\n`,
  );
  const stop = async () => {
    await emu.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
