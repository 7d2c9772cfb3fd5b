// Plumbing shared by the Consul and Nomad emulators: a node:http server (runs unchanged on Deno
// and Bun), Go-duration parsing, blocking waits woken by changes, faults, and a request log.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";

/** One request as the emulator saw it; tests assert on these (counts, params, headers). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Query parameters; a bare flag (`?stale`) has the value "". */
  readonly query: Readonly<Record<string, string>>;
  readonly rawQuery: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Date.now() when it arrived */
  readonly at: number;
}

/** A fault, applied to requests whose path starts with `path` (all of /v1 when absent). */
export type Fault =
  & {
    /** Path prefix, e.g. "/v1/health/service/". @default "/v1/" */
    path?: string;
    /** How many matching requests it affects. @default unlimited */
    times?: number;
  }
  & (
    /** Answer with this status and text body at once. */
    | { kind: "status"; status: number; body?: string }
    /** An intermediary giving up: 504 with an HTML body after `afterMs`. */
    | { kind: "html504"; afterMs?: number }
    /** Delay the answer by `ms` (on top of any blocking). */
    | { kind: "delay"; ms: number }
    /** Reset the connection without answering. */
    | { kind: "reset" }
    /** Answer normally but send the index header as "0". */
    | { kind: "index_zero" }
    /** Answer normally but leave the index header out. */
    | { kind: "no_index" }
    /** Answer 200 with a body that is not JSON. */
    | { kind: "garbage" }
  );

/** Go's time.ParseDuration, in milliseconds; undefined when invalid (a bare "60" is invalid). */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    "µs": 1e-3,
    "μs": 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s.startsWith("-") ? -1 : 1;
    s = s.slice(1);
  }
  if (s === "") return undefined;
  let total = 0;
  let pos = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length) return undefined;
  return sign * total;
}

/** Go's strconv.ParseBool; undefined when invalid. */
export function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/** Wakes waiting blocking queries when the state changes. */
export class ChangeFeed {
  #waiters = new Set<(abandoned: boolean) => void>();
  notify(abandoned = false): void {
    const ws = [...this.#waiters];
    this.#waiters.clear();
    for (const w of ws) w(abandoned);
  }
  /** Resolves "change", "abandoned" (a snapshot restore), "timeout" or "closed". */
  wait(ms: number, closed: AbortSignal): Promise<"change" | "abandoned" | "timeout" | "closed"> {
    return new Promise((resolve) => {
      if (closed.aborted) return resolve("closed");
      const done = (r: "change" | "abandoned" | "timeout" | "closed") => {
        clearTimeout(t);
        this.#waiters.delete(waiter);
        closed.removeEventListener("abort", onClose);
        resolve(r);
      };
      const waiter = (abandoned: boolean) => done(abandoned ? "abandoned" : "change");
      const onClose = () => done("closed");
      const t = setTimeout(() => done("timeout"), Math.max(0, ms));
      this.#waiters.add(waiter);
      closed.addEventListener("abort", onClose, { once: true });
    });
  }
  get waiting(): number {
    return this.#waiters.size;
  }
}

export interface BlockingParams {
  /** 0n = no blocking */
  readonly minIndex: bigint;
  /** From `wait`, undefined when absent */
  readonly waitMs: number | undefined;
}

/** Parses index and wait; a string is the verbatim 400 text. */
export function parseBlocking(query: Readonly<Record<string, string>>): BlockingParams | string {
  let minIndex = 0n;
  if (query.index !== undefined && query.index !== "") {
    if (!/^\d{1,20}$/.test(query.index) || BigInt(query.index) >= 2n ** 64n) {
      return "Invalid index";
    }
    minIndex = BigInt(query.index);
  }
  let waitMs: number | undefined;
  if (query.wait !== undefined && query.wait !== "") {
    waitMs = parseGoDuration(query.wait);
    if (waitMs === undefined) return "Invalid wait time";
  }
  return { minIndex, waitMs };
}

export interface BlockingRun<T> {
  readonly params: BlockingParams;
  /** The server's cap and default (Consul: 10 min and 5 min; Nomad: 5 min and 5 min). */
  readonly maxMs: number;
  readonly defaultMs: number;
  readonly jitter: boolean;
  readonly random: () => number;
  readonly feed: ChangeFeed;
  /** Aborted when the client goes away or the emulator closes. */
  readonly closed: AbortSignal;
  /** Runs the query against the current state. */
  readonly query: () => { index: bigint; value: T };
}

/**
 * The blocking loop of reference 1.9: no index -> at once; otherwise re-run on every change
 * until the result index exceeds the requested one or the timeout (wait capped, plus up to
 * timeout/16 of jitter) ends, then answer with the current data and index.
 */
export async function runBlocking<T>(o: BlockingRun<T>): Promise<{ index: bigint; value: T }> {
  let r = o.query();
  if (o.params.minIndex === 0n) return r;
  let timeout = o.params.waitMs === undefined || o.params.waitMs <= 0
    ? o.defaultMs
    : Math.min(o.params.waitMs, o.maxMs);
  if (o.jitter) timeout += o.random() * (timeout / 16);
  const deadline = Date.now() + timeout;
  for (let i = 0; i < 1_000_000; i++) {
    if (r.index > o.params.minIndex) return r;
    const left = deadline - Date.now();
    if (left <= 0) return r;
    const why = await o.feed.wait(left, o.closed);
    r = o.query();
    if (why === "abandoned" || why === "closed" || why === "timeout") return r;
  }
  return r;
}

/** Fisher-Yates with the given random source. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly query: Readonly<Record<string, string>>;
  readonly closed: AbortSignal;
  readonly record: RecordedRequest;
}

export interface EmulatorServerOptions {
  host?: string;
  port?: number;
  /** PEM; when set the server speaks HTTPS. */
  tls?: { key: string; cert: string; ca?: string; requireClientCert?: boolean };
  handle(x: Exchange): Promise<void> | void;
}

