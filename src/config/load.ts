// Loads the main config: file (TOML/YAML/JSON) < DILL_* < SLUICE_* environment < flags, then
// defaults and validation. Every problem is collected and thrown at once as a ConfigError.
import process from "node:process";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, isAbsolute, resolve } from "node:path";
import type { z } from "zod";
import { errorMessage } from "../errors.ts";
import type { LogFormat, LogLevel } from "../log.ts";
import type { HashKey, ServiceSettings } from "../routing/types.ts";
import { healthFromRaw, parseHashKey } from "../routing/service.ts";
import { ConfigError, type ConfigProblem } from "./config_error.ts";
import { parseByteSize } from "./byte_size.ts";
import { hint } from "./did_you_mean.ts";
import { parseDuration } from "./duration.ts";
import { describeIssue, formatPath, show } from "./issues.ts";
import { configSchema, keysAt, type LeafKind, type RawConfig, schemaLeaves } from "./schema.ts";
import { formatFromPath, parseText, TextSyntaxError } from "./text_format.ts";
import type {
  Config,
  ConsulProviderConfig,
  HttpProviderConfig,
  NomadProviderConfig,
  TlsFiles,
} from "./types.ts";
import { isLoopbackHost, parseAdminListener as parseListenAddress } from "../admin/exposure.ts";

export { ConfigError } from "./config_error.ts";
export type { ConfigProblem } from "./config_error.ts";

export interface LoadConfigOptions {
  /** The config file; none = defaults (plus environment and overrides). */
  readonly path?: string;
  /** @default process.env */
  readonly env?: Record<string, string | undefined>;
  /** Command-line values by dotted key path, e.g. {"log.level": "debug"}; strings are coerced. */
  readonly overrides?: Record<string, unknown>;
}

/** Every default of SPEC section 2 and section 3 (D), resolved. */
export const DEFAULT_SETTINGS: ServiceSettings = {
  balance: "round_robin",
  hashKey: { kind: "client_ip" },
  connectTimeoutMs: 5_000,
  connectAttempts: 3,
  idleTimeoutMs: 3_600_000,
  maxConnections: 0,
  proxyProtocol: "",
  health: undefined,
};

export const DEFAULT_CONFIG: Config = {
  listeners: {
    allowed: { local: "127.0.0.1", any: "0.0.0.0" },
    portMin: 1024,
    portMax: 49151,
    drainTimeoutMs: 30_000,
    bindRetryMs: 5_000,
    halfCloseTimeoutMs: 300_000,
  },
  peek: { listener: "" },
  admin: { listener: "127.0.0.1:9090", token: "" },
  log: { level: "info", format: "text", access: true },
  defaults: DEFAULT_SETTINGS,
  runtime: { workers: 1 },
  routing: {},
};

const DEFAULT_WAIT_MS = 5 * 60_000;
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

// Keys of older dill versions (and common slips) that live elsewhere in sluice's schema.
const MOVED_KEYS: Record<string, string> = {
  consul: "routing.consul",
  nomad: "routing.nomad",
  http: "routing.http",
  file: "routing.file",
  gomaxprocs: "runtime.gomaxprocs",
  allowed: "listeners.allowed",
};

type Json = Record<string, unknown>;

function isTable(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function setAt(obj: Json, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (!isTable(cur[p])) cur[p] = {};
    cur = cur[p] as Json;
  }
  cur[parts[parts.length - 1] as string] = value;
}

function envNames(path: string): [string, string] {
  const tail = path.toUpperCase().replace(/\./g, "_");
  return [`SLUICE_${tail}`, `DILL_${tail}`];
}

/** Coerces a string (environment, flag) to the type the key holds; odd input is left as is. */
export function coerce(kind: LeafKind, text: string): unknown {
  const t = text.trim();
  switch (kind) {
    case "number":
      return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : text;
    case "boolean": {
      const l = t.toLowerCase();
      if (["true", "1", "yes", "on"].includes(l)) return true;
      if (["false", "0", "no", "off"].includes(l)) return false;
      return text;
    }
    case "string_or_number":
      return /^\d+(\.\d+)?$/.test(t) ? Number(t) : text;
    case "record": {
      if (t === "") return {};
      if (t.startsWith("{")) {
        try {
          return JSON.parse(t);
        } catch {
          return text;
        }
      }
      const out: Record<string, string> = {};
      for (const pair of t.split(",")) {
        const eq = pair.indexOf("=");
        if (eq <= 0) return text;
        out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
      }
      return out;
    }
    case "string":
      return text;
  }
}

/** runtime.gomaxprocs (dill) is runtime.workers unless the same layer sets both. */
function aliasGomaxprocs(layer: Json): void {
  const rt = layer.runtime;
  if (isTable(rt) && rt.gomaxprocs !== undefined) {
    if (rt.workers === undefined) rt.workers = rt.gomaxprocs;
    delete rt.gomaxprocs;
  }
}

class Collector {
  readonly problems: ConfigProblem[] = [];
  readonly origins = new Map<string, string>();
  constructor(readonly fileLabel: string) {}

  originOf(path: string): string {
    let best: string | undefined;
    let bestLen = -1;
    for (const [p, o] of this.origins) {
      if (
        (path === p || path.startsWith(p + ".") || path.startsWith(p + "[")) && p.length > bestLen
      ) {
        best = o;
        bestLen = p.length;
      }
    }
    return best ?? this.fileLabel;
  }

  add(path: string, what: string): void {
    const where = this.originOf(path);
    this.problems.push({ path, message: `${where}: ${path || "(top level)"}: ${what}` });
  }

  /** Runs `f`, recording a ConfigError it throws (durations, sizes) as problems. */
  try<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (err) {
      if (err instanceof ConfigError) {
        for (const p of err.problems) {
          const what = p.message.startsWith(`${p.path}: `)
            ? p.message.slice(p.path.length + 2)
            : p.message;
          this.add(p.path, what);
        }
        return undefined;
      }
      throw err;
    }
  }
}

function fail(c: Collector, source: string): never {
  const n = c.problems.length;
  const head = `Invalid configuration ${source}: ${n} problem${n === 1 ? "" : "s"}`;
  throw new ConfigError(
    [head, ...c.problems.map((p) => `  - ${p.message}`)].join("\n"),
    c.problems,
  );
}

async function readPem(
  c: Collector,
  base: string | undefined,
  path: string,
  key: string,
): Promise<string | undefined> {
  const full = base && !isAbsolute(path) ? resolve(base, path) : path;
  try {
    const text = await readFile(full, "utf8");
    if (!text.includes("-----BEGIN ")) {
      c.add(key, `"${full}" is not a PEM file (expected "-----BEGIN ...")`);
      return undefined;
    }
    return text;
  } catch (err) {
    c.add(key, `cannot read "${full}": ${errorMessage(err)}`);
    return undefined;
  }
}

type RawTls = {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  insecure?: boolean | undefined;
};

async function resolveTls(
  c: Collector,
  base: string | undefined,
  raw: RawTls | undefined,
  at: string,
): Promise<TlsFiles> {
  const out: { -readonly [K in keyof TlsFiles]: TlsFiles[K] } = {
    insecure: raw?.insecure ?? false,
  };
  if (!raw) return out;
  if ((raw.cert === undefined || raw.cert === "") !== (raw.key === undefined || raw.key === "")) {
    c.add(
      `${at}.${raw.cert ? "key" : "cert"}`,
      "a client certificate needs both tls.cert and tls.key",
    );
  }
  for (const k of ["ca", "cert", "key"] as const) {
    const p = raw[k];
    if (p === undefined || p === "") continue;
    const pem = await readPem(c, base, p, `${at}.${k}`);
    out[`${k}Path`] = base && !isAbsolute(p) ? resolve(base, p) : p;
    if (pem !== undefined) out[k] = pem;
  }
  return out;
}

function httpUrl(c: Collector, text: string, at: string): string {
  // Consul and Nomad addresses are often written without a scheme ("127.0.0.1:8500").
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  try {
    const u = new URL(withScheme);
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      c.add(at, `expected an http:// or https:// URL, got ${show(text)}`);
    }
  } catch {
    c.add(at, `expected a URL such as "http://127.0.0.1:8500", got ${show(text)}`);
  }
  return withScheme.replace(/\/+$/, "");
}