export interface EmulatorServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Cuts every request still waiting (a long poll dropped by a restart or an intermediary). */
  dropPending(): number;
  /** Requests being answered right now (long polls included). */
  pending(): number;
  close(): Promise<void>;
}

/** Starts a node:http(s) server on loopback with a request log and long-poll bookkeeping. */
export async function startEmulatorServer(o: EmulatorServerOptions): Promise<EmulatorServer> {
  const requests: RecordedRequest[] = [];
  const live = new Set<{ req: IncomingMessage; ctl: AbortController }>();
  const sockets = new Set<Socket>();
  const shutdown = new AbortController();

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://emulator");
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : String(v ?? "");
    }
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query,
      rawQuery: url.search.slice(1),
      headers,
      at: Date.now(),
    };
    if (url.pathname.startsWith("/v1/")) requests.push(record);
    const ctl = new AbortController();
    const entry = { req, ctl };
    live.add(entry);
    const onShutdown = () => ctl.abort();
    shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    const finish = () => {
      live.delete(entry);
      shutdown.signal.removeEventListener("abort", onShutdown);
      ctl.abort();
    };
    res.on("close", finish);
    req.on("close", () => {
      if (!res.writableEnded) finish();
    });
    Promise.resolve()
      .then(() => o.handle({ req, res, url, query, closed: ctl.signal, record }))
      .catch((err) => {
        if (!res.headersSent && !res.writableEnded) {
          res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
          res.end(String(err?.message ?? err));
        }
      });
  };

  let server: Server;
  if (o.tls) {
    server = createHttpsServer({
      key: o.tls.key,
      cert: o.tls.cert,
      ...(o.tls.ca ? { ca: o.tls.ca } : {}),
      requestCert: o.tls.requireClientCert ?? false,
      rejectUnauthorized: o.tls.requireClientCert ?? false,
    }, onRequest) as unknown as Server;
  } else {
    server = createServer(onRequest);
  }
  // Long polls last minutes: no server-side request or idle timeout.
  server.requestTimeout = 0;
  server.timeout = 0;
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const host = o.host ?? "127.0.0.1";
  const hostText = host.includes(":") ? `[${host}]` : host;
  return {
    url: `${o.tls ? "https" : "http"}://${hostText}:${port}`,
    port,
    requests,
    dropPending() {
      let n = 0;
      for (const e of [...live]) {
        if (e.req.url?.startsWith("/v1/")) {
          e.req.socket?.destroy();
          e.ctl.abort();
          n++;
        }
      }
      return n;
    },
    pending: () => [...live].filter((e) => e.req.url?.startsWith("/v1/")).length,
    async close() {
      shutdown.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}

/** Reads a JSON request body (control API); {} when empty. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Uint8Array[] = [];
  for await (const c of req) chunks.push(typeof c === "string" ? new TextEncoder().encode(c) : c);
  const text = new TextDecoder().decode(
    chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
  );
  if (text.trim() === "") return {};
  const v = JSON.parse(text);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new Error("expected a JSON object");
  }
  return v as Record<string, unknown>;
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
  res.end(text);
}

/** A JSON answer serialised ahead (a list built from per-item texts kept between answers). */
export class JsonText {
  constructor(readonly text: string) {}
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(value instanceof JsonText ? value.text : JSON.stringify(value));
}

/** The first active fault matching the path; consumes one of its `times`. */
export function takeFault(faults: Fault[], path: string): Fault | undefined {
  for (let i = 0; i < faults.length; i++) {
    const f = faults[i]!;
    if (!path.startsWith(f.path ?? "/v1/")) continue;
    if (f.times !== undefined) {
      f.times--;
      if (f.times <= 0) faults.splice(i, 1);
    }
    return f;
  }
  return undefined;
}

/**
 * Applies the faults that answer before the query runs (status, html504, reset, garbage,
 * delay). Returns true when the exchange is finished; otherwise the fault (if any) that
 * shapes the normal answer (index_zero, no_index).
 */
export async function applyFault(
  f: Fault | undefined,
  x: Exchange,
): Promise<{ done: boolean; shape?: "index_zero" | "no_index" }> {
  if (!f) return { done: false };
  switch (f.kind) {
    case "status":
      sendText(x.res, f.status, f.body ?? "");
      return { done: true };
    case "html504":
      await sleepUnless(f.afterMs ?? 0, x.closed);
      if (x.res.writableEnded || x.res.destroyed) return { done: true };
      x.res.writeHead(504, { "Content-Type": "text/html" });
      x.res.end(
        "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>\n",
      );
      return { done: true };
    case "reset":
      x.req.socket?.destroy();
      return { done: true };
    case "garbage":
      x.res.writeHead(200, { "Content-Type": "application/json" });
      x.res.end("<<this is not json>>");
      return { done: true };
    case "delay":
      await sleepUnless(f.ms, x.closed);
      return { done: false };
    case "index_zero":
    case "no_index":
      return { done: false, shape: f.kind };
  }
}

export function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `--port N --host H` style flags for running an emulator by hand. */
export function cliFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) continue;
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) {
      out[a.slice(2)] = argv[++i]!;
    } else out[a.slice(2)] = "true";
  }
  return out;
}