function resolveDefaults(
  c: Collector,
  d: NonNullable<RawConfig["defaults"]> | undefined,
): ServiceSettings {
  if (!d) return DEFAULT_SETTINGS;
  let hashKey: HashKey = DEFAULT_SETTINGS.hashKey;
  if (d.hash_key !== undefined) {
    const k = parseHashKey(d.hash_key);
    if (typeof k === "string") c.add("defaults.hash_key", k);
    else hashKey = k;
  }
  const dur = (v: unknown, path: string, dflt: number) =>
    v === undefined ? dflt : c.try(() => parseDuration(v, path)) ?? dflt;
  const connectTimeoutMs = dur(
    d.connect_timeout,
    "defaults.connect_timeout",
    DEFAULT_SETTINGS.connectTimeoutMs,
  );
  if (connectTimeoutMs <= 0) c.add("defaults.connect_timeout", "expected a duration above 0");
  return {
    balance: d.balance ?? DEFAULT_SETTINGS.balance,
    hashKey,
    connectTimeoutMs,
    connectAttempts: d.connect_attempts ?? DEFAULT_SETTINGS.connectAttempts,
    idleTimeoutMs: dur(d.idle_timeout, "defaults.idle_timeout", DEFAULT_SETTINGS.idleTimeoutMs),
    maxConnections: d.max_connections ?? DEFAULT_SETTINGS.maxConnections,
    proxyProtocol: d.proxy_protocol ?? DEFAULT_SETTINGS.proxyProtocol,
    health: d.health === undefined || d.health === "none"
      ? undefined
      : c.try(() =>
        healthFromRaw(d.health as Exclude<typeof d.health, "none" | undefined>, "defaults.health")
      ),
  };
}

async function resolveConfig(
  c: Collector,
  raw: RawConfig,
  source: string | undefined,
): Promise<Config> {
  const base = source === undefined ? undefined : dirname(resolve(source));
  const dur = (v: unknown, path: string, dflt: number) =>
    v === undefined ? dflt : c.try(() => parseDuration(v, path)) ?? dflt;

  const l = raw.listeners ?? {};
  const allowed = l.allowed ?? DEFAULT_CONFIG.listeners.allowed;
  for (const [label, ip] of Object.entries(allowed)) {
    const at = `listeners.allowed.${label}`;
    if (label === "" || /[:\s]/.test(label)) {
      c.add(at, `label ${show(label)} may not be empty or hold ":" or spaces`);
    }
    if (isIP(ip) === 0) {
      c.add(at, `expected an IPv4 or IPv6 address such as "127.0.0.1" or "::", got ${show(ip)}`);
    }
  }
  const portMin = l.port_min ?? DEFAULT_CONFIG.listeners.portMin;
  const portMax = l.port_max ?? DEFAULT_CONFIG.listeners.portMax;
  if (portMin > portMax) {
    c.add(
      "listeners.port_min",
      `expected port_min (${portMin}) <= port_max (${portMax}); both are inclusive`,
    );
  }
  const bindRetryMs = dur(
    l.bind_retry,
    "listeners.bind_retry",
    DEFAULT_CONFIG.listeners.bindRetryMs,
  );
  if (bindRetryMs <= 0) c.add("listeners.bind_retry", "expected a duration above 0");

  const peekListener = raw.peek?.listener ?? "";
  if (peekListener !== "" && !parseListenAddress(peekListener)) {
    c.add(
      "peek.listener",
      `expected "" (off) or HOST:PORT such as "127.0.0.1:4444", got ${show(peekListener)}`,
    );
  }
  const adminListener = raw.admin?.listener ?? DEFAULT_CONFIG.admin.listener;
  const adminToken = raw.admin?.token ?? "";
  if (adminListener !== "") {
    const a = parseListenAddress(adminListener);
    if (!a) {
      c.add(
        "admin.listener",
        `expected "" (off) or HOST:PORT such as "127.0.0.1:9090", got ${show(adminListener)}`,
      );
    } else if (!isLoopbackHost(a.host) && adminToken === "") {
      c.add(
        "admin.listener",
        `${show(adminListener)} is not a loopback address, so admin.token must be set: ` +
          "the admin API can drain backends and must not be open to the network without a token",
      );
    }
  }

  const routing: { -readonly [K in keyof Config["routing"]]: Config["routing"][K] } = {};
  const r = raw.routing ?? {};
  if (r.file) {
    const p = r.file.path;
    if (!formatFromPath(p)) {
      c.add("routing.file.path", `expected a .toml, .yaml, .yml or .json file, got ${show(p)}`);
    }
    routing.file = {
      path: base && !isAbsolute(p) ? resolve(base, p) : p,
      watch: r.file.watch ?? true,
    };
  }
  if (r.http) {
    const h = r.http;
    const endpoint = h.endpoint;
    try {
      const u = new URL(endpoint);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
    } catch {
      c.add("routing.http.endpoint", `expected an http:// or https:// URL, got ${show(endpoint)}`);
    }
    const http: HttpProviderConfig = {
      endpoint,
      pollIntervalMs: dur(h.poll_interval, "routing.http.poll_interval", 5000),
      pollTimeoutMs: dur(h.poll_timeout, "routing.http.poll_timeout", 5000),
      headers: h.headers ?? {},
      maxBytes: h.max_bytes === undefined
        ? DEFAULT_MAX_BYTES
        : c.try(() => parseByteSize(h.max_bytes, "routing.http.max_bytes")) ?? DEFAULT_MAX_BYTES,
      tls: await resolveTls(c, base, h.tls, "routing.http.tls"),
    };
    if (http.pollIntervalMs <= 0) {
      c.add("routing.http.poll_interval", "expected a duration above 0");
    }
    if (http.pollTimeoutMs <= 0) c.add("routing.http.poll_timeout", "expected a duration above 0");
    routing.http = http;
  }
  if (r.consul) {
    const k = r.consul;
    const consul: ConsulProviderConfig = {
      address: httpUrl(c, k.address, "routing.consul.address"),
      token: k.token ?? "",
      datacenter: k.datacenter ?? "",
      namespace: k.namespace ?? "",
      waitMs: dur(k.wait, "routing.consul.wait", DEFAULT_WAIT_MS),
      consistencyMode: k.consistency_mode === undefined || k.consistency_mode === ""
        ? "stale"
        : k.consistency_mode,
      tag: k.tag ?? "sluice",
      tls: await resolveTls(c, base, k.tls, "routing.consul.tls"),
    };
    routing.consul = consul;
  }
  if (r.nomad) {
    const n = r.nomad;
    const nomad: NomadProviderConfig = {
      address: httpUrl(c, n.address, "routing.nomad.address"),
      token: n.token ?? "",
      namespace: n.namespace ?? "default",
      waitMs: dur(n.wait, "routing.nomad.wait", DEFAULT_WAIT_MS),
      stale: n.stale ?? false,
      tag: n.tag ?? "sluice",
      tls: await resolveTls(c, base, n.tls, "routing.nomad.tls"),
    };
    routing.nomad = nomad;
  }

  const config: Config = {
    ...(source !== undefined ? { source } : {}),
    listeners: {
      allowed: { ...allowed },
      portMin,
      portMax,
      drainTimeoutMs: dur(
        l.drain_timeout,
        "listeners.drain_timeout",
        DEFAULT_CONFIG.listeners.drainTimeoutMs,
      ),
      bindRetryMs,
      halfCloseTimeoutMs: dur(
        l.half_close_timeout,
        "listeners.half_close_timeout",
        DEFAULT_CONFIG.listeners.halfCloseTimeoutMs,
      ),
    },
    peek: { listener: peekListener },
    admin: { listener: adminListener, token: adminToken },
    log: {
      level: (raw.log?.level ?? "info") as LogLevel,
      format: (raw.log?.format ?? "text") as LogFormat,
      access: raw.log?.access ?? true,
    },
    defaults: resolveDefaults(c, raw.defaults),
    runtime: { workers: raw.runtime?.workers ?? raw.runtime?.gomaxprocs ?? 1 },
    routing,
  };
  return config;
}

function issueProblems(c: Collector, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(issue.path);
      for (const key of issue.keys) {
        const path = formatPath([...issue.path, key]);
        const moved = issue.path.length === 0 ? MOVED_KEYS[key] : undefined;
        const tip = moved ? ` (did you mean "${moved}"?)` : hint(key, known);
        c.add(path, `unknown key${tip}; expected one of ${known.map((k) => `"${k}"`).join(", ")}`);
      }
      continue;
    }
    c.add(formatPath(issue.path), describeIssue(issue, expectedFor));
  }
}

const DURATION_KEYS = new Set([
  "drain_timeout",
  "bind_retry",
  "half_close_timeout",
  "connect_timeout",
  "idle_timeout",
  "interval",
  "timeout",
  "poll_interval",
  "poll_timeout",
  "wait",
]);

function expectedFor(path: readonly PropertyKey[]): string | undefined {
  const last = String(path[path.length - 1] ?? "");
  if (DURATION_KEYS.has(last)) {
    return 'a duration such as "250ms", "5s", "1m30s" or a number of seconds';
  }
  if (last === "max_bytes") return 'a size such as 4194304, "512KiB" or "4MiB"';
  if (last === "hash_key") return '"client_ip" or "first_bytes:START-END"';
  if (last === "health") return '"none" or a health table';
  return undefined;
}

/** Loads, overlays, validates and resolves the main configuration; throws ConfigError. */
export async function loadConfig(o: LoadConfigOptions = {}): Promise<Config> {
  const env = o.env ?? process.env;
  const fileLabel = o.path ?? "(no config file)";
  const c = new Collector(o.path ?? "defaults");
  let merged: Json = {};

  if (o.path !== undefined) {
    const format = formatFromPath(o.path);
    if (!format) {
      c.add("", `unknown file extension (expected .toml, .yaml, .yml or .json)`);
      fail(c, o.path);
    }
    let text: string;
    try {
      text = await readFile(o.path, "utf8");
    } catch (err) {
      c.add("", `cannot read the file: ${errorMessage(err)}`);
      fail(c, o.path);
    }
    let data: unknown;
    try {
      data = text.trim() === "" ? {} : parseText(text, format);
    } catch (err) {
      if (err instanceof TextSyntaxError) {
        const problem = { path: "", message: `${o.path}:${err.line}:${err.column}: ${err.reason}` };
        throw new ConfigError(`Invalid configuration ${o.path}: ${problem.message}`, [problem], {
          cause: err,
        });
      }
      throw err;
    }
    if (data === null || data === undefined) data = {};
    if (!isTable(data)) {
      c.add("", `expected a table of settings at the top level, got ${show(data)}`);
      fail(c, o.path);
    }
    merged = structuredClone(data);
    aliasGomaxprocs(merged);
  }

  const leaves = schemaLeaves();
  const envLayer: Json = {};
  for (const [path, kind] of leaves) {
    const [sluice, dill] = envNames(path);
    const fromSluice = env[sluice];
    const name = fromSluice !== undefined ? sluice : dill;
    const text = fromSluice ?? env[dill];
    if (text === undefined) continue;
    // An empty variable means "unset" except for strings, where "" is a value (admin.listener).
    if (text === "" && kind !== "string") continue;
    setAt(envLayer, path, coerce(kind, text));
    c.origins.set(
      path === "runtime.gomaxprocs" ? "runtime.workers" : path,
      `environment variable ${name}`,
    );
  }
  aliasGomaxprocs(envLayer);

  const flagLayer: Json = {};
  for (const [path, value] of Object.entries(o.overrides ?? {})) {
    if (value === undefined) continue;
    const kind = leaves.get(path);
    if (kind === undefined) {
      c.origins.set(path, `flag ${path}`);
      c.add(path, `unknown key${hint(path, [...leaves.keys()])}`);
      continue;
    }
    setAt(flagLayer, path, typeof value === "string" ? coerce(kind, value) : value);
    c.origins.set(path === "runtime.gomaxprocs" ? "runtime.workers" : path, `flag ${path}`);
  }
  aliasGomaxprocs(flagLayer);

  for (const layer of [envLayer, flagLayer]) mergeInto(merged, layer);

  // Report the schema's problems, then prune the offending values and go on, so the semantic
  // checks below also run and every problem is reported at once.
  let data: RawConfig | undefined;
  for (let round = 0; round < 8 && data === undefined; round++) {
    const parsed = configSchema.safeParse(merged, { reportInput: true });
    if (parsed.success) {
      data = parsed.data;
      break;
    }
    if (round === 0) issueProblems(c, parsed.error.issues);
    for (const issue of parsed.error.issues) prune(merged, issue);
  }
  if (data === undefined) fail(c, fileLabel);
  const config = await resolveConfig(c, data, o.path);
  if (c.problems.length) fail(c, fileLabel);
  return config;
}

/** Removes the value an issue is about (or its table, when a required key is missing). */
function prune(root: Json, issue: z.core.$ZodIssue): void {
  const missing = issue.code === "invalid_type" &&
    (issue as { input?: unknown }).input === undefined;
  const path = missing ? issue.path.slice(0, -1) : issue.path;
  if (issue.code === "unrecognized_keys") {
    const table = getAt(root, path);
    if (isTable(table)) { for (const k of issue.keys) delete table[k]; }
    return;
  }
  if (path.length === 0) return;
  const parent = getAt(root, path.slice(0, -1));
  const last = path[path.length - 1] as PropertyKey;
  if (isTable(parent)) delete parent[String(last)];
  else if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1);
}

function getAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const p of path) {
    if (isTable(cur)) cur = cur[String(p)];
    else if (Array.isArray(cur) && typeof p === "number") cur = cur[p];
    else return undefined;
  }
  return cur;
}

/** Deep merge of plain tables; records (listeners.allowed, headers) set by a layer replace whole. */
function mergeInto(target: Json, layer: Json, path = ""): void {
  for (const [k, v] of Object.entries(layer)) {
    const p = path ? `${path}.${k}` : k;
    const isRecordLeaf = schemaLeafKinds().get(p) === "record";
    if (isTable(v) && !isRecordLeaf && isTable(target[k])) mergeInto(target[k] as Json, v, p);
    else target[k] = v;
  }
}

let leafCache: Map<string, LeafKind> | undefined;
function schemaLeafKinds(): Map<string, LeafKind> {
  return (leafCache ??= schemaLeaves());
}
